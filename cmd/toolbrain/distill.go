package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/coach/wire"
	"github.com/toolbrain/toolbrain/core/distill"
	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/core/train/loss"
	"github.com/toolbrain/toolbrain/core/train/sft"
	"github.com/toolbrain/toolbrain/internal/atomicfile"
	"github.com/toolbrain/toolbrain/plugins/packs/calculator/tasks"
	"github.com/toolbrain/toolbrain/plugins/packs/email"
	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
	"github.com/toolbrain/toolbrain/plugins/packs/email/expert"
	"github.com/toolbrain/toolbrain/sdk"
)

const distillSynopsis = "--model STUDENT --out RUN (--teacher email|calculator | --teacher-model DIR | --teacher-endpoint URL --teacher-model-name NAME) [--tasks FILE | --email-data DIR] [--min-reward R] [--kd forward_kl|reverse_kl|jsd [--on-policy]]"

// Files a distillation run leaves beside the trained model or adapter.
const (
	distillDemos  = "demos.jsonl"   // the kept conversations, for `toolbrain sft`
	distillTraces = "teacher.jsonl" // every teacher episode
)

// distillResult is what `toolbrain distill` prints.
type distillResult struct {
	Teacher string        `json:"teacher"`
	Filter  distill.Stats `json:"filter"`
	// MinReward is the threshold a demonstration had to reach.
	MinReward float64 `json:"min_reward"`
	// ExactIDs is true when the student trained on the teacher's own ids
	// (a local checkpoint on the same tokenizer), false when the student's
	// chat template rendered the teacher's text.
	ExactIDs bool               `json:"exact_ids"`
	Demos    string             `json:"demos,omitempty"`
	Traces   string             `json:"traces"`
	SFT      *sft.Summary       `json:"sft,omitempty"`
	KD       *distill.KDSummary `json:"kd,omitempty"`
	Output   string             `json:"output"`
}

func distillCmd(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "distill", distillSynopsis)
	cfgPath := fs.String("config", "", "toolbrain.toml: [[rewards]] (they score the teacher), [train] athlete, packs, system and rollout settings (default: ./toolbrain.toml, else the embedded default)")
	student := fs.String("model", "", "the student: checkpoint directory or Hugging Face id (default: [core] model)")
	out := fs.String("out", "", "run directory: teacher.jsonl, demos.jsonl, checkpoints, and the trained adapter (or model)")
	taskFile := fs.String("tasks", "", "training tasks, JSONL (default: [train] tasks; --email-data gives its own)")
	scripted := fs.String("teacher", "", "a scripted expert as the teacher: email (the email-search expert) or calculator")
	emailData := fs.String("email-data", "", "a `toolbrain data email` directory: its training questions are the tasks, its inboxes the email tools' (needed by --teacher email)")
	teacherModel := fs.String("teacher-model", "", "a local checkpoint as the teacher, rolled out by the coach's executor (it must share the student's tokenizer: its exact ids are trained on)")
	endpoint := fs.String("teacher-endpoint", "", "an OpenAI-compatible API root as the teacher (http://host:port/v1); its text is rendered by the student's chat template")
	endpointModel := fs.String("teacher-model-name", "", "the \"model\" of the endpoint's requests")
	keyEnv := fs.String("teacher-api-key-env", "", "environment variable holding the endpoint's API key")
	episodes := fs.Int("episodes", 1, "teacher episodes per task (model teachers; sampled at [train] temperature unless --greedy)")
	greedy := fs.Bool("greedy", false, "decode the teacher model greedily")
	minReward := fs.Float64("min-reward", math.NaN(), "reward a demonstration needs to be kept (default: [train] sft_min_reward)")
	kd := fs.String("kd", "", "logit-level distillation instead of SFT: forward_kl, reverse_kl or jsd (needs --teacher-model on the student's tokenizer)")
	kdBeta := fs.Float64("kd-beta", 0.5, "the jsd's β, in (0, 1)")
	kdTemp := fs.Float64("kd-temperature", 1, "softmax temperature of both models' logits")
	onPolicy := fs.Bool("on-policy", false, "with --kd: train on the student's own samples scored by the teacher's logits (GKD), not on the teacher's episodes")
	interp := fs.String("interpreter", "", "CodeAct interpreter module (default: the embedded Starlark one)")
	var tf trainFlags
	tf.register(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	kinds := 0
	for _, s := range []string{*scripted, *teacherModel, *endpoint} {
		if s != "" {
			kinds++
		}
	}
	switch {
	case *out == "":
		return fmt.Errorf("%w: --out is required", errUsage)
	case kinds != 1:
		return fmt.Errorf("%w: give one teacher: --teacher, --teacher-model or --teacher-endpoint", errUsage)
	case *endpoint != "" && *endpointModel == "":
		return fmt.Errorf("%w: --teacher-endpoint needs --teacher-model-name", errUsage)
	case *kd != "" && *teacherModel == "":
		return fmt.Errorf("%w: --kd needs the teacher's logits: a --teacher-model on the student's tokenizer", errUsage)
	case *onPolicy && *kd == "":
		return fmt.Errorf("%w: --on-policy is a mode of --kd", errUsage)
	case *onPolicy && tf.full:
		return fmt.Errorf("%w: --on-policy samples from the adapter being trained; it cannot go with --full", errUsage)
	case tf.qlora:
		return fmt.Errorf("%w: --qlora: set [core] quant = \"nf4\" in the configuration instead", errUsage)
	}
	if err := tf.check(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*out, train.CheckpointsDir)); err == nil {
		return fmt.Errorf("%s already holds a run: choose another --out (continue its SFT with `toolbrain sft --data %s --resume`)", *out, filepath.Join(*out, distillDemos))
	}
	cfg, cfgName, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	cfg.Train.Method = coach.MethodSFT // no [algorithm] is needed
	if math.IsNaN(*minReward) {
		*minReward = cfg.Train.SFTMinReward
	}
	opts := wire.Options{Model: *student}
	if *taskFile != "" {
		opts.Tasks = []string{*taskFile}
	}
	if *interp != "" {
		if opts.Interpreter, err = os.ReadFile(*interp); err != nil {
			return fmt.Errorf("--interpreter: %w", err)
		}
	}
	if *scripted == "email" && *emailData == "" {
		return fmt.Errorf("%w: --teacher email needs --email-data DIR (written by `toolbrain data email`)", errUsage)
	}
	if *emailData != "" {
		closeStore, err := emailOptions(ctx, *emailData, &opts)
		if err != nil {
			return err
		}
		defer closeStore()
	}
	env, err := wire.Open(ctx, cfg, opts, true)
	if err != nil {
		return fmt.Errorf("%s: %w", cfgName, err)
	}
	defer env.Close()
	warn(o, "distill", env.Warnings)
	if env.Adapter != nil {
		return fmt.Errorf("%w: the student is trained from its base: unset [core] adapter", errUsage)
	}

	res := distillResult{MinReward: *minReward}
	var teacher distill.Teacher
	var tenv *wire.Env
	switch {
	case *scripted != "":
		res.Teacher = "scripted " + *scripted
		solve, err := scriptedSolver(*scripted)
		if err != nil {
			return err
		}
		if env.Sandbox == nil {
			return fmt.Errorf("%w: a scripted teacher writes CodeAct code: set [train] athlete = \"codeact\"", errUsage)
		}
		teacher = &distill.CodeAct{Sandbox: env.Sandbox, System: env.Agent.System(), Solve: solve}
	case *endpoint != "":
		res.Teacher = "endpoint " + *endpoint + " model " + *endpointModel
		if env.Sandbox == nil {
			return fmt.Errorf("%w: an endpoint teacher acts as a CodeAct athlete: set [train] athlete = \"codeact\"", errUsage)
		}
		e, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: *endpoint, Model: *endpointModel, APIKey: os.Getenv(*keyEnv)})
		if err != nil {
			return fmt.Errorf("--teacher-endpoint: %w", err)
		}
		t := cfg.Train
		teacher = &distill.CodeAct{Sandbox: env.Sandbox, System: env.Agent.System(), Workers: 4,
			Solve: distill.EndpointSolver(e, max(t.MaxTurns, 1), t.MaxNewTokens, t.Temperature)}
	default:
		res.Teacher = "checkpoint " + *teacherModel
		topts := opts
		topts.Model, topts.Adapter = *teacherModel, ""
		if tenv, err = wire.Open(ctx, cfg, topts, true); err != nil {
			return fmt.Errorf("--teacher-model: %w", err)
		}
		defer tenv.Close()
		if err := sameTokenizer(tenv, env); err != nil {
			return err
		}
		teacher = &distill.Rollout{Executor: tenv.Executor, Episodes: *episodes, Greedy: *greedy, Seed: uint64(cfg.Train.Seed)}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var examples []train.Example
	total := tf.total(len(env.Tasks))
	if !*onPolicy { // on-policy KD trains on the student's samples only
		if examples, err = teach(ctx, o, teacher, env, tenv != nil, *out, &res); err != nil {
			return err
		}
		total = tf.total(len(examples))
	}
	lossName := train.LossSFT
	if *kd != "" {
		lossName = train.LossKD
	}
	tc := tf.config(lossName, total)
	tc.KD = loss.KDOptions{Divergence: *kd, Temperature: *kdTemp}
	if *kd == loss.KDJSD {
		tc.KD.Beta = *kdBeta
	}
	tr, err := train.NewTrainer(env.Model, tc)
	if err != nil {
		return err
	}
	if *kd == "" {
		s, err := sft.Run(ctx, tr, examples, sft.Options{Dir: *out, Batch: tf.batch, Steps: total, Seed: tf.seed, SaveEvery: tf.saveEvery, Progress: o.stderr})
		if err != nil {
			return err
		}
		res.SFT = &s
	} else {
		ko := distill.KDOptions{Batch: tf.batch, Steps: total, Seed: tf.seed, Progress: o.stderr}
		if *onPolicy {
			ko.OnPolicy = &distill.OnPolicy{Executor: env.Executor, Tasks: env.Tasks, Seed: uint64(cfg.Train.Seed)}
		}
		s, err := distill.RunKD(ctx, tr, tenv.Model, examples, ko)
		if err != nil {
			return err
		}
		res.KD = &s
	}
	if res.Output, err = saveTrained(*out, tf.full, env.Checkpoint, tr); err != nil {
		return err
	}
	return writeJSON(o.stdout, res)
}

// teach has the teacher demonstrate env's tasks, scores the episodes with
// env's [[rewards]], writes them all (teacher.jsonl) and the kept
// conversations (demos.jsonl), and returns the kept episodes as training
// rows: the teacher's own ids when exact, else the conversations rendered
// by the student's chat template as `toolbrain sft` renders them.
func teach(ctx context.Context, o *cmdIO, teacher distill.Teacher, env *wire.Env, exact bool, out string, res *distillResult) ([]train.Example, error) {
	fmt.Fprintf(o.stderr, "distill: %s demonstrates %d tasks\n", res.Teacher, len(env.Tasks))
	demos, err := teacher.Demonstrate(ctx, env.Tasks)
	if err != nil {
		return nil, err
	}
	fallbacks, err := distill.Score(ctx, env.Scorer, demos)
	if err != nil {
		return nil, err
	}
	kept, st := distill.Keep(demos, res.MinReward)
	st.RewardFallbacks = fallbacks
	res.Filter = st
	res.Traces = filepath.Join(out, distillTraces)
	if err := writeTraces(res.Traces, demos); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.stderr, "distill: %d of %d episodes reach reward %g (%d of %d tasks; mean reward %.3f, %d failed)\n",
		st.Kept, st.Demos, res.MinReward, st.KeptTasks, st.Tasks, st.MeanReward, st.Failed)
	if len(kept) == 0 {
		return nil, fmt.Errorf("%w: none of %d episodes reached reward %g (see %s)", distill.ErrNoDemos, st.Demos, res.MinReward, res.Traces)
	}
	if exact {
		res.ExactIDs = true
		return distill.ExactExamples(kept)
	}
	res.Demos = filepath.Join(out, distillDemos)
	if err := distill.WriteMessages(res.Demos, kept); err != nil {
		return nil, err
	}
	tok, err := env.Checkpoint.Tokenizer()
	if err != nil {
		return nil, err
	}
	read, err := sft.Reader(env.Checkpoint, tok, res.Demos)
	if err != nil {
		return nil, err
	}
	return read(res.Demos)
}

// emailOptions sets the tasks and the in-process email tools of a `data
// email` directory; the returned function closes the inbox store.
func emailOptions(ctx context.Context, dir string, opts *wire.Options) (func(), error) {
	c, err := corpus.Read(dir)
	if err != nil {
		return nil, fmt.Errorf("--email-data: %w", err)
	}
	var msgs []corpus.Message
	for _, in := range c.Inboxes {
		msgs = append(msgs, in.Messages...)
	}
	store, err := email.NewStore(ctx, msgs)
	if err != nil {
		return nil, err
	}
	opts.Tasks = nil
	for _, t := range c.Train {
		opts.TaskList = append(opts.TaskList, t.SDK())
	}
	opts.Tools, opts.ToolSpecs = email.NewTools(store), email.Specs()
	return func() { store.Close() }, nil
}

// scriptedSolver is the scripted expert of a pack.
func scriptedSolver(name string) (distill.Solver, error) {
	switch name {
	case "email":
		return func(ctx context.Context, run distill.Runner, system string, task sdk.Task) ([]chattemplate.Message, error) {
			conv, err := expert.Solve(ctx, run, system, task.Prompt)
			var msgs []chattemplate.Message
			for _, m := range conv.Messages[min(2, len(conv.Messages)):] { // after system and question
				msgs = append(msgs, chattemplate.Message{Role: m.Role, Content: m.Content})
			}
			return msgs, err
		}, nil
	case "calculator":
		return func(ctx context.Context, run distill.Runner, _ string, task sdk.Task) ([]chattemplate.Message, error) {
			reply, err := tasks.ExpertReply(task)
			if err != nil {
				return nil, err
			}
			msgs := []chattemplate.Message{{Role: "assistant", Content: reply}}
			code, _ := agent.ExtractCode(reply)
			obs, final, err := run.Run(ctx, code)
			if err == nil && final == nil {
				msgs = append(msgs, chattemplate.Message{Role: "user", Content: obs})
				err = errors.New("the expert's code gave no final answer")
			}
			return msgs, err
		}, nil
	}
	return nil, fmt.Errorf("%w: --teacher %q: the scripted experts are email and calculator", errUsage, name)
}

// sameTokenizer refuses a teacher model whose ids mean something else to
// the student.
func sameTokenizer(teacher, student *wire.Env) error {
	tt, err := teacher.Checkpoint.Tokenizer()
	if err != nil {
		return err
	}
	st, err := student.Checkpoint.Tokenizer()
	if err != nil {
		return err
	}
	if err := distill.SameTokenizer(tt, st); err != nil {
		return fmt.Errorf("--teacher-model %s and the student %s: %w", teacher.Checkpoint.Dir, student.Checkpoint.Dir, err)
	}
	return nil
}

// writeTraces writes every teacher episode as JSONL traces (`toolbrain
// trace show` shows them, `toolbrain score` scores them again).
func writeTraces(path string, demos []distill.Demo) error {
	traces := make([]sdk.Trace, len(demos))
	for i, d := range demos {
		traces[i] = d.Trace
	}
	var b bytes.Buffer
	if err := agent.WriteJSONL(&b, traces...); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b.Bytes(), 0o644)
}
