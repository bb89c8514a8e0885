// Package wire builds a training or evaluation run from toolbrain.toml:
// the model and its tokenizer and chat template, the tool packs, the
// athlete (a CodeAct agent in the WebAssembly sandbox, or a tool-calling
// agent), the in-process rollout executor, the rewards, judges and
// algorithm (through core/scoring), and the trainer and coach.
//
// Everything that can be wrong with a run's inputs — the config, a task
// file, a tool pack, a plugin, the checkpoint — fails in Open, before any
// training, with an error naming the file, line or key.
package wire

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/scoring"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/core/train/loss"
	"github.com/toolbrain/toolbrain/core/train/optim"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/runtime/mcp"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/runtime/sandbox"
	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/sdk"
)

// Options override parts of the configuration.
type Options struct {
	// Model and Adapter replace [core] model and adapter when set.
	Model, Adapter string
	// Tasks and EvalTasks replace [train] tasks and eval_tasks when set.
	Tasks     []string
	EvalTasks string
	// Interpreter is the CodeAct interpreter module (nil: the embedded one).
	Interpreter []byte

	// For a program that builds its run in Go (the main job), rather than
	// from files: TaskList and EvalTaskList replace the task files, Tools
	// and ToolSpecs are in-process tools added to the packs' (Open checks
	// each call's arguments against ToolSpecs before Tools sees it), and
	// Rewards replace [[rewards]].
	TaskList, EvalTaskList []sdk.Task
	Tools                  sdk.Tool
	ToolSpecs              []sdk.ToolSpec
	Rewards                []coach.Reward
}

// Env is a model with its athlete, tools and scoring, ready to roll out.
type Env struct {
	Config     config.Config
	Checkpoint *checkpoint.Checkpoint
	Model      *model.Model
	Agent      *agent.Agent
	Executor   *coach.Local
	// Sandbox is the CodeAct athlete's sandbox, with the run's tools (nil
	// for a tool-calling athlete): a scripted teacher acts through it.
	Sandbox *sandbox.Sandbox
	// Tool runs the run's tools (packs, [[mcp]] servers, in-process
	// tools), each call routed to its source and its arguments checked
	// there: what a tool-calling athlete calls, and what a CodeAct
	// athlete's sandbox calls before any [retrieval] selection. Nil when
	// the run has no tools.
	Tool    sdk.Tool
	Scoring *scoring.Host
	Scorer  *coach.Scorer
	// Algorithm is the [algorithm] (nil for method sft).
	Algorithm sdk.Algorithm
	// Tasks and EvalTasks are read from the task files.
	Tasks, EvalTasks []sdk.Task
	// Adapter is the adapter of [core] adapter (or Options.Adapter), to
	// continue training; nil for a fresh one.
	Adapter *lora.Adapter
	// Warnings are what the run goes on without: the granted tools of an
	// [[mcp]] server that cannot be used (an invalid input schema), each
	// naming the server and the tool.
	Warnings []error

	closers []func()
}

// Close releases the sandbox, the plugins, the tools and the model.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// Open builds the run that cfg describes. needTasks requires training
// tasks ([train] tasks or Options.Tasks).
func Open(ctx context.Context, cfg config.Config, o Options, needTasks bool) (env *Env, err error) {
	e := &Env{Config: cfg}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	t := cfg.Train
	if err := checkMethod(cfg); err != nil {
		return nil, err
	}
	// Task files first: they are the cheapest to get wrong.
	files := t.Tasks
	if len(o.Tasks) > 0 {
		files = o.Tasks
	}
	e.Tasks, e.EvalTasks = o.TaskList, o.EvalTaskList
	if needTasks && len(files) == 0 && len(e.Tasks) == 0 {
		return nil, errors.New("train.tasks: no task file (set [train] tasks or pass --tasks)")
	}
	for _, f := range files {
		ts, err := coach.ReadTasks(f)
		if err != nil {
			return nil, err
		}
		e.Tasks = append(e.Tasks, ts...)
	}
	evalFile := t.EvalTasks
	if o.EvalTasks != "" {
		evalFile = o.EvalTasks
	}
	if evalFile != "" {
		if e.EvalTasks, err = coach.ReadTasks(evalFile); err != nil {
			return nil, err
		}
	}

	// Scoring: plugins load now, so a missing or broken one stops the run
	// before the model loads.
	if e.Scoring, err = scoring.NewHost(ctx, cfg); err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { e.Scoring.Close(context.Background()) })
	rs := o.Rewards
	if rs == nil {
		if rs, err = e.Scoring.Rewards(ctx); err != nil {
			return nil, err
		}
	}
	if len(rs) == 0 {
		return nil, scoring.ErrNoRewards
	}
	e.Scorer = &coach.Scorer{Components: rs, Fallback: t.FallbackScore, JudgeTimeout: cfg.Judge.CallTimeout}
	if t.Method != coach.MethodSFT {
		if e.Algorithm, err = e.Scoring.Algorithm(ctx); err != nil {
			return nil, err
		}
	}

	specs, tools, err := e.openPacks(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if specs, err = e.openMCP(ctx, cfg, specs, tools); err != nil {
		return nil, err
	}
	if len(o.ToolSpecs) > 0 && o.Tools == nil {
		return nil, errors.New("in-process tools: Options.ToolSpecs without Options.Tools to run them")
	}
	if len(o.ToolSpecs) > 0 {
		// In-process tools are checked here, as a pack's and an MCP
		// server's tools check their own calls: once, for both athletes.
		set, err := schema.NewSet(o.ToolSpecs)
		if err != nil {
			return nil, fmt.Errorf("in-process tools (Options.ToolSpecs): %w", err)
		}
		checked := schema.Checked(o.Tools, set)
		for _, spec := range o.ToolSpecs {
			if _, dup := tools.byName[spec.Name]; dup {
				return nil, fmt.Errorf("tool %q is both in a pack and given in-process", spec.Name)
			}
			tools.byName[spec.Name] = checked
			specs = append(specs, spec)
		}
	}
	e.Tool = toolsOrNil(specs, tools)

	name := firstNonEmpty(o.Model, cfg.Core.Model)
	if name == "" {
		return nil, errors.New("core.model: no model (set [core] model or pass --model)")
	}
	if e.Checkpoint, err = checkpoint.Open(name, hub.ResolveOptions{CacheDir: cfg.Hub.CacheDir}); err != nil {
		return nil, err
	}
	tok, err := e.Checkpoint.Tokenizer()
	if err != nil {
		return nil, err
	}
	tmpl, err := e.Checkpoint.ChatTemplate()
	if err != nil {
		return nil, fmt.Errorf("%s: an athlete needs the checkpoint's chat template: %w", name, err)
	}
	b, err := backend.New(cfg.Core.Backend)
	if err != nil {
		return nil, err
	}
	if e.Model, err = e.Checkpoint.LoadModel(b, model.LoadOptions{Quant: cfg.Core.Quant}, firstNonEmpty(o.Adapter, cfg.Core.Adapter)); err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { e.Model.Close() })
	e.Adapter = e.Model.Adapter()

	ac := agent.Config{
		Model: e.Model, Tokenizer: tok, Template: tmpl,
		Sampling: generate.Options{MaxNewTokens: t.MaxNewTokens, Temperature: t.Temperature, TopP: t.TopP, TopK: t.TopK,
			StopTokenIDs: e.Checkpoint.StopTokenIDs(tok)},
		MaxTurns: t.MaxTurns, MaxLen: t.MaxLen, System: t.System,
	}
	if mp := e.Model.Config().MaxPositionEmbeddings; mp > 0 && ac.MaxLen > mp {
		ac.MaxLen = mp
	}
	var sel *taskTools // [retrieval]: each task's own tools
	if cfg.Retrieval.Enabled {
		if sel, err = e.toolRetrieval(ctx, b, tok, specs); err != nil {
			return nil, err
		}
		ac.SelectTools = sel.Select
	}
	kind := agent.Kind(t.Athlete)
	if kind == agent.CodeAct {
		sb := cfg.Sandbox
		s, err := sandbox.New(ctx, sandbox.Options{
			Interpreter: o.Interpreter, CacheDir: cfg.Plugins.CacheDirOrDefault(), ToolSpecs: specs, Tools: sel.Only(e.Tool),
			Timeout: sb.Timeout, MaxSteps: sb.MaxSteps, MemoryPages: sb.MemoryPages, MaxOutputBytes: sb.MaxOutputBytes, MaxToolCalls: sb.MaxToolCalls,
		})
		if err != nil {
			if errors.Is(err, sandbox.ErrNoInterpreter) {
				return nil, fmt.Errorf("%w (run `bash plugins/build.sh`, then rebuild toolbrain)", err)
			}
			return nil, err
		}
		e.closers = append(e.closers, func() { s.Close(context.Background()) })
		ac.Sandbox, e.Sandbox = s, s // the agent reads its tool list from the sandbox
	} else {
		if len(specs) == 0 && !allDeclare(e.Tasks, e.EvalTasks) {
			return nil, errors.New("train.packs: a tool_calling athlete needs at least one tool pack or [[mcp]] server (or tasks that declare their tools)")
		}
		// The routed set even when empty (every task declares its tools,
		// as BFCL's do: their calls are checked by the reward, never run).
		ac.Tools, ac.Tool = specs, tools
	}
	if e.Agent, err = agent.New(kind, ac); err != nil {
		return nil, err
	}
	e.Executor = &coach.Local{Agent: e.Agent, Model: e.Model, MaxBatch: t.RolloutBatch}
	return e, nil
}

// checkMethod checks that [train] method and [algorithm] agree.
func checkMethod(cfg config.Config) error {
	dpoAlg := cfg.Algorithm.Plugin == "" && cfg.Algorithm.Name == "dpo"
	switch cfg.Train.Method {
	case coach.MethodDPO:
		if cfg.Algorithm.Plugin == "" && !dpoAlg {
			return fmt.Errorf("train.method: dpo pairs each group's best and worst trace: set [algorithm] name = \"dpo\" (it is %q)", cfg.Algorithm.Name)
		}
	case coach.MethodGRPO:
		if dpoAlg {
			return errors.New("algorithm.name: \"dpo\" gives preference pairs, which method grpo cannot train on: set [train] method = \"dpo\", or an advantage algorithm (grpo, dr_grpo, rloo, reinforce_pp_baseline)")
		}
	}
	return nil
}

// openPacks opens every tool pack of [train] packs and returns their tools
// as one set. Two packs with a tool of the same name are an error.
func (e *Env) openPacks(ctx context.Context, cfg config.Config) ([]sdk.ToolSpec, *toolSet, error) {
	set := &toolSet{byName: map[string]sdk.Tool{}}
	var specs []sdk.ToolSpec
	if len(cfg.Train.Packs) == 0 {
		return nil, set, nil
	}
	openers := pack.Openers{
		pack.ModuleWASM:     pack.WASM(e.Scoring.WASM),
		pack.ModuleGoPlugin: pack.GoPlugin(goplugin.Config{LLM: e.Scoring.LLM()}),
	}
	for i, path := range cfg.Train.Packs {
		p, err := pack.Load(path)
		if err != nil {
			return nil, nil, fmt.Errorf("train.packs[%d]: %w", i, err)
		}
		tools, err := pack.Open(ctx, p, openers, contract.PluginConfig{Limits: cfg.Plugins.Limits, Config: cfg.Train.PackConfig[p.Manifest.Name]})
		if err != nil {
			return nil, nil, fmt.Errorf("train.packs[%d] %s: %w", i, path, err)
		}
		e.closers = append(e.closers, func() { tools.Close(context.Background()) })
		for _, s := range tools.Specs() {
			if _, dup := set.byName[s.Name]; dup {
				return nil, nil, fmt.Errorf("train.packs[%d] %s: tool %q is also in another pack", i, path, s.Name)
			}
			set.byName[s.Name] = tools
			specs = append(specs, s)
		}
	}
	return specs, set, nil
}

// openMCP starts every [[mcp]] server and adds its granted tools to specs
// and set, as a pack's; the servers stop with the Env.
func (e *Env) openMCP(ctx context.Context, cfg config.Config, specs []sdk.ToolSpec, set *toolSet) ([]sdk.ToolSpec, error) {
	for i, c := range cfg.MCP {
		s, err := mcp.Start(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("mcp[%d]: %w", i, err)
		}
		e.closers = append(e.closers, func() { s.Close() })
		e.Warnings = append(e.Warnings, s.Problems()...)
		for _, spec := range s.Specs() {
			if _, dup := set.byName[spec.Name]; dup {
				return nil, fmt.Errorf("mcp[%d] %s: tool %q is also a pack's", i, c.Name, spec.Name)
			}
			set.byName[spec.Name] = s
			specs = append(specs, spec)
		}
	}
	return specs, nil
}

// toolSet routes a call to the pack that has the tool.
type toolSet struct{ byName map[string]sdk.Tool }

func (s *toolSet) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	t, ok := s.byName[req.Name]
	if !ok {
		names := make([]string, 0, len(s.byName))
		for n := range s.byName {
			names = append(names, n)
		}
		sort.Strings(names)
		return sdk.ToolCallResponse{Content: fmt.Sprintf("Error: no tool %q (tools: %s)", req.Name, strings.Join(names, ", ")), IsError: true}, nil
	}
	return t.CallTool(ctx, req)
}

// allDeclare says whether every task of the lists declares its own tools
// (coach.MetaTools), so that a tool-calling athlete needs no pack.
func allDeclare(lists ...[]sdk.Task) bool {
	n := 0
	for _, l := range lists {
		for _, t := range l {
			if _, ok := t.Metadata[coach.MetaTools]; !ok {
				return false
			}
			n++
		}
	}
	return n > 0
}

func toolsOrNil(specs []sdk.ToolSpec, t *toolSet) sdk.Tool {
	if len(specs) == 0 {
		return nil
	}
	return t
}

// Steps is the number of steps of a run: [train] steps, or as many as
// [train] epochs passes over n tasks take.
func Steps(t config.Train, n int) int {
	if t.Steps > 0 {
		return t.Steps
	}
	return max(1, int(math.Ceil(t.Epochs*float64(n)/float64(t.TasksPerStep))))
}

// NewCoach builds the trainer ([train] method, optimizer, LoRA) and the
// coach over e's athlete, scoring and training tasks, for a run of steps.
func (e *Env) NewCoach(steps int) (*coach.Coach, *train.Trainer, error) {
	t := e.Config.Train
	tc := train.Config{
		Mode:        train.ModeLoRA,
		LoRA:        lora.Config{R: t.LoRAR, Alpha: t.LoRAAlpha, TargetModules: t.LoRATargets},
		Seed:        t.Seed,
		Loss:        t.Method,
		GRPO:        loss.GRPOOptions{EpsLow: t.ClipEpsilon, Beta: t.KLCoef},
		DPO:         loss.DPOOptions{Beta: t.DPOBeta},
		Optimizer:   optim.AdamW{LR: t.LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: t.WeightDecay},
		Schedule:    optim.Schedule{Kind: t.Schedule, WarmupSteps: t.WarmupSteps, TotalSteps: steps},
		MaxGradNorm: t.MaxGradNorm,
		MicroBatch:  t.MicroBatch,
	}
	if e.Adapter != nil {
		// [core] adapter: continue training it; the trainer applies it.
		if err := e.Model.SetAdapter(nil); err != nil {
			return nil, nil, err
		}
		tc.Adapter = e.Adapter
	}
	tr, err := train.NewTrainer(e.Model, tc)
	if err != nil {
		return nil, nil, err
	}
	c, err := coach.New(coach.Config{
		Method: t.Method, GroupSize: t.GroupSize, TasksPerStep: t.TasksPerStep, Seed: t.Seed,
		SFTMinReward: t.SFTMinReward, DPOMargin: t.DPOMargin, SuccessThreshold: t.SuccessThreshold,
	}, coach.Parts{Trainer: tr, Executor: e.Executor, Scorer: e.Scorer, Algorithm: e.Algorithm, Tasks: e.Tasks})
	if err != nil {
		return nil, nil, err
	}
	return c, tr, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
