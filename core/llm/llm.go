package llm

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/toolbrain/toolbrain/sdk"
)

// Compile-time checks that both models are an [sdk.LLM], the one interface
// of a language model (wasmhost.HostConfig.LLM, judges, teachers).
var (
	_ sdk.LLM = (*Endpoint)(nil)
	_ sdk.LLM = (*Local)(nil)
)

// DefaultMaxTokens is the completion length used when neither the request
// nor the client's configuration sets one.
const DefaultMaxTokens = 256

// Errors of this package, wrapped with the details; test with errors.Is.
var (
	// ErrConfig means a client's configuration is invalid; the message names
	// the field.
	ErrConfig = errors.New("llm: invalid configuration")
	// ErrRequest means an sdk.LLMRequest is invalid (no messages, a message
	// without a role, an empty stop string, a negative max_tokens or
	// temperature); it is never retried.
	ErrRequest = errors.New("llm: invalid request")
	// ErrStatus means the endpoint answered with a non-2xx status; the error
	// is a *StatusError.
	ErrStatus = errors.New("llm: endpoint returned an error status")
	// ErrResponse means a 2xx answer could not be used: not JSON, no
	// choices, or too large.
	ErrResponse = errors.New("llm: malformed response")
	// ErrNoChatTemplate means a local checkpoint has no chat template, so
	// messages cannot be turned into a prompt.
	ErrNoChatTemplate = errors.New("llm: the checkpoint has no chat template")
	// ErrClosed means Complete was called on a closed Local.
	ErrClosed = errors.New("llm: client is closed")
)

// validateRequest checks what both clients need of a request.
func validateRequest(req sdk.LLMRequest) error {
	if len(req.Messages) == 0 {
		return fmt.Errorf("%w: messages is empty", ErrRequest)
	}
	for i, m := range req.Messages {
		if strings.TrimSpace(m.Role) == "" {
			return fmt.Errorf("%w: messages[%d] has no role", ErrRequest, i)
		}
	}
	for i, s := range req.Stop {
		if s == "" {
			return fmt.Errorf("%w: stop[%d] is empty", ErrRequest, i)
		}
	}
	if req.MaxTokens < 0 {
		return fmt.Errorf("%w: max_tokens is %d, want >= 0 (0 = the client's default)", ErrRequest, req.MaxTokens)
	}
	if req.Temperature < 0 || math.IsNaN(req.Temperature) || math.IsInf(req.Temperature, 0) {
		return fmt.Errorf("%w: temperature is %v, want a finite value >= 0 (0 = greedy)", ErrRequest, req.Temperature)
	}
	return nil
}

// maxTokens picks the request's max_tokens, else the client's default.
func maxTokens(req, def int) int {
	switch {
	case req > 0:
		return req
	case def > 0:
		return def
	}
	return DefaultMaxTokens
}

// cutAtStop returns text up to the earliest occurrence of any stop string.
func cutAtStop(text string, stops []string) string {
	cut := len(text)
	for _, s := range stops {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && i < cut {
			cut = i
		}
	}
	return text[:cut]
}
