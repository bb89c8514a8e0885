// Package serve is an OpenAI-compatible HTTP server on this machine's model:
// /v1/models and /v1/chat/completions answered by an [Engine].
//
// The engine renders a request's messages and tools with the model's chat
// template (tool_choice none, auto, required or a named function; required
// and named calls are forced by writing the call's opening for the model),
// decodes with continuous batching (generate.Batcher: requests join the
// running batch between decode steps and leave it when done or when the
// client disconnects), and parses tool calls back into OpenAI's tool_calls.
// temperature, top_p, seed, max_tokens, stop, logprobs and top_logprobs are
// honoured; stream: true sends content as server-sent events token by
// token (tool calls at the end). The server bounds concurrent requests with
// a queue that answers 429 with Retry-After when full, checks an optional
// API key in constant time, and answers bad requests with OpenAI-style
// error JSON naming the field at fault.
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
	"github.com/toolbrain/toolbrain/sdk"
)

// MaxBodyBytes caps a request body.
const MaxBodyBytes = 4 << 20

// Config configures a [Server].
type Config struct {
	// Engine answers the completions; required.
	Engine *Engine
	// Model is the id listed by /v1/models and echoed in answers; required.
	Model string
	// APIKey, when not empty, must be sent as "Authorization: Bearer APIKey".
	APIKey string
	// MaxActive is how many requests are answered at a time; 0 means the
	// engine's Rows.
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
	if cfg.Engine == nil {
		return nil, fmt.Errorf("%w: Engine is nil", ErrConfig)
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, fmt.Errorf("%w: Model is empty", ErrConfig)
	}
	if cfg.MaxActive < 0 {
		return nil, fmt.Errorf("%w: MaxActive %d is negative", ErrConfig, cfg.MaxActive)
	}
	if cfg.MaxActive == 0 {
		cfg.MaxActive = cfg.Engine.cfg.Rows
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
	j, err := parseRequest(body)
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
	id := newID("chatcmpl-")
	now := time.Now().Unix()
	if j.stream {
		s.stream(w, r, j, id, now)
		return
	}
	c, err := s.cfg.Engine.complete(r.Context(), j, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	choice := map[string]any{"index": 0, "finish_reason": c.finish, "message": s.message(c), "logprobs": nil}
	if j.logprobs {
		choice["logprobs"] = map[string]any{"content": s.logprobs(c.logprobs), "refusal": nil}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "object": "chat.completion", "created": now, "model": s.cfg.Model,
		"choices": []any{choice}, "usage": usage(c),
	})
}

// fail answers a request the engine could not complete; nothing when the
// client left.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case r.Context().Err() != nil:
	case errors.Is(err, generate.ErrPromptTooLong):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "messages", "the prompt is longer than the model's context: "+err.Error())
	case errors.Is(err, errRequest):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "messages", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "server_error", "", err.Error())
	}
}

// stream answers j as server-sent events: a role chunk, content deltas as
// tokens are decoded (with their logprobs when asked), the tool calls at
// the end, a finish chunk, the usage when stream_options asks, and
// "data: [DONE]". An error before the first event is an ordinary error
// answer; after it, an error event ends the stream.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, j *job, id string, now int64) {
	rc := http.NewResponseController(w)
	started := false
	send := func(v map[string]any) {
		v["id"], v["object"], v["created"], v["model"] = id, "chat.completion.chunk", now, s.cfg.Model
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		_ = rc.Flush()
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": nil}}}
	}
	content := func(text string, lps []generate.Token) {
		if !started {
			started = true
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			send(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
		}
		if text == "" && (!j.logprobs || len(lps) == 0) {
			return
		}
		ch := chunk(map[string]any{"content": text}, nil)
		if j.logprobs {
			ch["choices"].([]any)[0].(map[string]any)["logprobs"] = map[string]any{"content": s.logprobs(lps)}
		}
		send(ch)
	}
	c, err := s.cfg.Engine.complete(r.Context(), j, content)
	if err != nil {
		if !started {
			s.fail(w, r, err)
		} else if r.Context().Err() == nil {
			var e apiError
			e.Error.Message, e.Error.Type = err.Error(), "server_error"
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		return
	}
	if j.toolsShown() {
		// Content was held back for the tool calls to be parsed out of it.
		content(c.text, c.logprobs)
	}
	content("", nil) // the role chunk, when nothing was sent
	if len(c.calls) > 0 {
		calls := s.toolCalls(c.calls)
		for i := range calls {
			calls[i]["index"] = i
		}
		send(chunk(map[string]any{"tool_calls": calls}, nil))
	}
	send(chunk(map[string]any{}, c.finish))
	if j.streamUsage {
		send(map[string]any{"choices": []any{}, "usage": usage(c)})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

// message is the assistant message of c.
func (s *Server) message(c completion) map[string]any {
	m := map[string]any{"role": "assistant", "content": c.text}
	if len(c.calls) > 0 {
		if c.text == "" {
			m["content"] = nil
		}
		m["tool_calls"] = s.toolCalls(c.calls)
	}
	return m
}

// toolCalls writes calls as OpenAI's tool_calls, arguments as a JSON string.
func (s *Server) toolCalls(calls []sdk.ToolCall) []map[string]any {
	out := make([]map[string]any, len(calls))
	for i, c := range calls {
		out[i] = map[string]any{"id": c.ID, "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": string(c.Arguments)}}
	}
	return out
}

// logprobEntry is one token of OpenAI's logprobs.content.
type logprobEntry struct {
	Token   string         `json:"token"`
	Logprob float32        `json:"logprob"`
	Bytes   []int          `json:"bytes"`
	Top     []logprobEntry `json:"top_logprobs"`
}

// logprobs writes tokens as OpenAI's logprobs.content.
func (s *Server) logprobs(tokens []generate.Token) []logprobEntry {
	tok := s.cfg.Engine.cfg.Tokenizer
	entry := func(id int32, lp float32) logprobEntry {
		raw := tok.TokenBytes(id)
		b := make([]int, len(raw))
		for i, x := range raw {
			b[i] = int(x)
		}
		return logprobEntry{Token: string(raw), Logprob: lp, Bytes: b, Top: []logprobEntry{}}
	}
	out := make([]logprobEntry, len(tokens))
	for i, t := range tokens {
		out[i] = entry(t.ID, t.RawLogprob)
		for _, alt := range t.Top {
			out[i].Top = append(out[i].Top, entry(alt.ID, alt.Logprob))
		}
	}
	return out
}

func usage(c completion) map[string]int {
	return map[string]int{"prompt_tokens": c.promptTokens, "completion_tokens": c.completionTokens,
		"total_tokens": c.promptTokens + c.completionTokens}
}
