package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/core/serve"
	"github.com/toolbrain/toolbrain/core/serve/servetest"
	"github.com/toolbrain/toolbrain/sdk"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs `toolbrain serve` on 127.0.0.1:0 over a tiny model with
// an API key, and returns its base URL, key and model id.
func startServe(t *testing.T) (url, key, id string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	mustTB(t, "model", "init", "--out", dir, "--hidden", "32", "--layers", "1", "--heads", "2", "--ffn", "64", "--vocab", "300", "--max-pos", "128")
	t.Setenv("TB_SERVE_TEST_KEY", "k3y")
	ctx, cancel := context.WithCancel(context.Background())
	var errs lockedBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--model", dir, "--addr", "127.0.0.1:0", "--api-key-env", "TB_SERVE_TEST_KEY", "--max-tokens", "6"}, &bytes.Buffer{}, &errs)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, errs.String())
		}
	})
	re := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+/v1)`)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(errs.String()); m != nil {
			return m[1], "k3y", dir
		}
	}
	t.Fatalf("serve did not start: %s", errs.String())
	return "", "", ""
}

// TestServe_CLI drives `toolbrain serve` with core/llm's client.
func TestServe_CLI(t *testing.T) {
	url, key, id := startServe(t)
	for _, tt := range []struct {
		name, key string
		wantErr   bool
	}{{"right key", key, false}, {"wrong key", "nope", true}} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: url, APIKey: tt.key, Model: id, MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Complete(context.Background(), sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: "hi"}}})
			if (err != nil) != tt.wantErr {
				t.Errorf("err %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// TestServe_OpenAINode drives `toolbrain serve` with the official openai
// npm package (testdata/openai-node), installed with npm ci into a temp
// copy. It skips where node or npm is missing.
func TestServe_OpenAINode(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("node and npm are needed to run the official openai client (testdata/openai-node); install Node.js to run this test")
	}
	work := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "check.mjs"} {
		b, err := os.ReadFile(filepath.Join("testdata", "openai-node", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ci := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	ci.Dir = work
	if out, err := ci.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	url, key, id := startServe(t)
	cmd := exec.CommandContext(ctx, node, "check.mjs", url, key, id, scriptedServe(t, id))
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node check.mjs: %v\n%s", err, out)
	}
	var got struct {
		Plain         *string `json:"plain"`
		Streamed      *string `json:"streamed"`
		ToolRoundTrip *string `json:"tool_round_trip"`
		Chunks        int
		Bad           struct {
			Status int
			Param  string
		}
		ToolCall         toolCallSeen `json:"tool_call"`
		StreamedToolCall toolCallSeen `json:"streamed_tool_call"`
		ToolAnswer       string       `json:"tool_answer"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	if got.Plain == nil || got.Streamed == nil || got.ToolRoundTrip == nil {
		t.Fatalf("missing answers in %s", out)
	}
	if *got.Plain != *got.Streamed || got.Chunks < 2 {
		t.Errorf("greedy plain %q and streamed %q (%d chunks) differ", *got.Plain, *got.Streamed, got.Chunks)
	}
	if got.Bad.Status != 400 || got.Bad.Param != "messages" {
		t.Errorf("empty messages: %+v, want 400 naming messages", got.Bad)
	}
	for _, c := range []struct {
		name string
		call toolCallSeen
	}{{"plain", got.ToolCall}, {"streamed", got.StreamedToolCall}} {
		if c.call.Finish != "tool_calls" || c.call.Name != "add" || c.call.Arguments["a"] != 2 || c.call.Arguments["b"] != 3 {
			t.Errorf("%s tool call %+v, want add(a=2, b=3) with finish_reason tool_calls", c.name, c.call)
		}
	}
	if got.ToolAnswer != "The sum is 5." {
		t.Errorf("answer after the tool result %q, want the scripted one (the result did not reach the prompt?)", got.ToolAnswer)
	}
}

// toolCallSeen is a tool call as check.mjs reports it.
type toolCallSeen struct {
	Finish    string
	Name      string
	Arguments map[string]float64
	ID        string
}

// scriptedServe serves the tokenizer and chat template of the checkpoint
// dir on a scripted model that calls add(2, 3) when the prompt shows the
// tool and answers "The sum is 5." once the prompt holds the result 5.
func scriptedServe(t *testing.T, dir string) string {
	t.Helper()
	ck, tok, tmpl := servetest.OpenChat(t, dir)
	reply := func(prompt string) string {
		switch {
		case strings.Contains(prompt, "tool\n5<|im_end|>"):
			return "The sum is 5."
		case strings.Contains(prompt, "Adds two numbers."):
			return `<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>`
		}
		return "I see no tools."
	}
	stops := ck.StopTokenIDs(tok)
	e, err := serve.NewEngine(serve.EngineConfig{Model: &servetest.Scripted{Tokenizer: tok, Reply: reply, Stop: stops[0]},
		Tokenizer: tok, Template: tmpl, StopTokenIDs: stops})
	if err != nil {
		t.Fatal(err)
	}
	s, err := serve.New(serve.Config{Engine: e, Model: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}
