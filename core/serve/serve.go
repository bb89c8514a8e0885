// Package serve is an OpenAI-compatible HTTP server: /v1/models and
// /v1/chat/completions answered by an [llm.Client], normally an [llm.Local]
// on this machine's model.
//
// This first slice serves whole completions (a streamed request gets the
// whole answer as one server-sent chunk), bounds concurrent requests with a
// queue that answers 429 with Retry-After when full, checks an optional API
// key in constant time, and answers bad requests with OpenAI-style error JSON
// naming the field at fault. Assistant tool_calls in the history reach the
// chat template; continuous batching, tools, parsing tool calls out of the
// answer, and logprobs are not done yet.
package serve

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/sdk"
)

// MaxBodyBytes caps a request body.
const MaxBodyBytes = 4 << 20

// Config configures a [Server].
type Config struct {
	// Client answers the completions; required.
	Client llm.Client
	// Model is the id listed by /v1/models and echoed in answers; required.
	Model string
	// APIKey, when not empty, must be sent as "Authorization: Bearer APIKey".
	APIKey string
	// MaxActive is how many requests are answered at a time; 0 means 1.
	MaxActive int
	// MaxQueue is how many more may wait for a slot; beyond it a request
	// gets 429. 0 means 16; negative means none may wait.
	MaxQueue int
	// RetryAfter is the Retry-After sent with a 429; 0 means one second.
	RetryAfter time.Duration
}

// Server is an http.Handler for the OpenAI chat-completions API. Create it
// with [New]; it is safe for concurrent use.
type Server struct {
	cfg     Config
	slots   chan struct{}
	waiting atomic.Int64
	mux     *http.ServeMux
	created int64
}

// ErrConfig means a Config is invalid; the message names the field.
var ErrConfig = errors.New("serve: invalid configuration")

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, fmt.Errorf("%w: Client is nil", ErrConfig)
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, fmt.Errorf("%w: Model is empty", ErrConfig)
	}
	if cfg.MaxActive < 0 {
		return nil, fmt.Errorf("%w: MaxActive %d is negative", ErrConfig, cfg.MaxActive)
	}
	if cfg.MaxActive == 0 {
		cfg.MaxActive = 1
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 16
	}
	if cfg.MaxQueue < 0 {
		cfg.MaxQueue = 0
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	s := &Server{cfg: cfg, slots: make(chan struct{}, cfg.MaxActive), mux: http.NewServeMux(), created: time.Now().Unix()}
	s.mux.HandleFunc("GET /v1/models", s.models)
	s.mux.HandleFunc("POST /v1/chat/completions", s.chat)
	return s, nil
}

// ServeHTTP checks the API key and routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.APIKey != "" {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.APIKey)) != 1 {
			writeError(w, http.StatusUnauthorized, "invalid_api_key", "", "missing or wrong API key")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// apiError is OpenAI's error body.
type apiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, typ, param, msg string) {
	var e apiError
	e.Error.Message, e.Error.Type = msg, typ
	if param != "" {
		e.Error.Param = &param
	}
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{
		map[string]any{"id": s.cfg.Model, "object": "model", "created": s.created, "owned_by": "toolbrain"},
	}})
}

// chatRequest is the part of a chat-completions request that is read.
type chatRequest struct {
	Model       string          `json:"model"`
	Messages    []chatMessage   `json:"messages"`
	MaxTokens   *int            `json:"max_tokens"`
	MaxCompl    *int            `json:"max_completion_tokens"`
	Temperature *float64        `json:"temperature"`
	Stop        json.RawMessage `json:"stop"`
	Stream      bool            `json:"stream"`
	N           *int            `json:"n"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCallID string          `json:"tool_call_id"`
	ToolCalls  []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// badField is a request error naming its field.
type badField struct{ param, msg string }

func (b *badField) Error() string { return b.param + ": " + b.msg }

// parseRequest turns a body into an sdk.LLMRequest.
func parseRequest(body []byte) (sdk.LLMRequest, bool, error) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return sdk.LLMRequest{}, false, &badField{"", "body is not a valid JSON request: " + err.Error()}
	}
	if len(req.Messages) == 0 {
		return sdk.LLMRequest{}, false, &badField{"messages", "messages must be a non-empty array"}
	}
	out := sdk.LLMRequest{Messages: make([]sdk.Message, len(req.Messages))}
	for i, m := range req.Messages {
		p := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		default:
			return out, false, &badField{p + ".role", fmt.Sprintf("unknown role %q", m.Role)}
		}
		text, err := contentText(m.Content)
		if err != nil {
			return out, false, &badField{p + ".content", err.Error()}
		}
		out.Messages[i] = sdk.Message{Role: m.Role, Content: text, ToolCallID: m.ToolCallID}
		for j, c := range m.ToolCalls {
			args := json.RawMessage(c.Function.Arguments)
			if c.Function.Name == "" || (len(args) > 0 && !json.Valid(args)) {
				return out, false, &badField{fmt.Sprintf("%s.tool_calls[%d].function", p, j), "a tool call needs a name and JSON arguments"}
			}
			out.Messages[i].ToolCalls = append(out.Messages[i].ToolCalls, sdk.ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: args})
		}
	}
	if req.N != nil && *req.N != 1 {
		return out, false, &badField{"n", "only n=1 is supported"}
	}
	mt := req.MaxTokens
	if req.MaxCompl != nil {
		mt = req.MaxCompl
	}
	if mt != nil {
		if *mt < 1 {
			return out, false, &badField{"max_tokens", "max_tokens must be at least 1"}
		}
		out.MaxTokens = *mt
	}
	if req.Temperature != nil {
		if *req.Temperature < 0 || *req.Temperature > 2 {
			return out, false, &badField{"temperature", "temperature must be between 0 and 2"}
		}
		out.Temperature = *req.Temperature
	} else {
		out.Temperature = 1
	}
	if len(req.Stop) > 0 && string(req.Stop) != "null" {
		var one string
		if json.Unmarshal(req.Stop, &one) == nil {
			out.Stop = []string{one}
		} else if err := json.Unmarshal(req.Stop, &out.Stop); err != nil {
			return out, false, &badField{"stop", "stop must be a string or an array of strings"}
		}
		for _, st := range out.Stop {
			if st == "" {
				return out, false, &badField{"stop", "stop strings must not be empty"}
			}
		}
	}
	return out, req.Stream, nil
}

// contentText reads a message content: a string, null, or an array of text
// parts.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content must be a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part type %q is not supported", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// acquire takes a slot, waiting in the bounded queue; false means the queue
// is full or the client left.
func (s *Server) acquire(ctx context.Context) (bool, error) {
	select {
	case s.slots <- struct{}{}:
		return true, nil
	default:
	}
	if s.waiting.Add(1) > int64(s.cfg.MaxQueue) {
		s.waiting.Add(-1)
		return false, nil
	}
	defer s.waiting.Add(-1)
	select {
	case s.slots <- struct{}{}:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "", "request body too large or unreadable")
		return
	}
	req, stream, err := parseRequest(body)
	var bf *badField
	if errors.As(err, &bf) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", bf.param, bf.Error())
		return
	}
	ok, err := s.acquire(r.Context())
	if err != nil {
		return // the client left while queued
	}
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int((s.cfg.RetryAfter+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "rate_limit_error", "", "server busy: the request queue is full")
		return
	}
	defer func() { <-s.slots }()
	resp, err := s.cfg.Client.Complete(r.Context(), req)
	if err != nil {
		switch {
		case r.Context().Err() != nil:
			return
		case errors.Is(err, generate.ErrPromptTooLong):
			writeError(w, http.StatusBadRequest, "invalid_request_error", "messages", "the prompt is longer than the model's context: "+err.Error())
		case errors.Is(err, llm.ErrRequest):
			writeError(w, http.StatusBadRequest, "invalid_request_error", "messages", err.Error())
		default:
			writeError(w, http.StatusInternalServerError, "server_error", "", err.Error())
		}
		return
	}
	id := "chatcmpl-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	now := time.Now().Unix()
	if !stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "object": "chat.completion", "created": now, "model": s.cfg.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": resp.Text}}},
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	chunk := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": now, "model": s.cfg.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
	}
	chunk(map[string]any{"role": "assistant", "content": resp.Text}, nil)
	chunk(map[string]any{}, "stop")
	fmt.Fprint(w, "data: [DONE]\n\n")
}
