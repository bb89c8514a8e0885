package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/sdk"
)

// fastRetries are tiny waits so that retry tests take milliseconds.
func fastRetries(c llm.EndpointConfig) llm.EndpointConfig {
	c.Backoff, c.MaxRetryWait = time.Millisecond, 50*time.Millisecond
	return c
}

// ok writes a chat-completion answer holding text.
func ok(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": text}}},
	})
}

// script is a server answering request i with steps[min(i, last)], and
// counting requests.
type script struct {
	srv   *httptest.Server
	calls atomic.Int32
}

func newScript(t testing.TB, steps ...http.HandlerFunc) *script {
	t.Helper()
	s := &script{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(s.calls.Add(1)) - 1
		steps[min(i, len(steps)-1)](w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func question() sdk.LLMRequest {
	return sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: "Is 42 right?"}}}
}

func TestNewEndpoint_Errors(t *testing.T) {
	tests := []struct {
		name   string
		cfg    llm.EndpointConfig
		inMsg  string
		wantIs error
	}{
		{name: "empty url", cfg: llm.EndpointConfig{Model: "m"}, inMsg: "BaseURL is empty"},
		{name: "blank url", cfg: llm.EndpointConfig{BaseURL: "  ", Model: "m"}, inMsg: "BaseURL is empty"},
		{name: "no scheme", cfg: llm.EndpointConfig{BaseURL: "localhost:8000/v1", Model: "m"}, inMsg: "BaseURL"},
		{name: "ftp scheme", cfg: llm.EndpointConfig{BaseURL: "ftp://host/v1", Model: "m"}, inMsg: `scheme "ftp"`},
		{name: "no host", cfg: llm.EndpointConfig{BaseURL: "http:///v1", Model: "m"}, inMsg: "has no host"},
		{name: "query", cfg: llm.EndpointConfig{BaseURL: "http://h/v1?x=1", Model: "m"}, inMsg: "query or fragment"},
		{name: "unparsable", cfg: llm.EndpointConfig{BaseURL: "http://h/%zz", Model: "m"}, inMsg: "BaseURL"},
		{name: "empty model", cfg: llm.EndpointConfig{BaseURL: "http://h/v1"}, inMsg: "Model is empty"},
		{name: "blank model", cfg: llm.EndpointConfig{BaseURL: "http://h/v1", Model: " \t"}, inMsg: "Model is empty"},
		{name: "negative timeout", cfg: llm.EndpointConfig{BaseURL: "http://h/v1", Model: "m", Timeout: -time.Second}, inMsg: "Timeout is -1s"},
		{name: "negative backoff", cfg: llm.EndpointConfig{BaseURL: "http://h/v1", Model: "m", Backoff: -1}, inMsg: "Backoff"},
		{name: "negative max wait", cfg: llm.EndpointConfig{BaseURL: "http://h/v1", Model: "m", MaxRetryWait: -1}, inMsg: "MaxRetryWait"},
		{name: "negative max tokens", cfg: llm.EndpointConfig{BaseURL: "http://h/v1", Model: "m", MaxTokens: -5}, inMsg: "MaxTokens is -5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := llm.NewEndpoint(tt.cfg)
			if err == nil {
				t.Fatalf("NewEndpoint(%+v) = %v, want an error", tt.cfg, e.URL())
			}
			if !errors.Is(err, llm.ErrConfig) {
				t.Errorf("error %v does not wrap ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("error %q does not contain %q", err, tt.inMsg)
			}
		})
	}
}

func TestNewEndpoint_Defaults(t *testing.T) {
	tests := []struct {
		name    string
		cfg     llm.EndpointConfig
		url     string
		retries int
		tokens  int
	}{
		{name: "zero fields", cfg: llm.EndpointConfig{BaseURL: "http://localhost:8000/v1", Model: "m"},
			url: "http://localhost:8000/v1/chat/completions", retries: llm.DefaultMaxRetries, tokens: llm.DefaultMaxTokens},
		{name: "trailing slash and spaces", cfg: llm.EndpointConfig{BaseURL: " https://api.example.com/v1/ ", Model: " m ", MaxRetries: 5, MaxTokens: 9},
			url: "https://api.example.com/v1/chat/completions", retries: 5, tokens: 9},
		{name: "retries off", cfg: llm.EndpointConfig{BaseURL: "http://h", Model: "m", MaxRetries: -1},
			url: "http://h/chat/completions", retries: 0, tokens: llm.DefaultMaxTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := llm.NewEndpoint(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := e.Config()
			if e.URL() != tt.url || c.MaxRetries != tt.retries || c.MaxTokens != tt.tokens || c.Model != "m" {
				t.Errorf("URL %q, MaxRetries %d, MaxTokens %d, Model %q; want %q, %d, %d, \"m\"", e.URL(), c.MaxRetries, c.MaxTokens, c.Model, tt.url, tt.retries, tt.tokens)
			}
			if c.Timeout != llm.DefaultTimeout || c.Backoff != llm.DefaultBackoff || c.MaxRetryWait != llm.DefaultMaxRetryWait {
				t.Errorf("durations %v %v %v, want the defaults", c.Timeout, c.Backoff, c.MaxRetryWait)
			}
		})
	}
}

// TestEndpoint_Complete_RequestBody checks what goes over the wire.
func TestEndpoint_Complete_RequestBody(t *testing.T) {
	tests := []struct {
		name     string
		cfg      llm.EndpointConfig
		req      sdk.LLMRequest
		wantBody string // JSON, compared as decoded values
		wantAuth string
	}{
		{
			name:     "defaults, no key",
			cfg:      llm.EndpointConfig{Model: "judge-7b"},
			req:      question(),
			wantBody: `{"model":"judge-7b","messages":[{"role":"user","content":"Is 42 right?"}],"max_tokens":256,"temperature":0}`,
		},
		{
			name: "key, explicit fields",
			cfg:  llm.EndpointConfig{Model: "gpt-x", APIKey: "sk-test", MaxTokens: 99},
			req: sdk.LLMRequest{Messages: []sdk.Message{{Role: "system", Content: "Be terse."}, {Role: "user", Content: "Hi"}},
				MaxTokens: 7, Temperature: 0.5, Stop: []string{"\n", "END"}},
			wantBody: `{"model":"gpt-x","messages":[{"role":"system","content":"Be terse."},{"role":"user","content":"Hi"}],` +
				`"max_tokens":7,"temperature":0.5,"stop":["\n","END"]}`,
			wantAuth: "Bearer sk-test",
		},
		{
			name: "config max tokens, tool calls",
			cfg:  llm.EndpointConfig{Model: "m", MaxTokens: 99},
			req: sdk.LLMRequest{Messages: []sdk.Message{
				{Role: "user", Content: "6*7?"},
				{Role: "assistant", ToolCalls: []sdk.ToolCall{{ID: "c1", Name: "calc", Arguments: json.RawMessage(`{"x":6}`)}, {Name: "noargs"}}},
				{Role: "tool", Content: "42", ToolCallID: "c1"},
			}},
			wantBody: `{"model":"m","max_tokens":99,"temperature":0,"messages":[` +
				`{"role":"user","content":"6*7?"},` +
				`{"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"calc","arguments":"{\"x\":6}"}},` +
				`{"type":"function","function":{"name":"noargs","arguments":"{}"}}]},` +
				`{"role":"tool","content":"42","tool_call_id":"c1"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu                 sync.Mutex
				body               []byte
				method, path, auth string
				hasAuth            bool
				ctype              string
			)
			s := newScript(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				body, _ = io.ReadAll(r.Body)
				method, path, ctype = r.Method, r.URL.Path, r.Header.Get("Content-Type")
				_, hasAuth = r.Header["Authorization"]
				auth = r.Header.Get("Authorization")
				ok(w, "fine")
			})
			cfg := tt.cfg
			cfg.BaseURL = s.srv.URL + "/v1/"
			e, err := llm.NewEndpoint(cfg)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := e.Complete(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text != "fine" {
				t.Errorf("text %q, want %q", resp.Text, "fine")
			}
			mu.Lock()
			defer mu.Unlock()
			if method != http.MethodPost || path != "/v1/chat/completions" || ctype != "application/json" {
				t.Errorf("got %s %s (%s), want POST /v1/chat/completions (application/json)", method, path, ctype)
			}
			if tt.wantAuth == "" && hasAuth {
				t.Errorf("Authorization %q sent without an API key", auth)
			}
			if auth != tt.wantAuth {
				t.Errorf("Authorization %q, want %q", auth, tt.wantAuth)
			}
			var got, want any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if err := json.Unmarshal([]byte(tt.wantBody), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body\n got %s\nwant %s", body, tt.wantBody)
			}
		})
	}
}

// TestEndpoint_Complete covers the answers a server may give, one table.
func TestEndpoint_Complete(t *testing.T) {
	status := func(code int, body string, header ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(code)
			io.WriteString(w, body)
		}
	}
	answer := func(text string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { ok(w, text) }
	}
	hangUp := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	slow := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // else the server does not see the client hang up
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}
	tests := []struct {
		name      string
		steps     []http.HandlerFunc
		cfg       llm.EndpointConfig
		req       sdk.LLMRequest
		want      string
		wantIs    error
		inErr     []string
		calls     int32
		minWait   time.Duration // the call must take at least this long
		maxWait   time.Duration // and at most this long (0: 2 s)
		wantCode  int           // of a *StatusError
		wantRetry time.Duration // its RetryAfter
		syntax    bool          // the cause is a *json.SyntaxError (errors.As)
	}{
		{name: "success", steps: []http.HandlerFunc{answer("Yes.")}, want: "Yes.", calls: 1},
		{name: "empty content", steps: []http.HandlerFunc{answer("")}, want: "", calls: 1},
		{name: "null content", steps: []http.HandlerFunc{status(200, `{"choices":[{"message":{"role":"assistant","content":null}}]}`)}, want: "", calls: 1},
		{name: "stop string cut", steps: []http.HandlerFunc{answer("Yes. END and more")},
			req: sdk.LLMRequest{Messages: question().Messages, Stop: []string{"and", "END"}}, want: "Yes. ", calls: 1},
		{name: "openai error json", steps: []http.HandlerFunc{status(400, `{"error":{"message":"model 'x' not found","type":"invalid_request_error"}}`)},
			wantIs: llm.ErrStatus, inErr: []string{"/v1/chat/completions", "400 Bad Request", "model 'x' not found"}, calls: 1, wantCode: 400},
		{name: "plain error body", steps: []http.HandlerFunc{status(401, "<html>no key</html>")},
			wantIs: llm.ErrStatus, inErr: []string{"401 Unauthorized", "<html>no key</html>"}, calls: 1, wantCode: 401},
		{name: "long error body is cut", steps: []http.HandlerFunc{status(404, strings.Repeat("x", 5000))},
			wantIs: llm.ErrStatus, inErr: []string{"404 Not Found", strings.Repeat("x", 300) + "…"}, calls: 1, wantCode: 404},
		{name: "500 then success", steps: []http.HandlerFunc{status(500, "boom"), answer("ok")}, want: "ok", calls: 2},
		{name: "502 503 then success", steps: []http.HandlerFunc{status(502, ""), status(503, ""), answer("ok")}, want: "ok", calls: 3},
		{name: "429 with retry-after, capped", steps: []http.HandlerFunc{status(429, `{"error":{"message":"slow down"}}`, "Retry-After", "1"), answer("ok")},
			want: "ok", calls: 2, minWait: 45 * time.Millisecond, maxWait: 900 * time.Millisecond},
		{name: "429 with retry-after date", steps: []http.HandlerFunc{status(429, "", "Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)), answer("ok")},
			want: "ok", calls: 2, minWait: 45 * time.Millisecond, maxWait: 900 * time.Millisecond},
		{name: "retries exhausted", steps: []http.HandlerFunc{status(503, `{"error":{"message":"overloaded"}}`, "Retry-After", "7")},
			wantIs: llm.ErrStatus, inErr: []string{"giving up after 3 attempts", "503 Service Unavailable", "overloaded"}, calls: 3, wantCode: 503, wantRetry: 7 * time.Second},
		{name: "retries off", cfg: llm.EndpointConfig{MaxRetries: -1}, steps: []http.HandlerFunc{status(500, "boom"), answer("ok")},
			wantIs: llm.ErrStatus, inErr: []string{"500 Internal Server Error: boom"}, calls: 1, wantCode: 500},
		{name: "more retries", cfg: llm.EndpointConfig{MaxRetries: 4}, steps: []http.HandlerFunc{status(500, ""), status(500, ""), status(500, ""), status(500, ""), answer("ok")},
			want: "ok", calls: 5},
		{name: "400 not retried", steps: []http.HandlerFunc{status(400, "bad"), answer("ok")}, wantIs: llm.ErrStatus, calls: 1, wantCode: 400},
		{name: "connection dropped then success", steps: []http.HandlerFunc{hangUp, answer("ok")}, want: "ok", calls: 2},
		{name: "connection always dropped", steps: []http.HandlerFunc{hangUp}, inErr: []string{"giving up after 3 attempts", "/v1/chat/completions"}, calls: 3},
		{name: "attempt timeout then success", cfg: llm.EndpointConfig{Timeout: 50 * time.Millisecond}, steps: []http.HandlerFunc{slow, answer("ok")},
			want: "ok", calls: 2, minWait: 45 * time.Millisecond},
		{name: "attempt timeouts exhausted", cfg: llm.EndpointConfig{Timeout: 30 * time.Millisecond, MaxRetries: 1}, steps: []http.HandlerFunc{slow},
			wantIs: context.DeadlineExceeded, inErr: []string{"giving up after 2 attempts", "no answer within 30ms"}, calls: 2},
		{name: "invalid json", steps: []http.HandlerFunc{status(200, "<html>proxy page</html>"), answer("ok")},
			wantIs: llm.ErrResponse, inErr: []string{"not chat-completion JSON", "<html>proxy page</html>"}, calls: 1, syntax: true},
		{name: "empty choices", steps: []http.HandlerFunc{status(200, `{"choices":[]}`)},
			wantIs: llm.ErrResponse, inErr: []string{"no choices"}, calls: 1},
		{name: "no choices key", steps: []http.HandlerFunc{status(200, `{"object":"chat.completion"}`)},
			wantIs: llm.ErrResponse, inErr: []string{"no choices"}, calls: 1},
		{name: "empty messages", steps: []http.HandlerFunc{answer("x")}, req: sdk.LLMRequest{MaxTokens: 3},
			wantIs: llm.ErrRequest, inErr: []string{"messages is empty"}, calls: 0},
		{name: "message without role", steps: []http.HandlerFunc{answer("x")}, req: sdk.LLMRequest{Messages: []sdk.Message{{Content: "hi"}}},
			wantIs: llm.ErrRequest, inErr: []string{"messages[0] has no role"}, calls: 0},
		{name: "negative max tokens", steps: []http.HandlerFunc{answer("x")}, req: sdk.LLMRequest{Messages: question().Messages, MaxTokens: -1},
			wantIs: llm.ErrRequest, inErr: []string{"max_tokens is -1"}, calls: 0},
		{name: "negative temperature", steps: []http.HandlerFunc{answer("x")}, req: sdk.LLMRequest{Messages: question().Messages, Temperature: -0.1},
			wantIs: llm.ErrRequest, inErr: []string{"temperature is -0.1"}, calls: 0},
		{name: "empty stop string", steps: []http.HandlerFunc{answer("x")}, req: sdk.LLMRequest{Messages: question().Messages, Stop: []string{"a", ""}},
			wantIs: llm.ErrRequest, inErr: []string{"stop[1] is empty"}, calls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScript(t, tt.steps...)
			cfg := fastRetries(tt.cfg)
			cfg.BaseURL, cfg.Model = s.srv.URL+"/v1", "m"
			e, err := llm.NewEndpoint(cfg)
			if err != nil {
				t.Fatal(err)
			}
			req := tt.req
			if req.Messages == nil && req.MaxTokens == 0 {
				req = question()
			}
			start := time.Now()
			resp, err := e.Complete(context.Background(), req)
			took := time.Since(start)
			if n := s.calls.Load(); n != tt.calls {
				t.Errorf("%d requests, want %d", n, tt.calls)
			}
			maxWait := tt.maxWait
			if maxWait == 0 {
				maxWait = 2 * time.Second
			}
			if took < tt.minWait || took > maxWait {
				t.Errorf("took %v, want between %v and %v", took, tt.minWait, maxWait)
			}
			if tt.inErr == nil && tt.wantIs == nil {
				if err != nil {
					t.Fatalf("error %v, want text %q", err, tt.want)
				}
				if resp.Text != tt.want {
					t.Errorf("text %q, want %q", resp.Text, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("text %q, want an error", resp.Text)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
			var syn *json.SyntaxError
			if errors.As(err, &syn) != tt.syntax {
				t.Errorf("error %v: wraps a *json.SyntaxError: %v, want %v", err, !tt.syntax, tt.syntax)
			}
			for _, sub := range tt.inErr {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not contain %q", err, sub)
				}
			}
			var se *llm.StatusError
			if errors.As(err, &se) != (tt.wantCode != 0) {
				t.Fatalf("error %v: StatusError %v, want one: %v", err, se, tt.wantCode != 0)
			}
			if se != nil && (se.StatusCode != tt.wantCode || se.RetryAfter != tt.wantRetry || !strings.HasSuffix(se.URL, "/v1/chat/completions")) {
				t.Errorf("StatusError %+v, want code %d, RetryAfter %v", se, tt.wantCode, tt.wantRetry)
			}
		})
	}
}

// TestEndpoint_Complete_Context checks that the caller's context stops the
// request in flight and the wait between attempts.
func TestEndpoint_Complete_Context(t *testing.T) {
	// The server notices a client hanging up only once the body is read.
	hang := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	unavailable := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "10")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	tests := []struct {
		name   string
		step   http.HandlerFunc
		ctx    func() (context.Context, context.CancelFunc)
		wantIs error
		alsoAs bool // the last attempt's *llm.StatusError stays in the chain too
		inErr  string
		calls  int32
	}{
		{name: "cancelled in flight", step: hang, wantIs: context.Canceled, calls: 1,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			}},
		{name: "cancelled before the call", step: hang, wantIs: context.Canceled, calls: 0,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			}},
		{name: "deadline in flight", step: hang, wantIs: context.DeadlineExceeded, calls: 1,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			}},
		{name: "cancelled while waiting to retry", step: unavailable, wantIs: context.Canceled, alsoAs: true, inErr: "waiting to retry", calls: 1,
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			}},
		{name: "deadline before the next attempt", step: unavailable, wantIs: llm.ErrStatus, inErr: "would start after the deadline", calls: 1,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 1500*time.Millisecond)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScript(t, tt.step)
			e, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: s.srv.URL, Model: "m", MaxRetryWait: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			_, err = e.Complete(ctx, question())
			if took := time.Since(start); took > time.Second {
				t.Errorf("returned after %v, want well under 1s", took)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v, want one wrapping %v", err, tt.wantIs)
			}
			var se *llm.StatusError
			if tt.alsoAs && (!errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable) {
				t.Errorf("error %v, want one wrapping the 503 *llm.StatusError as well", err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.inErr) {
				t.Errorf("error %q does not contain %q", err, tt.inErr)
			}
			if n := s.calls.Load(); n != tt.calls {
				t.Errorf("%d requests, want %d", n, tt.calls)
			}
		})
	}
}

// TestEndpoint_Complete_Concurrent runs calls from several goroutines on one
// Endpoint (run with -race).
func TestEndpoint_Complete_Concurrent(t *testing.T) {
	s := newScript(t, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []sdk.Message `json:"messages"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		ok(w, "echo "+req.Messages[0].Content)
	})
	e, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: s.srv.URL, Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			q := strings.Repeat("q", i+1)
			resp, err := e.Complete(context.Background(), sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: q}}})
			if err != nil || resp.Text != "echo "+q {
				t.Errorf("call %d: %q, %v; want %q", i, resp.Text, err, "echo "+q)
			}
		})
	}
	wg.Wait()
}

// BenchmarkEndpoint_Complete measures one call's overhead against a local
// server: encoding, the HTTP round trip on loopback, decoding.
func BenchmarkEndpoint_Complete(b *testing.B) {
	s := newScript(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		ok(w, "Yes.")
	})
	e, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: s.srv.URL + "/v1", Model: "m"})
	if err != nil {
		b.Fatal(err)
	}
	req := question()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Complete(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
