package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/serve"
	"github.com/toolbrain/toolbrain/sdk"
)

// tinyConfig is a random two-layer Llama with a short context.
var tinyConfig = model.Config{Architecture: model.Llama, HiddenSize: 64, IntermediateSize: 176,
	NumHiddenLayers: 2, NumAttentionHeads: 4, NumKeyValueHeads: 2, RopeTheta: 10000, RMSNormEps: 1e-6,
	VocabSize: 512, MaxPositionEmbeddings: 64, TorchDType: "float32", HiddenAct: "silu"}

// endpoint returns the base URL and key of the server the tests drive:
// TOOLBRAIN_TEST_OPENAI_URL (with the key in the variable named by
// TOOLBRAIN_TEST_OPENAI_KEY_ENV) when set, else a toolbrain serve on
// loopback over a tiny random checkpoint.
func endpoint(t *testing.T) (url, key, modelID string) {
	t.Helper()
	if u := os.Getenv("TOOLBRAIN_TEST_OPENAI_URL"); u != "" {
		return u, os.Getenv(os.Getenv("TOOLBRAIN_TEST_OPENAI_KEY_ENV")), os.Getenv("TOOLBRAIN_TEST_OPENAI_MODEL")
	}
	// A 64-position context, so that a long prompt overflows it.
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := checkpoint.Init(dir, tinyConfig, 1); err != nil {
		t.Fatal(err)
	}
	local, err := llm.OpenLocal(llm.LocalConfig{Model: dir, Options: llm.LocalOptions{MaxTokens: 8}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	s, err := serve.New(serve.Config{Client: local, Model: "tiny", APIKey: "sekrit"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", "sekrit", "tiny"
}

// TestServe_Client drives the server with core/llm's OpenAI client.
func TestServe_Client(t *testing.T) {
	url, key, id := endpoint(t)
	c, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: url, APIKey: key, Model: id, MaxTokens: 6, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q := sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: "Is 42 right?"}}}
	a, err := c.Complete(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Complete(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if a.Text != b.Text {
		t.Errorf("greedy answers differ: %q then %q", a.Text, b.Text)
	}
	long := sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: strings.Repeat("word ", 200)}}}
	_, err = c.Complete(ctx, long)
	var se *llm.StatusError
	if os.Getenv("TOOLBRAIN_TEST_OPENAI_URL") == "" && (!errors.As(err, &se) || se.StatusCode != http.StatusBadRequest) {
		t.Errorf("over-long prompt: err %v, want a 400", err)
	}
}

func post(t *testing.T, url, key, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestServe_BadRequests checks the status and the named field of errors.
func TestServe_BadRequests(t *testing.T) {
	url, key, _ := endpoint(t)
	tests := []struct {
		name, key, body string
		status          int
		param           string
	}{
		{"wrong key", "nope", `{"messages":[{"role":"user","content":"hi"}]}`, 401, ""},
		{"not json", key, `{`, 400, ""},
		{"no messages", key, `{"messages":[]}`, 400, "messages"},
		{"bad role", key, `{"messages":[{"role":"robot","content":"hi"}]}`, 400, "messages[0].role"},
		{"bad content", key, `{"messages":[{"role":"user","content":7}]}`, 400, "messages[0].content"},
		{"bad max_tokens", key, `{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, 400, "max_tokens"},
		{"bad temperature", key, `{"messages":[{"role":"user","content":"hi"}],"temperature":3}`, 400, "temperature"},
		{"bad stop", key, `{"messages":[{"role":"user","content":"hi"}],"stop":[1]}`, 400, "stop"},
		{"n=2", key, `{"messages":[{"role":"user","content":"hi"}],"n":2}`, 400, "n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := post(t, url, tt.key, tt.body)
			if code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, body)
			}
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" {
				t.Fatalf("body %q is not an OpenAI error (%v)", body, err)
			}
			if tt.param != "" && (e.Error.Param == nil || *e.Error.Param != tt.param) {
				t.Errorf("param %v, want %q", e.Error.Param, tt.param)
			}
		})
	}
}

// TestServe_Stream checks the server-sent events of a streamed request.
func TestServe_Stream(t *testing.T) {
	url, key, _ := endpoint(t)
	code, h, body := post(t, url, key, `{"messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":4,"temperature":0}`)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, type %q", code, h.Get("Content-Type"))
	}
	if !strings.HasSuffix(body, "data: [DONE]\n\n") || !strings.Contains(body, `"chat.completion.chunk"`) {
		t.Errorf("stream %q lacks chunks or [DONE]", body)
	}
}

// gate is a client that holds every call until released or cancelled.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func (g *gate) Complete(ctx context.Context, _ sdk.LLMRequest) (sdk.LLMResponse, error) {
	g.entered <- struct{}{}
	select {
	case <-g.release:
		return sdk.LLMResponse{Text: "done"}, nil
	case <-ctx.Done():
		return sdk.LLMResponse{}, ctx.Err()
	}
}

// TestServe_Queue checks that a full queue answers 429 with Retry-After and
// that a client that disconnects frees its slot.
func TestServe_Queue(t *testing.T) {
	g := &gate{entered: make(chan struct{}, 8), release: make(chan struct{})}
	s, err := serve.New(serve.Config{Client: g, Model: "m", MaxActive: 1, MaxQueue: -1, RetryAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	body := `{"messages":[{"role":"user","content":"hi"}]}`
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-g.entered
	code, h, _ := post(t, srv.URL+"/v1", "", body)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") != "2" {
		t.Fatalf("busy server: status %d, Retry-After %q; want 429, 2", code, h.Get("Retry-After"))
	}
	cancel() // the first client leaves: its slot must come free
	<-done
	go func() { <-g.entered; close(g.release) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, _ = post(t, srv.URL+"/v1", "", body)
		if code == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code != 200 {
		t.Fatalf("after the disconnect: status %d, want 200", code)
	}
}

func TestNew_Errors(t *testing.T) {
	tests := []struct {
		name string
		cfg  serve.Config
	}{
		{"no client", serve.Config{Model: "m"}},
		{"no model", serve.Config{Client: &gate{}}},
		{"negative active", serve.Config{Client: &gate{}, Model: "m", MaxActive: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := serve.New(tt.cfg); !errors.Is(err, serve.ErrConfig) {
				t.Errorf("err %v, want ErrConfig", err)
			}
		})
	}
}
