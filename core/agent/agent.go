// Package agent runs the athletes: agents that act through tools while a
// model generates, recording every episode as an sdk.Trace with the exact
// token ids the model saw and generated.
//
// Two kinds share one loop:
//   - CodeAct: the model writes a thought and a ```python block; the code
//     runs in a runtime/sandbox episode (variables persist across turns);
//     what it printed, or its error with the line, is the observation;
//     final_answer(x) ends the episode.
//   - Tool calling: the model writes tool calls in its chat template's
//     format (Hermes/Qwen <tool_call> blocks, Llama 3 JSON); they are
//     parsed and run (the tool checks the arguments against its JSON
//     Schema, as it does for CodeAct code), and the results go back as
//     tool messages. A reply without a call is the final answer.
//
// # Tokens, exactly
//
// The chat template renders the first prompt once. After that the model's
// context only grows: its own generated ids are never decoded and
// re-encoded, and each observation is appended as the template-rendered
// delta (see [Agent.Delta]). The trace records, per turn, the prompt ids
// (first turn only), the generated ids with their logprobs, and the
// observation ids; sdk.Trace.Sequence flattens them into the ids the model
// saw, in order, with a loss mask that is 1 exactly on generated ids.
//
// # Groups
//
// RunGroup runs its episodes in lockstep through one generate.Session: each
// turn, every unfinished episode generates in one batch, then their tools or
// code run concurrently, and finished episodes leave the batch.
package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/runtime/sandbox"
	"github.com/toolbrain/toolbrain/sdk"
)

// Errors of the package; test with errors.Is.
var (
	// ErrBadConfig means a Config field is missing or out of range.
	ErrBadConfig = errors.New("agent: invalid config")
	// ErrToolCallSyntax means a completion holds a tool call that does not
	// parse; the message is what the model reads as the observation.
	ErrToolCallSyntax = errors.New("agent: malformed tool call")
)

// Kind is the kind of athlete.
type Kind string

// Kinds of athletes.
const (
	CodeAct     Kind = "codeact"
	ToolCalling Kind = "tool_calling"
)

// Defaults of the zero Config fields.
const (
	DefaultMaxTurns        = 6
	DefaultMaxLen          = 4096
	DefaultMaxNewTokens    = 512
	DefaultMaxObservation  = 8 << 10
	defaultStreamsPerGroup = 1 << 32 // Streams of episode i of group g: g<<32 | i
)

// Config configures an Agent. Model, Tokenizer and Template are required;
// a CodeAct agent needs Sandbox, a tool-calling one Tool.
type Config struct {
	Model     generate.Model
	Tokenizer *tokenizer.Tokenizer
	Template  *chattemplate.Template

	// Sampling is the generation of one turn. MaxNewTokens 0 means
	// DefaultMaxNewTokens; StopTokenIDs nil means the tokenizer's EOS and
	// the end-of-turn tokens it has (<|im_end|>, <|eot_id|>, <|eom_id|>,
	// <|endoftext|>); Streams is set by RunGroup (episode i uses stream
	// i, so an episode run alone with the same seed reproduces row i).
	Sampling generate.Options
	// MaxTurns caps the generations of an episode (default 6).
	MaxTurns int
	// MaxLen caps an episode's tokens, prompt and all turns (default 4096).
	MaxLen int
	// System is the system prompt; "" means the kind's default (for
	// CodeAct it lists the tools as Python functions).
	System string
	// TemplateExtra are more chat-template variables (e.g.
	// "enable_thinking": false for Qwen3).
	TemplateExtra map[string]any

	// Tools describe a tool-calling agent's tools to the model (in the
	// template's tools, and in the default system prompt where the
	// template cannot show them). A CodeAct agent reads its tools from
	// Sandbox (sandbox.Sandbox.ToolSpecs) instead: leave Tools empty, or
	// give the sandbox's very list. The agent does not check a call's
	// arguments: Tool does (a pack's and an MCP server's tools do it;
	// wrap in-process tools with runtime/schema.Checked), so that each
	// call is checked once, the same for both kinds of athlete.
	Tools []sdk.ToolSpec
	// SelectTools, when set, chooses each task's tools (a subset of Tools,
	// such as the top k that core/retrieval ranks for its prompt): the
	// task's episodes see only those, in the template's tools and in the
	// default system prompt, and a tool-calling episode's call to any
	// other tool is refused as a tool error. (A CodeAct sandbox binds all
	// of its tools, so there the sandbox's tools must refuse the others,
	// as core/coach/wire's do.) It runs once per
	// distinct task (ID and prompt) of a RunGroup; an error stops the
	// group. nil: every episode sees all of Tools.
	SelectTools func(ctx context.Context, task Task) ([]sdk.ToolSpec, error)
	// Tool runs tool calls (tool calling).
	Tool sdk.Tool
	// Format is the tool-call format; "" detects it from the template.
	Format ToolFormat
	// Sandbox runs the code (CodeAct); its tools (sandbox.Options.ToolSpecs)
	// are the ones the agent's default system prompt lists.
	Sandbox *sandbox.Sandbox
	// MaxObservationBytes cuts longer observations, keeping their start and
	// saying how much was cut (default 8 KiB).
	MaxObservationBytes int
}

// Task is one problem for an episode.
type Task struct {
	ID     string
	Prompt string
	// Metadata reaches the episode's tools with every call
	// (sdk.ToolCallRequest.Task), set by the agent, not the model: it
	// binds shared tools to this task's world, such as the inbox
	// ("inbox") the email pack searches.
	Metadata map[string]string
	// Declared are tools the task declares for itself, as a BFCL case
	// does: a tool-calling episode shows these in place of Config.Tools
	// (in the chat template's tools and the default system prompt). Their
	// calls are parsed and recorded in the trace, never run or checked
	// against a schema, and the episode ends after the model's first
	// reply: the calls are the answer, for a reward to check.
	Declared []sdk.ToolSpec
}

// sdkTask is the task as tools see it.
func (t Task) sdkTask() *sdk.Task {
	return &sdk.Task{ID: t.ID, Prompt: t.Prompt, Metadata: t.Metadata}
}

// Agent runs episodes of one kind. It is safe for concurrent use (each
// RunGroup has its own session).
type Agent struct {
	kind   Kind
	cfg    Config
	format ToolFormat
	tools  []any // template tool specifications
	stops  map[int32]bool
	// ownSystem: Config.System was given, not the kind's default.
	ownSystem bool
}

// toolView is the tools one task's episodes see (Config.SelectTools).
type toolView struct {
	system  string
	tools   []any // template tool specifications
	allowed map[string]bool
	names   []string
}

// New checks cfg and returns an agent of kind.
func New(kind Kind, cfg Config) (*Agent, error) {
	bad := func(format string, args ...any) (*Agent, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
	}
	switch {
	case cfg.Model == nil:
		return bad("no model")
	case cfg.Tokenizer == nil:
		return bad("no tokenizer")
	case cfg.Template == nil:
		return bad("no chat template")
	case kind == CodeAct && cfg.Sandbox == nil:
		return bad("a CodeAct agent needs a sandbox")
	case kind == ToolCalling && cfg.Tool == nil:
		return bad("a tool-calling agent needs a tool")
	case kind != CodeAct && kind != ToolCalling:
		return bad("unknown kind %q", kind)
	case cfg.MaxTurns < 0 || cfg.MaxLen < 0 || cfg.MaxObservationBytes < 0:
		return bad("negative limit")
	}
	if cfg.MaxTurns == 0 {
		cfg.MaxTurns = DefaultMaxTurns
	}
	if cfg.MaxLen == 0 {
		cfg.MaxLen = DefaultMaxLen
	}
	if cfg.MaxObservationBytes == 0 {
		cfg.MaxObservationBytes = DefaultMaxObservation
	}
	if cfg.Sampling.MaxNewTokens == 0 {
		cfg.Sampling.MaxNewTokens = DefaultMaxNewTokens
	}
	if cfg.Sampling.StopTokenIDs == nil {
		cfg.Sampling.StopTokenIDs = defaultStops(cfg.Tokenizer)
	}
	a := &Agent{kind: kind, cfg: cfg, format: cfg.Format, stops: map[int32]bool{}, ownSystem: cfg.System != ""}
	for _, id := range cfg.Sampling.StopTokenIDs {
		a.stops[id] = true
	}
	if a.format == "" {
		a.format = DetectFormat(cfg.Template.Source())
	}
	if kind == CodeAct {
		// One list: the functions the interpreter defines.
		specs := cfg.Sandbox.ToolSpecs()
		if len(cfg.Tools) > 0 && !sameSpecs(cfg.Tools, specs) {
			return bad("Tools (%s) differ from the sandbox's tools (%s): a CodeAct agent reads its tools from its sandbox, leave Tools empty",
				specNames(cfg.Tools), specNames(specs))
		}
		a.cfg.Tools = specs
	}
	if kind == ToolCalling && len(cfg.Tools) > 0 {
		a.tools = TemplateTools(cfg.Tools)
	}
	if a.cfg.System == "" {
		a.cfg.System = a.defaultSystem(a.cfg.Tools)
	}
	return a, nil
}

// sameSpecs reports whether a and b are the same tools in the same order.
func sameSpecs(a, b []sdk.ToolSpec) bool {
	return slices.EqualFunc(a, b, func(x, y sdk.ToolSpec) bool {
		return x.Name == y.Name && x.Description == y.Description && bytes.Equal(x.Parameters, y.Parameters)
	})
}

// specNames lists the names of specs for an error message.
func specNames(specs []sdk.ToolSpec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// viewFor is the tools task's episodes see: those the task declares (a BFCL
// case), else Config.SelectTools' choice for it, once per distinct task of a
// group (seen caches them); nil when neither applies.
func (a *Agent) viewFor(ctx context.Context, task Task, seen map[string]*toolView) (*toolView, error) {
	if a.cfg.SelectTools == nil && len(task.Declared) == 0 {
		return nil, nil
	}
	key := task.ID + "\x00" + task.Prompt
	if v, ok := seen[key]; ok {
		return v, nil
	}
	specs := task.Declared
	if len(specs) == 0 {
		var err error
		if specs, err = a.cfg.SelectTools(ctx, task); err != nil {
			return nil, fmt.Errorf("agent: task %q: select tools: %w", task.ID, err)
		}
	}
	v := &toolView{system: a.cfg.System, allowed: make(map[string]bool, len(specs))}
	for _, s := range specs {
		v.allowed[s.Name] = true
		v.names = append(v.names, s.Name)
	}
	if !a.ownSystem {
		v.system = a.defaultSystem(specs)
	}
	if a.kind == ToolCalling && len(specs) > 0 {
		v.tools = TemplateTools(specs)
	}
	seen[key] = v
	return v, nil
}

// templateTool is a tool spec as templates read it, keys in the usual order.
func templateTool(t sdk.ToolSpec) any {
	params := t.Parameters
	if len(params) == 0 {
		params = []byte(`{"type": "object", "properties": {}}`)
	}
	return struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Parameters  any    `json:"parameters"`
	}{t.Name, t.Description, rawJSON(params)}
}

// defaultStops are the tokenizer's EOS and the end-of-turn tokens it has.
func defaultStops(tok *tokenizer.Tokenizer) []int32 {
	var ids []int32
	seen := map[int32]bool{}
	add := func(id int32) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if id, ok := tok.EOS(); ok {
		add(id)
	}
	for _, s := range []string{"<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|endoftext|>", "<|end_of_text|>"} {
		if id, ok := tok.TokenID(s); ok && tok.IsSpecial(id) {
			add(id)
		}
	}
	return ids
}

// Run runs one episode: RunGroup of one task.
func (a *Agent) Run(ctx context.Context, task Task) (sdk.Trace, error) {
	traces, err := a.RunGroup(ctx, []Task{task})
	if err != nil {
		return sdk.Trace{}, err
	}
	return traces[0], nil
}

// episode is the state of one row of a group.
type episode struct {
	i     int
	task  *sdk.Task
	trace sdk.Trace
	msgs  []chattemplate.Message
	view  *toolView // nil: the agent's tools
	sb    *sandbox.Episode
	done  bool
	start time.Time
	// declared: the task declared its tools (one turn, calls not run).
	declared bool
}

// RunGroup runs one episode per task in lockstep through one
// generate.Session and returns their traces in order. For a GRPO group, pass
// the same task G times: each episode samples from its own random stream.
//
// What goes wrong inside an episode (a malformed call, failing code, the
// turn limit, a full context) is recorded in its trace; RunGroup returns an
// error only when it cannot go on at all: the model fails, the sandbox
// cannot start an episode, or ctx is cancelled (then ctx.Err(), wrapped).
func (a *Agent) RunGroup(ctx context.Context, tasks []Task) (traces []sdk.Trace, err error) {
	return a.RunGroupWith(ctx, tasks, GroupOptions{Seed: a.cfg.Sampling.Seed, Streams: a.cfg.Sampling.Streams})
}

// GroupOptions vary the sampling of one RunGroupWith call: a coach gives
// every training step its own seed and every episode its own stream.
type GroupOptions struct {
	// Seed replaces Config.Sampling.Seed.
	Seed int64
	// Streams names each episode's random stream (see generate.Options);
	// nil, or a length other than the tasks', means 0..n-1.
	Streams []uint64
	// Greedy decodes at temperature 0 (evaluation).
	Greedy bool
}

// RunGroupWith is RunGroup with the sampling seed, streams and temperature
// of o in place of the Config's.
func (a *Agent) RunGroupWith(ctx context.Context, tasks []Task, o GroupOptions) (traces []sdk.Trace, err error) {
	if len(tasks) == 0 {
		return []sdk.Trace{}, nil
	}
	for _, t := range tasks {
		if len(t.Declared) > 0 && a.kind != ToolCalling {
			return nil, fmt.Errorf("%w: task %q declares tools; only a tool-calling athlete takes them", ErrBadConfig, t.ID)
		}
	}
	opts := a.cfg.Sampling
	opts.Seed, opts.Streams = o.Seed, o.Streams
	if o.Greedy {
		opts.Temperature = 0
	}
	if opts.Streams == nil || len(opts.Streams) != len(tasks) {
		opts.Streams = make([]uint64, len(tasks))
		for i := range opts.Streams {
			opts.Streams[i] = uint64(i)
		}
	}
	sess, err := generate.NewSession(ctx, a.cfg.Model, len(tasks), a.cfg.MaxLen, opts)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	defer sess.Close()

	eps := make([]*episode, len(tasks))
	defer func() {
		for _, e := range eps {
			if e != nil && e.sb != nil {
				e.sb.Close()
			}
		}
	}()
	var rows []int
	views := map[string]*toolView{}
	for i, task := range tasks {
		e := &episode{i: i, task: task.sdkTask(), start: time.Now(), trace: sdk.Trace{TaskID: task.ID, Turns: []sdk.Turn{}},
			declared: len(task.Declared) > 0}
		e.trace.ID = fmt.Sprintf("%s-%d", task.ID, i)
		eps[i] = e
		if e.view, err = a.viewFor(ctx, task, views); err != nil {
			return nil, err
		}
		e.msgs = []chattemplate.Message{{Role: "system", Content: e.system(a)}, {Role: "user", Content: task.Prompt}}
		text, err := a.cfg.Template.Render(e.msgs, a.renderOptions(e.templateTools(a), true))
		if err != nil {
			return nil, fmt.Errorf("agent: task %q: render prompt: %w", task.ID, err)
		}
		ids := a.cfg.Tokenizer.Encode(text)
		if len(ids) >= a.cfg.MaxLen {
			e.trace.Error = fmt.Sprintf("prompt of %d tokens leaves no room within MaxLen %d", len(ids), a.cfg.MaxLen)
			e.done = true
			continue
		}
		if err := sess.Feed(i, ids); err != nil {
			return nil, fmt.Errorf("agent: task %q: %w", task.ID, err)
		}
		if a.kind == CodeAct {
			if e.sb, err = a.cfg.Sandbox.StartTask(ctx, task.sdkTask()); err != nil {
				return nil, fmt.Errorf("agent: task %q: start sandbox episode: %w", task.ID, err)
			}
		}
		e.trace.Turns = append(e.trace.Turns, sdk.Turn{Prompt: text, Tokens: &sdk.TokenSpans{PromptIDs: ids}})
		rows = append(rows, i)
	}

	for turn := 0; len(rows) > 0; turn++ {
		t0 := time.Now()
		res, err := sess.Generate(ctx, rows)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return nil, fmt.Errorf("agent: turn %d: %w", turn+1, cerr)
			}
			return nil, fmt.Errorf("agent: turn %d: %w", turn+1, err)
		}
		genMS := msSince(t0)
		deltas := make([][]int32, len(rows))
		errs := make([]error, len(rows))
		var wg sync.WaitGroup
		for j, b := range rows {
			wg.Go(func() {
				deltas[j], errs[j] = a.step(ctx, eps[b], turn, res[j], genMS, sess.Room(b))
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		next := rows[:0:0]
		for j, b := range rows {
			e := eps[b]
			if e.done {
				continue
			}
			if err := sess.Feed(b, deltas[j]); err != nil {
				return nil, fmt.Errorf("agent: episode %d: %w", b, err)
			}
			e.trace.Turns = append(e.trace.Turns, sdk.Turn{Tokens: &sdk.TokenSpans{}})
			next = append(next, b)
		}
		rows = next
	}
	traces = make([]sdk.Trace, len(eps))
	for i, e := range eps {
		e.trace.Timings.TotalMS = msSince(e.start)
		traces[i] = e.trace
	}
	return traces, nil
}

// step records one generation in e's current turn, acts on it, and returns
// the ids to feed before the next turn (none when the episode is done).
// room is how many tokens the row can still take. Only a host failure
// (ctx cancelled, sandbox closed) is an error.
func (a *Agent) step(ctx context.Context, e *episode, turn int, r generate.Result, genMS float64, room int) ([]int32, error) {
	t := &e.trace.Turns[len(e.trace.Turns)-1]
	t.Tokens.GeneratedIDs = r.Tokens
	t.Tokens.Logprobs = r.Logprobs
	t.Timings.GenerateMS = genMS
	t.Completion = a.cfg.Tokenizer.Decode(r.Tokens)
	e.trace.Timings.GenerateMS += genMS
	// The text the agent acts on leaves out the stop token.
	body := r.Tokens
	stopped := len(body) > 0 && r.FinishReason == generate.FinishStop && a.stops[body[len(body)-1]]
	if stopped {
		body = body[:len(body)-1]
	}
	text := a.cfg.Tokenizer.Decode(body)

	t0 := time.Now()
	var obs []chattemplate.Message
	var err error
	switch a.kind {
	case CodeAct:
		obs, err = a.codeAct(ctx, e, t, text)
	case ToolCalling:
		if e.declared {
			declaredCalls(e, t, a.format, text)
		} else {
			obs, err = a.toolCalls(ctx, e, t, turn, text)
		}
	}
	t.Timings.ToolMS = msSince(t0)
	e.trace.Timings.ToolMS += t.Timings.ToolMS
	if err != nil {
		return nil, err
	}
	if e.done {
		return nil, nil
	}
	if turn+1 >= a.cfg.MaxTurns {
		e.trace.Error = fmt.Sprintf("turn limit reached (%d turns) without a final answer", a.cfg.MaxTurns)
		e.done = true
		return nil, nil
	}
	assistant := chattemplate.Message{Role: "assistant", Content: text}
	var stopID []int32
	if stopped {
		stopID = r.Tokens[len(r.Tokens)-1:]
	}
	ids := a.delta(e.templateTools(a), e.msgs, obs, stopID)
	e.msgs = append(append(e.msgs, assistant), obs...)
	// The next turn needs its observation and at least one token to generate.
	if len(ids)+1 > room {
		e.trace.Error = fmt.Sprintf("context full: %d observation tokens, room for %d within MaxLen %d", len(ids), room, a.cfg.MaxLen)
		e.done = true
		return nil, nil
	}
	t.Tokens.ObservationIDs = ids
	return ids, nil
}

// NoCodeError is what a CodeAct athlete observes after a reply without a
// code block (after "Observation:\n").
const NoCodeError = "Error: no code found. Reply with a thought, then your code in a ```python block; call final_answer(x) when you have the answer."

// codeAct runs the code of a completion in e's sandbox episode.
func (a *Agent) codeAct(ctx context.Context, e *episode, t *sdk.Turn, text string) ([]chattemplate.Message, error) {
	code, ok := ExtractCode(text)
	var content string
	if !ok {
		t.Error = "no code block in the reply"
		content = NoCodeError
		t.Observations = []sdk.Observation{{Content: content, IsError: true}}
	} else {
		t.Code = code
		res, err := e.sb.Run(ctx, code)
		if err != nil {
			return nil, fmt.Errorf("agent: episode %d: run code: %w", e.i, err)
		}
		for _, c := range res.ToolCalls {
			t.ToolCalls = append(t.ToolCalls, sdk.ToolCall{Name: c.Name, Arguments: c.Arguments})
		}
		if res.Err != nil {
			t.Error = res.Error
		}
		if res.FinalAnswer != nil {
			e.trace.FinalAnswer = *res.FinalAnswer
			e.done = true
		}
		content = observationContent(res, a.cfg.MaxObservationBytes)
		t.Observations = []sdk.Observation{{Content: content, IsError: res.Err != nil}}
	}
	return []chattemplate.Message{{Role: "user", Content: "Observation:\n" + content}}, nil
}

// toolCalls parses and runs the tool calls of a completion; none means the
// completion is the final answer.
func (a *Agent) toolCalls(ctx context.Context, e *episode, t *sdk.Turn, turn int, text string) ([]chattemplate.Message, error) {
	calls, perr := ParseToolCalls(a.format, text)
	if perr == nil && len(calls) == 0 {
		e.trace.FinalAnswer = finalText(text)
		e.done = true
		return nil, nil
	}
	var msgs []chattemplate.Message
	for j := range calls {
		c := &calls[j]
		c.ID = fmt.Sprintf("call_%d_%d", turn+1, j+1)
		content, isErr, err := a.callTool(ctx, e, *c)
		if err != nil {
			return nil, fmt.Errorf("agent: episode %d: tool %s: %w", e.i, c.Name, err)
		}
		content = a.clipObservation(content)
		t.Observations = append(t.Observations, sdk.Observation{ToolCallID: c.ID, Name: c.Name, Content: content, IsError: isErr})
		msgs = append(msgs, chattemplate.Message{Role: "tool", Name: c.Name, ToolCallID: c.ID, Content: content})
	}
	t.ToolCalls = calls
	if perr != nil {
		t.Error = perr.Error()
		content := "Error: " + strings.TrimPrefix(perr.Error(), "agent: ")
		t.Observations = append(t.Observations, sdk.Observation{Content: content, IsError: true})
		msgs = append(msgs, chattemplate.Message{Role: "tool", Content: content})
	}
	return msgs, nil
}

// declaredCalls ends an episode whose task declared its tools: the reply's
// calls are recorded (a parse error as the turn's error), not run; a reply
// without calls is also the final answer.
func declaredCalls(e *episode, t *sdk.Turn, format ToolFormat, text string) {
	calls, perr := ParseToolCalls(format, text)
	for j := range calls {
		calls[j].ID = fmt.Sprintf("call_1_%d", j+1)
	}
	t.ToolCalls = calls
	if perr != nil {
		t.Error = perr.Error()
	}
	e.trace.FinalAnswer = finalText(text)
	e.done = true
}

// callTool checks a call's name against e's tools and runs it for e's task;
// Config.Tool checks its arguments. A refused or failing call is content
// for the model; only a cancelled ctx is an error.
func (a *Agent) callTool(ctx context.Context, e *episode, c sdk.ToolCall) (string, bool, error) {
	if v := e.view; v != nil && !v.allowed[c.Name] {
		return fmt.Sprintf("Error: no tool %q for this task (tools: %s)", c.Name, strings.Join(v.names, ", ")), true, nil
	}
	req := sdk.ToolCallRequest{Name: c.Name, Arguments: c.Arguments, Task: e.task}
	resp, err := a.cfg.Tool.CallTool(ctx, req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return "", false, cerr
		}
		return "Error: " + err.Error(), true, nil
	}
	return resp.Content, resp.IsError, nil
}

// finalText is a tool-calling agent's answer: the reply without a leading
// thinking block.
func finalText(text string) string {
	if i := strings.LastIndex(text, "</think>"); i >= 0 {
		text = text[i+len("</think>"):]
	}
	return strings.TrimSpace(text)
}

// clipObservation keeps the start of a long observation and says what was cut.
func (a *Agent) clipObservation(s string) string { return clipText(s, a.cfg.MaxObservationBytes) }

// clipText keeps the first n bytes of s (all when n <= 0) and says how many
// were cut.
func clipText(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + fmt.Sprintf("\n[... %d more bytes cut]", len(s)-n)
}

func (a *Agent) renderOptions(tools []any, genPrompt bool) chattemplate.Options {
	return chattemplate.Options{Tools: tools, AddGenerationPrompt: genPrompt, Extra: a.cfg.TemplateExtra}
}

// system is the system prompt of e: its task's (SelectTools) or the agent's.
func (e *episode) system(a *Agent) string {
	if e.view != nil {
		return e.view.system
	}
	return a.cfg.System
}

// templateTools are the template tool specifications of e.
func (e *episode) templateTools(a *Agent) []any {
	if e.view != nil {
		return e.view.tools
	}
	return a.tools
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// System returns the system prompt the agent uses (Config.System or the
// kind's default).
func (a *Agent) System() string { return a.cfg.System }
