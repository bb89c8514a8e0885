package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/core/serve"
	"github.com/toolbrain/toolbrain/sdk"
)

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
		{"bad top_p", key, `{"messages":[{"role":"user","content":"hi"}],"top_p":0}`, 400, "top_p"},
		{"top_logprobs alone", key, `{"messages":[{"role":"user","content":"hi"}],"top_logprobs":2}`, 400, "top_logprobs"},
		{"top_logprobs too many", key, `{"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":21}`, 400, "top_logprobs"},
		{"bad max_completion_tokens", key, `{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":-1}`, 400, "max_completion_tokens"},
		{"tool type", key, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"retrieval"}]}`, 400, "tools[0].type"},
		{"tool name", key, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"a b"}}]}`, 400, "tools[0].function.name"},
		{"tool twice", key, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]}`, 400, "tools[1].function.name"},
		{"tool parameters", key, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":[1]}}]}`, 400, "tools[0].function.parameters"},
		{"tool_choice unknown", key, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"always"}`, 400, "tool_choice"},
		{"required without tools", key, `{"messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}`, 400, "tool_choice"},
		{"named tool missing", key, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, 400, "tool_choice"},
		{"history call without name", key, `{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]}`, 400, "messages[0].tool_calls[0].function"},
		{"history call bad arguments", key, `{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{"}}]}]}`, 400, "messages[0].tool_calls[0].function"},
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

// TestServe_Queue checks that a full queue answers 429 with Retry-After and
// that a client that disconnects while its answer decodes frees its slot.
func TestServe_Queue(t *testing.T) {
	entered := make(chan struct{}, 1)
	step := func() {
		select {
		case entered <- struct{}{}:
		default:
		}
		time.Sleep(2 * time.Millisecond)
	}
	long := strings.Repeat("la ", 3000)
	url := start(t, openTiny(t).scripted(func(string) string { return long }, step),
		serve.Config{MaxActive: 1, MaxQueue: -1, RetryAfter: 2 * time.Second})
	body := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":5000,"stream":true}`
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/chat/completions", strings.NewReader(body))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-entered
	code, h, _ := post(t, url, "", body)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") != "2" {
		t.Fatalf("busy server: status %d, Retry-After %q; want 429, 2", code, h.Get("Retry-After"))
	}
	cancel() // the first client leaves mid-answer: its slot must come free
	<-done
	short := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}`
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, _ = post(t, url, "", short)
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
	e, err := serve.NewEngine(openTiny(t).cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  serve.Config
	}{
		{"no engine", serve.Config{Model: "m"}},
		{"no model", serve.Config{Engine: e}},
		{"negative active", serve.Config{Engine: e, Model: "m", MaxActive: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := serve.New(tt.cfg); !errors.Is(err, serve.ErrConfig) {
				t.Errorf("err %v, want ErrConfig", err)
			}
		})
	}
}
