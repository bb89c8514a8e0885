package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// Kind is a plugin kind. Each kind has one exported function (see
// [Kind.Function]) that takes the kind's request as JSON input and writes its
// response as JSON output.
type Kind string

// The plugin kinds.
const (
	KindTool        Kind = "tool"
	KindReward      Kind = "reward"
	KindJudge       Kind = "judge"
	KindAlgorithm   Kind = "algorithm"
	KindInterpreter Kind = "interpreter"
)

// Exported function names, one per kind, plus the optional group reward.
const (
	ToolFunction        = "call_tool"
	RewardFunction      = "reward"
	RewardGroupFunction = "reward_group"
	JudgeFunction       = "judge"
	AlgorithmFunction   = "advantages"
	InterpreterFunction = "interpret"
	// InterpreterResetFunction is an interpreter's optional export that
	// drops everything of the episode it served (globals, buffers), so
	// that the host may give the instance to another episode (sdk/ABI.md,
	// "Interpreter plugins").
	InterpreterResetFunction = "interpret_reset"
)

// Function is the name of the function a plugin of kind k exports, "" for an
// unknown kind.
func (k Kind) Function() string {
	switch k {
	case KindTool:
		return ToolFunction
	case KindReward:
		return RewardFunction
	case KindJudge:
		return JudgeFunction
	case KindAlgorithm:
		return AlgorithmFunction
	case KindInterpreter:
		return InterpreterFunction
	}
	return ""
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k.Function() != "" }

// Task is what an agent is asked to do.
type Task struct {
	// ID identifies the task in its dataset; "" when it has none.
	ID string `json:"id,omitempty"`
	// Prompt is what the agent is asked, the first user message.
	Prompt string `json:"prompt"`
	// Expected is the reference answer rewards compare with; "" when the
	// task has none.
	Expected string `json:"expected,omitempty"`
	// Metadata carries dataset-specific fields through to rewards.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ---- tools ----

// ToolSpec describes a tool to the model and to the runtime.
//
//	{"name": "search", "description": "Search the mailbox.",
//	 "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
//	 "returns": {"type": "string"}}
type ToolSpec struct {
	// Name is what the model calls the tool by; unique in a run.
	Name string `json:"name"`
	// Description tells the model what the tool does.
	Description string `json:"description"`
	// Parameters is a JSON Schema (draft 2020-12) of the arguments object.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	// Returns is a JSON Schema of ToolCallResponse.Data, for documentation.
	Returns json.RawMessage `json:"returns,omitempty"`
}

// ParameterNames lists the properties of s.Parameters in the order the
// schema writes them: the order in which an interpreter binds positional
// arguments and a prompt shows the signature. Nil when the schema has no
// properties object.
func (s ToolSpec) ParameterNames() []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(s.Parameters, &top) != nil {
		return nil
	}
	props, ok := top["properties"]
	if !ok {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(props))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var names []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return names
		}
		name, _ := t.(string)
		names = append(names, name)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return names
		}
	}
	return names
}

// ToolCallRequest is the input of a tool plugin's call_tool function.
//
//	{"name": "search", "arguments": {"q": "invoice"},
//	 "task": {"id": "ib03-q07", "prompt": "...", "metadata": {"inbox": "ib03"}}}
type ToolCallRequest struct {
	// Name is the tool to call.
	Name string `json:"name"`
	// Arguments is the JSON object of the call's arguments, checked
	// against the tool's Parameters schema before the tool sees it.
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// Task is the task of the episode that makes the call, set by the host
	// (the sandbox or the agent), never by the model's code: a value the
	// code sent is replaced. Tools whose world depends on the task read it
	// (the email pack searches the inbox named by Metadata["inbox"]); nil
	// when the call belongs to no task. Added in SDK 1.0 as an optional
	// field: a plugin that does not read it is unaffected.
	Task *Task `json:"task,omitempty"`
}

// ToolCallResponse is the output of call_tool. Content is what the model
// sees; IsError marks a failure the model should read and react to (a tool
// that cannot run at all fails the call instead).
//
//	{"content": "3 messages found", "data": [1, 2, 3]}
type ToolCallResponse struct {
	// Content is the text the model reads as the call's observation.
	Content string `json:"content"`
	// IsError marks Content as a failure the model should react to.
	IsError bool `json:"is_error,omitempty"`
	// Data is the result as JSON for the code that called the tool (a
	// CodeAct program gets it as a value; see ToolSpec.Returns).
	Data json.RawMessage `json:"data,omitempty"`
}

// Tool is a tool implemented in Go or hosted by the runtime.
type Tool interface {
	// CallTool runs the tool. Cancelling ctx stops the call; the error is
	// then ctx.Err() wrapped.
	CallTool(ctx context.Context, req ToolCallRequest) (ToolCallResponse, error)
}

// ---- rewards ----

// RewardRequest is the input of a reward plugin's reward function: one trace.
//
//	{"expected": "42", "trace": {"final_answer": "42", "turns": [...]}, "task": {...}}
//
// expected is always the first field (see [Trace] for why).
type RewardRequest struct {
	// Expected is the task's reference answer; "" when it has none.
	Expected string `json:"expected"`
	// Trace is the episode to score.
	Trace Trace `json:"trace"`
	// Task is the task the trace attempted, for rewards that read its
	// metadata; nil when the host has none.
	Task *Task `json:"task,omitempty"`
}

// RewardResponse is the output of reward.
//
//	{"score": 1, "info": {"f1": 1}}
type RewardResponse struct {
	// Score must be finite.
	Score float64 `json:"score"`
	// Info holds named components for logging.
	Info map[string]float64 `json:"info,omitempty"`
}

// Validate checks the response's invariants.
func (r RewardResponse) Validate() error {
	if !finite(r.Score) {
		return fmt.Errorf("%w: score %v", ErrInvalidScore, r.Score)
	}
	return nil
}

// RewardGroupRequest is the input of the optional reward_group function: a
// whole group of traces for the same task, for rewards that compare them.
//
//	{"expected": "42", "traces": [{...}, {...}]}
type RewardGroupRequest struct {
	// Expected, Traces and Task are RewardRequest's, for every trace of
	// the group (all attempts of one task).
	Expected string  `json:"expected"`
	Traces   []Trace `json:"traces"`
	Task     *Task   `json:"task,omitempty"`
}

// RewardGroupResponse is the output of reward_group: one score per trace.
//
//	{"scores": [1, 0, 0.5]}
type RewardGroupResponse struct {
	// Scores are one finite score per trace, in the request's order.
	Scores []float64 `json:"scores"`
}

// Validate checks that there is one finite score per trace.
func (r RewardGroupResponse) Validate(n int) error {
	if len(r.Scores) != n {
		return fmt.Errorf("%w: %d scores for %d traces", ErrInvalidResponse, len(r.Scores), n)
	}
	for i, s := range r.Scores {
		if !finite(s) {
			return fmt.Errorf("%w: score %d is %v", ErrInvalidScore, i, s)
		}
	}
	return nil
}

// Reward scores one trace.
type Reward interface {
	// Reward scores req.Trace. Cancelling ctx abandons the call.
	Reward(ctx context.Context, req RewardRequest) (RewardResponse, error)
}

// GroupReward scores a group at once; a reward may implement it in addition
// to [Reward] when comparing traces matters or batching is cheaper.
type GroupReward interface {
	// RewardGroup scores every trace of req.Traces, one score each, in
	// order. Cancelling ctx abandons the call; an error fails the whole
	// group (the coach then uses its fallback score).
	RewardGroup(ctx context.Context, req RewardGroupRequest) (RewardGroupResponse, error)
}

// ---- judges ----

// JudgeRequest is the input of a judge plugin's judge function.
//
//	{"expected": "42", "traces": [{...}, {...}], "rubric": "prefer short correct answers"}
type JudgeRequest struct {
	// Expected, Traces and Task are the group's, as in
	// RewardGroupRequest.
	Expected string  `json:"expected,omitempty"`
	Traces   []Trace `json:"traces"`
	Task     *Task   `json:"task,omitempty"`
	// Rubric says what the judge should prefer; "" means the judge's own
	// (the one its configuration gives).
	Rubric string `json:"rubric,omitempty"`
}

// JudgeResponse holds scores (one per trace), a ranking (trace indices, best
// first, a permutation of 0..n-1), or both.
//
//	{"ranking": [2, 0, 1]}
type JudgeResponse struct {
	// Scores are one finite score per trace; nil when the judge ranks.
	Scores []float64 `json:"scores,omitempty"`
	// Ranking lists the traces' indices, best first; nil when the judge
	// scores.
	Ranking []int `json:"ranking,omitempty"`
}

// Validate checks the response against a group of n traces.
func (r JudgeResponse) Validate(n int) error {
	if r.Scores == nil && r.Ranking == nil {
		return fmt.Errorf("%w: judge returned neither scores nor ranking", ErrInvalidResponse)
	}
	if r.Scores != nil {
		if err := (RewardGroupResponse{Scores: r.Scores}).Validate(n); err != nil {
			return err
		}
	}
	if r.Ranking != nil {
		if len(r.Ranking) != n {
			return fmt.Errorf("%w: ranking of %d for %d traces", ErrInvalidResponse, len(r.Ranking), n)
		}
		seen := make([]bool, n)
		for _, i := range r.Ranking {
			if i < 0 || i >= n || seen[i] {
				return fmt.Errorf("%w: ranking %v is not a permutation of 0..%d", ErrInvalidResponse, r.Ranking, n-1)
			}
			seen[i] = true
		}
	}
	return nil
}

// Judge scores or ranks a group.
type Judge interface {
	// Judge scores req.Traces (Scores, one per trace), ranks them
	// (Ranking, best first, a permutation of their indices), or both.
	// Cancelling ctx abandons the call; a response with neither, or of the
	// wrong length, fails with ErrInvalidResponse on the host's side.
	Judge(ctx context.Context, req JudgeRequest) (JudgeResponse, error)
}

// ---- algorithms ----

// Group is the rewards and generated lengths of one task's group of traces.
type Group struct {
	// Rewards are the finite rewards of the group's traces, in order.
	Rewards []float64 `json:"rewards"`
	// Lengths are generated token counts, one per trace (see
	// [Trace.GeneratedTokens]).
	Lengths []int `json:"lengths"`
}

// AdvantageRequest is the input of an algorithm plugin's advantages function:
// every group of a batch, so that algorithms can normalise across the batch.
//
//	{"groups": [{"rewards": [1, 0], "lengths": [12, 30]}]}
type AdvantageRequest struct {
	// Groups are the batch's groups, in order.
	Groups []Group `json:"groups"`
}

// Validate checks that every group has as many lengths as rewards, and finite
// rewards.
func (r AdvantageRequest) Validate() error {
	for g, grp := range r.Groups {
		if len(grp.Lengths) != len(grp.Rewards) {
			return fmt.Errorf("%w: group %d has %d rewards and %d lengths", ErrInvalidRequest, g, len(grp.Rewards), len(grp.Lengths))
		}
		for i, x := range grp.Rewards {
			if !finite(x) {
				return fmt.Errorf("%w: group %d reward %d is %v", ErrInvalidRequest, g, i, x)
			}
		}
		for i, l := range grp.Lengths {
			if l < 0 {
				return fmt.Errorf("%w: group %d length %d is %d", ErrInvalidRequest, g, i, l)
			}
		}
	}
	return nil
}

// PreferencePair is one DPO pair within a group: trace Chosen is preferred to
// trace Rejected.
type PreferencePair struct {
	// Group is the index of the group in the request; Chosen and Rejected
	// are indices of traces within it.
	Group    int `json:"group"`
	Chosen   int `json:"chosen"`
	Rejected int `json:"rejected"`
}

// AdvantageResponse is the output of advantages: per-trace advantages
// (advantages[g][i]), per-token advantages (token_advantages[g][i][t], t over
// the trace's generated tokens), or DPO pairs.
//
//	{"advantages": [[0.7071, -0.7071]]}
//	{"pairs": [{"group": 0, "chosen": 0, "rejected": 1}]}
type AdvantageResponse struct {
	// Advantages are one per trace, [group][trace]; TokenAdvantages one
	// per generated token, [group][trace][token]. An algorithm sets one of
	// the two, or Pairs.
	Advantages      [][]float64   `json:"advantages,omitempty"`
	TokenAdvantages [][][]float64 `json:"token_advantages,omitempty"`
	// Pairs is omitzero, not omitempty: a DPO batch of ties returns an
	// empty, non-nil list, which must survive the JSON round trip.
	Pairs []PreferencePair `json:"pairs,omitzero"`
}

// Validate checks the response's shape against its request.
func (r AdvantageResponse) Validate(req AdvantageRequest) error {
	if r.Advantages == nil && r.TokenAdvantages == nil && r.Pairs == nil {
		return fmt.Errorf("%w: algorithm returned no advantages and no pairs", ErrInvalidResponse)
	}
	if r.Advantages != nil {
		if len(r.Advantages) != len(req.Groups) {
			return fmt.Errorf("%w: advantages for %d groups, request has %d", ErrInvalidResponse, len(r.Advantages), len(req.Groups))
		}
		for g, a := range r.Advantages {
			if len(a) != len(req.Groups[g].Rewards) {
				return fmt.Errorf("%w: group %d has %d advantages for %d traces", ErrInvalidResponse, g, len(a), len(req.Groups[g].Rewards))
			}
			for i, x := range a {
				if !finite(x) {
					return fmt.Errorf("%w: advantage [%d][%d] is %v", ErrInvalidScore, g, i, x)
				}
			}
		}
	}
	if r.TokenAdvantages != nil {
		if len(r.TokenAdvantages) != len(req.Groups) {
			return fmt.Errorf("%w: token advantages for %d groups, request has %d", ErrInvalidResponse, len(r.TokenAdvantages), len(req.Groups))
		}
		for g, a := range r.TokenAdvantages {
			if len(a) != len(req.Groups[g].Rewards) {
				return fmt.Errorf("%w: group %d has token advantages for %d traces, not %d", ErrInvalidResponse, g, len(a), len(req.Groups[g].Rewards))
			}
			for i, tok := range a {
				if len(tok) != req.Groups[g].Lengths[i] {
					return fmt.Errorf("%w: trace [%d][%d] has %d token advantages for %d tokens", ErrInvalidResponse, g, i, len(tok), req.Groups[g].Lengths[i])
				}
				for t, x := range tok {
					if !finite(x) {
						return fmt.Errorf("%w: token advantage [%d][%d][%d] is %v", ErrInvalidScore, g, i, t, x)
					}
				}
			}
		}
	}
	for _, p := range r.Pairs {
		if p.Group < 0 || p.Group >= len(req.Groups) {
			return fmt.Errorf("%w: pair names group %d of %d", ErrInvalidResponse, p.Group, len(req.Groups))
		}
		n := len(req.Groups[p.Group].Rewards)
		if p.Chosen < 0 || p.Chosen >= n || p.Rejected < 0 || p.Rejected >= n || p.Chosen == p.Rejected {
			return fmt.Errorf("%w: pair %+v out of range for a group of %d", ErrInvalidResponse, p, n)
		}
	}
	return nil
}

// Algorithm turns a batch's rewards into advantages or preference pairs.
type Algorithm interface {
	// Advantages returns one advantage per trace of every group of req (or
	// per token, or preference pairs). Cancelling ctx abandons the call; a
	// request that breaks its invariants is ErrInvalidRequest, a response
	// of the wrong shape ErrInvalidResponse, a NaN or infinite advantage
	// ErrInvalidScore.
	Advantages(ctx context.Context, req AdvantageRequest) (AdvantageResponse, error)
}

// ---- interpreters (CodeAct) ----

// InterpretRequest is the input of an interpreter plugin's interpret function:
// one turn of agent code.
//
//	{"code": "x = search(q='a')\nfinal_answer(x)", "tools": [...], "max_steps": 100000}
//
// An interpreter keeps the globals of earlier turns while its instance lives
// (the host runs one episode on one instance and discards it afterwards); an
// interpreter that cannot keep them returns them in State instead.
type InterpretRequest struct {
	// Code is the turn's program, as the model wrote it.
	Code string `json:"code"`
	// State is the interpreter's opaque state from the previous turn's
	// response, for interpreters that do not keep globals in the instance.
	State json.RawMessage `json:"state,omitempty"`
	// Tools the code may call (through the toolbrain_call_tool host
	// function), each as a function named after the tool.
	Tools []ToolSpec `json:"tools,omitempty"`
	// MaxSteps caps the interpreter's execution steps; 0 means its default.
	MaxSteps int64 `json:"max_steps,omitempty"`
	// MaxOutputBytes caps the printed output (and the final answer) of
	// the turn; 0 means the interpreter's default.
	MaxOutputBytes int `json:"max_output_bytes,omitempty"`
}

// Interpreter error kinds, the InterpretResponse.ErrorKind values.
const (
	// InterpretErrorSyntax: the code does not parse or refers to
	// undefined names; nothing ran.
	InterpretErrorSyntax = "syntax"
	// InterpretErrorRuntime: the code failed while running.
	InterpretErrorRuntime = "runtime"
	// InterpretErrorSteps: the code ran past MaxSteps.
	InterpretErrorSteps = "max_steps"
	// InterpretErrorOutput: the code printed more than MaxOutputBytes.
	InterpretErrorOutput = "max_output"
	// InterpretErrorTool: a tool call failed (the tool's error, a refused
	// argument or the per-episode tool call cap).
	InterpretErrorTool = "tool"
)

// InterpretResponse is the output of interpret. A failure of the code is not
// a failure of the call: it is reported in Error (with ErrorKind and, where
// known, the 1-based ErrorLine), so that the model reads it as its
// observation; printed output before the failure is kept in Stdout.
//
//	{"stdout": "3\n", "final_answer": "3", "steps": 42}
//	{"stdout": "", "error": "line 2: undefined: serch", "error_kind": "syntax", "error_line": 2}
type InterpretResponse struct {
	// Stdout is what the code printed (kept up to a failure). The fields
	// after FinalAnswer: the tool calls the code made and their
	// observations, the failure (Error, ErrorKind, ErrorLine; see the type's
	// doc), the execution steps used, and State for the next turn.
	Stdout string `json:"stdout"`
	// FinalAnswer is set when the code called final_answer(x): Python's
	// str(x). The episode ends there.
	FinalAnswer  *string         `json:"final_answer,omitempty"`
	ToolCalls    []ToolCall      `json:"tool_calls,omitempty"`
	Observations []Observation   `json:"observations,omitempty"`
	Error        string          `json:"error,omitempty"`
	ErrorKind    string          `json:"error_kind,omitempty"`
	ErrorLine    int             `json:"error_line,omitempty"`
	Steps        int64           `json:"steps,omitempty"`
	State        json.RawMessage `json:"state,omitempty"`
}

// Interpreter runs agent code in a sandbox.
type Interpreter interface {
	// Interpret runs req.Code and returns what it printed, the tool calls
	// it made and its final answer. A failure of the code itself (a syntax
	// error, an exception, a step limit) is InterpretResponse.Error, not an
	// error; an error means the interpreter could not run at all.
	Interpret(ctx context.Context, req InterpretRequest) (InterpretResponse, error)
}
