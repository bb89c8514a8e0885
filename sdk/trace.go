package sdk

import (
	"encoding/json"
	"fmt"
	"math"
)

// Trace is one episode of an agent (an "athlete") on one task: every turn
// with the text and the exact token ids the model saw and generated, the code
// or tool calls it made, what came back, and the final answer.
//
// # JSON
//
//	{"final_answer": "42", "id": "t0-3", "task_id": "t0",
//	 "turns": [{"prompt": "...", "completion": "...", "code": "...",
//	            "tool_calls": [{"id": "c1", "name": "search", "arguments": {"q": "x"}}],
//	            "observations": [{"tool_call_id": "c1", "name": "search", "content": "..."}],
//	            "tokens": {"prompt_ids": [1, 2], "generated_ids": [3], "logprobs": [-0.1],
//	                       "observation_ids": [4, 5]},
//	            "timings": {"generate_ms": 12.5, "tool_ms": 3}}],
//	 "error": "", "timings": {"total_ms": 20}}
//
// final_answer is always present and is the first field, so that a plugin
// with no JSON parser (the hand-written WAT reward) can find the trace's own
// answer as the first "final_answer" key after the request's "expected" key.
type Trace struct {
	// FinalAnswer is the answer the agent gave, "" when it gave none.
	FinalAnswer string `json:"final_answer"`
	// ID identifies the trace within a run; TaskID the task it attempted.
	ID     string `json:"id,omitempty"`
	TaskID string `json:"task_id,omitempty"`
	// Turns in order. A turn is one generation by the model followed by the
	// execution of what it produced.
	Turns []Turn `json:"turns"`
	// Error is set when the episode ended abnormally (turn limit, sandbox
	// failure, context overflow); the turns so far are still recorded.
	Error string `json:"error,omitempty"`
	// Timings of the whole episode.
	Timings Timings `json:"timings"`
}

// Turn is one model generation and what the runtime did with it.
type Turn struct {
	// Prompt is the text added to the context before this generation (the
	// whole rendered prompt on the first turn, the chat-template glue after
	// the previous observation on later turns).
	Prompt string `json:"prompt,omitempty"`
	// Completion is the text the model generated.
	Completion string `json:"completion"`
	// Code is the program extracted from the completion (CodeAct agents).
	Code string `json:"code,omitempty"`
	// ToolCalls are the calls parsed from the completion (tool-calling
	// agents) or made by the code.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// Observations are the results fed back to the model after this turn.
	Observations []Observation `json:"observations,omitempty"`
	// Error is a parse or execution error of this turn, also fed back.
	Error string `json:"error,omitempty"`
	// Tokens records the exact ids; nil when the trace came from an
	// endpoint that does not expose them.
	Tokens *TokenSpans `json:"tokens,omitempty"`
	// Timings of this turn.
	Timings Timings `json:"timings"`
}

// TokenSpans are the token ids of one turn, in the order the model's context
// grew: PromptIDs, then GeneratedIDs, then ObservationIDs. Concatenating the
// spans of all turns gives the full sequence the model saw (see
// [Trace.Sequence]).
type TokenSpans struct {
	// PromptIDs were added to the context before this generation.
	PromptIDs []int32 `json:"prompt_ids"`
	// GeneratedIDs were sampled by the model; they are the only ids trained on.
	GeneratedIDs []int32 `json:"generated_ids"`
	// Logprobs holds log p(id) under the sampling policy for each generated
	// id, same length as GeneratedIDs (the "old" policy of GRPO).
	Logprobs []float32 `json:"logprobs"`
	// ObservationIDs were appended after the generation (tool results,
	// interpreter output), never trained on.
	ObservationIDs []int32 `json:"observation_ids,omitempty"`
}

// Timings in milliseconds, so that every language reads them without a
// duration type.
type Timings struct {
	// GenerateMS is time spent generating, ToolMS running tools and code,
	// RewardMS scoring, TotalMS the whole (of a turn or of an episode).
	GenerateMS float64 `json:"generate_ms,omitempty"`
	ToolMS     float64 `json:"tool_ms,omitempty"`
	RewardMS   float64 `json:"reward_ms,omitempty"`
	TotalMS    float64 `json:"total_ms,omitempty"`
}

// ToolCall is one call of a tool by the model.
type ToolCall struct {
	// ID is the call's id when the model or its chat template gives one;
	// an Observation answering the call names it in ToolCallID.
	ID string `json:"id,omitempty"`
	// Name is the tool called.
	Name string `json:"name"`
	// Arguments is a JSON object checked against the tool's parameter
	// schema before the tool runs.
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// Observation is what a tool call or a code execution returned.
type Observation struct {
	// ToolCallID and Name are the call this observation answers (empty
	// for the output of code); Content is what the model reads, IsError
	// marks a failure.
	ToolCallID string `json:"tool_call_id,omitempty"`
	Name       string `json:"name,omitempty"`
	Content    string `json:"content"`
	IsError    bool   `json:"is_error,omitempty"`
}

// Sequence is a trace flattened to the token level, the form the trainer uses.
type Sequence struct {
	// IDs is every token in context order.
	IDs []int32
	// Mask is 1 on generated tokens and 0 on prompt and observation tokens:
	// the loss mask.
	Mask []uint8
	// Logprobs has one entry per id; 0 where Mask is 0.
	Logprobs []float32
	// Generated is the number of generated tokens (the sum of Mask).
	Generated int
}

// Sequence flattens the token spans of all turns. It fails with
// ErrInvalidRequest when a turn has no token record or its logprobs do not
// match its generated ids, because training on such a trace would silently
// misalign the loss.
func (t *Trace) Sequence() (Sequence, error) {
	var s Sequence
	n := 0
	for i := range t.Turns {
		tk := t.Turns[i].Tokens
		if tk == nil {
			return Sequence{}, fmt.Errorf("%w: turn %d has no token ids", ErrInvalidRequest, i)
		}
		if len(tk.Logprobs) != len(tk.GeneratedIDs) {
			return Sequence{}, fmt.Errorf("%w: turn %d has %d generated ids but %d logprobs",
				ErrInvalidRequest, i, len(tk.GeneratedIDs), len(tk.Logprobs))
		}
		n += len(tk.PromptIDs) + len(tk.GeneratedIDs) + len(tk.ObservationIDs)
	}
	s.IDs = make([]int32, 0, n)
	s.Mask = make([]uint8, 0, n)
	s.Logprobs = make([]float32, 0, n)
	for i := range t.Turns {
		tk := t.Turns[i].Tokens
		s.IDs = append(s.IDs, tk.PromptIDs...)
		s.Mask = append(s.Mask, make([]uint8, len(tk.PromptIDs))...)
		s.Logprobs = append(s.Logprobs, make([]float32, len(tk.PromptIDs))...)
		s.IDs = append(s.IDs, tk.GeneratedIDs...)
		for range tk.GeneratedIDs {
			s.Mask = append(s.Mask, 1)
		}
		s.Logprobs = append(s.Logprobs, tk.Logprobs...)
		s.Generated += len(tk.GeneratedIDs)
		s.IDs = append(s.IDs, tk.ObservationIDs...)
		s.Mask = append(s.Mask, make([]uint8, len(tk.ObservationIDs))...)
		s.Logprobs = append(s.Logprobs, make([]float32, len(tk.ObservationIDs))...)
	}
	return s, nil
}

// GeneratedTokens is the number of generated tokens over all turns (0 for
// turns without a token record); algorithms use it as the trace's length.
func (t *Trace) GeneratedTokens() int {
	n := 0
	for i := range t.Turns {
		if tk := t.Turns[i].Tokens; tk != nil {
			n += len(tk.GeneratedIDs)
		}
	}
	return n
}

// ToolCallCount is the number of tool calls over all turns.
func (t *Trace) ToolCallCount() int {
	n := 0
	for i := range t.Turns {
		n += len(t.Turns[i].ToolCalls)
	}
	return n
}

// finite reports whether x is neither NaN nor infinite.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
