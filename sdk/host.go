package sdk

import "context"

// Host functions the runtime offers plugins. Besides Extism's own functions
// (input, output, memory), a WebAssembly plugin may import these; each is
// allowed only when the plugin's manifest asks for the permission and the
// configuration grants it. Calling a function without the permission fails
// the plugin call with ErrPermissionDenied naming the function.
//
// The log and config functions are Extism's (extism:host/env log_info,
// log_debug, log_warn, log_error, log_trace and config_get), so upstream PDK
// helpers work unchanged; the tool and LLM functions live in Extism's user
// namespace and take and return a memory offset holding JSON:
//
//	(import "extism:host/user" "toolbrain_call_tool" (func (param i64) (result i64)))
//	(import "extism:host/user" "toolbrain_llm" (func (param i64) (result i64)))
const (
	// HostNamespace is the import module of ToolBrain's own host functions.
	HostNamespace = "extism:host/user"
	// HostCallTool takes a ToolCallRequest and returns a ToolCallResponse.
	HostCallTool = "toolbrain_call_tool"
	// HostLLM takes an LLMRequest and returns an LLMResponse, answered by the
	// coach's configured judge model or endpoint.
	HostLLM = "toolbrain_llm"
)

// Permission names a manifest asks for and a configuration grants.
const (
	PermissionTool   = "tool"   // toolbrain_call_tool
	PermissionLLM    = "llm"    // toolbrain_llm
	PermissionLog    = "log"    // extism log_* functions
	PermissionConfig = "config" // extism config_get
)

// Message is one chat message.
type Message struct {
	// Role is "system", "user", "assistant" or "tool".
	Role string `json:"role"`
	// Content is the message's text.
	Content string `json:"content"`
	// ToolCalls are the calls an assistant message makes.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID links a "tool" message to the call it answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
}

// LLMRequest is the input of the toolbrain_llm host function.
//
//	{"messages": [{"role": "user", "content": "Is 42 right?"}], "max_tokens": 64}
type LLMRequest struct {
	// Messages are the conversation to answer, in order.
	Messages []Message `json:"messages"`
	// MaxTokens caps the answer; 0 means the host's default.
	MaxTokens int `json:"max_tokens,omitempty"`
	// Temperature samples the answer; 0 (or absent) decodes greedily, the
	// right choice for a judge, whose scores should not be random.
	Temperature float64 `json:"temperature,omitempty"`
	// Stop ends the answer at the first of these strings (not included).
	Stop []string `json:"stop,omitempty"`
}

// LLMResponse is the output of toolbrain_llm.
//
//	{"text": "Yes."}
type LLMResponse struct {
	// Text is the model's answer.
	Text string `json:"text"`
}

// LLM answers chat requests: the coach's judge model behind toolbrain_llm,
// an in-process judge's model, or a teacher. core/llm's Endpoint and Local
// implement it; [LLMFunc] adapts a plain function, as net/http's
// HandlerFunc adapts one to Handler.
//
// Complete must be safe for concurrent use, and once ctx is done it returns
// an error that wraps ctx.Err(). An error means no answer was produced (the
// model or the transport failed, or the request was invalid); an answer the
// caller cannot use is not an error of Complete.
type LLM interface {
	// Complete answers one chat request with the model's text. An error
	// means no answer was produced; it wraps ctx.Err() once ctx is done.
	Complete(ctx context.Context, req LLMRequest) (LLMResponse, error)
}

// LLMFunc is a function used as an [LLM]: LLMFunc(f).Complete calls f.
type LLMFunc func(ctx context.Context, req LLMRequest) (LLMResponse, error)

// Complete calls f(ctx, req).
func (f LLMFunc) Complete(ctx context.Context, req LLMRequest) (LLMResponse, error) {
	return f(ctx, req)
}
