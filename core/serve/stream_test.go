package serve_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/serve"
)

// chunk is the part of a streamed chunk the tests read.
type chunk struct {
	Choices []struct {
		Delta struct {
			Role      *string `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    int `json:"index"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
		Logprobs     *struct {
			Content []struct {
				Token string `json:"token"`
			} `json:"content"`
		} `json:"logprobs"`
	} `json:"choices"`
	Usage *struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// streamChunks posts a streamed request and returns its chunks, failing
// unless the stream is well formed (data lines, [DONE] last).
func streamChunks(t *testing.T, url, body string) []chunk {
	t.Helper()
	resp, err := http.Post(url+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []chunk
	sc := bufio.NewScanner(resp.Body)
	done := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || done {
			t.Fatalf("line %q (after [DONE]: %v)", line, done)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %s: %v", data, err)
		}
		out = append(out, c)
	}
	if !done {
		t.Fatal("no data: [DONE]")
	}
	return out
}

// TestServe_Stream checks that content streams token by token: several
// content chunks, together the plain answer, nothing past a stop string,
// the finish reason and the usage last; tool calls come at the end.
func TestServe_Stream(t *testing.T) {
	reply := func(p string) string {
		if strings.Contains(p, "Adds.") {
			return `<tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>`
		}
		return "Hello there, this is streamed é token by token."
	}
	// A step of 2 ms lets the handler see tokens as they come.
	url := start(t, openTiny(t).scripted(reply, func() { time.Sleep(2 * time.Millisecond) }), serve.Config{})
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, body, want, finish string
		minContent               int
		call                     string
	}{
		{"text", `{` + msgs + `,"stream":true,"stream_options":{"include_usage":true}}`, "Hello there, this is streamed é token by token.", "stop", 10, ""},
		{"stop string", `{` + msgs + `,"stream":true,"stop":["is str"]}`, "Hello there, this ", "stop", 3, ""},
		{"length", `{` + msgs + `,"stream":true,"max_tokens":5}`, "Hello the", "length", 2, ""},
		{"tool call", `{` + msgs + `,"stream":true,"tools":[{"type":"function","function":{"name":"add","description":"Adds."}}]}`, "", "tool_calls", 0, `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks := streamChunks(t, url, tt.body)
			var text strings.Builder
			contents, calls := 0, ""
			finish := ""
			for i, c := range chunks {
				if c.Usage != nil {
					if i != len(chunks)-1 || len(c.Choices) != 0 || c.Usage.CompletionTokens == 0 {
						t.Errorf("usage chunk %d of %d: %+v", i, len(chunks), c)
					}
					continue
				}
				if len(c.Choices) != 1 {
					t.Fatalf("chunk %d has %d choices", i, len(c.Choices))
				}
				d := c.Choices[0].Delta
				if (i == 0) != (d.Role != nil) {
					t.Errorf("chunk %d: role %v (want the role in the first chunk only)", i, d.Role)
				}
				if d.Content != nil && *d.Content != "" {
					contents++
					text.WriteString(*d.Content)
				}
				for _, tc := range d.ToolCalls {
					calls += tc.Function.Name + tc.Function.Arguments
				}
				if f := c.Choices[0].FinishReason; f != nil {
					finish = *f
				}
			}
			if text.String() != tt.want || contents < tt.minContent {
				t.Errorf("content %q in %d chunks, want %q in at least %d", text.String(), contents, tt.want, tt.minContent)
			}
			if finish != tt.finish {
				t.Errorf("finish_reason %q, want %q", finish, tt.finish)
			}
			if tt.call != "" && calls != "add"+tt.call {
				t.Errorf("tool calls %q, want add%s", calls, tt.call)
			}
		})
	}
}

// TestServe_Sampling checks seed, top_p and logprobs on the tiny model: the
// same seeded request gets the same answer (also while others decode), the
// seed matters, and logprobs have OpenAI's shape with the greedy pick first.
func TestServe_Sampling(t *testing.T) {
	cfg := openTiny(t).cfg
	cfg.Rows, cfg.StopTokenIDs = 4, []int32{}
	url := start(t, cfg, serve.Config{})
	ask := func(seed int) string {
		body := fmt.Sprintf(`{"messages":[{"role":"user","content":"Tell me"}],"temperature":1.2,"top_p":0.95,"seed":%d,"max_tokens":12}`, seed)
		return *complete(t, url, "", body).Choices[0].Message.Content
	}
	first := ask(1)
	var wg sync.WaitGroup
	again := make([]string, 3)
	for i := range again {
		wg.Go(func() { again[i] = ask(1) })
	}
	wg.Wait()
	for i, a := range again {
		if a != first {
			t.Errorf("seed 1, run %d: %q, first run %q", i, a, first)
		}
	}
	differ := false
	for seed := 2; seed < 6 && !differ; seed++ {
		differ = ask(seed) != first
	}
	if !differ {
		t.Errorf("seeds 1 to 5 all gave %q", first)
	}

	a := complete(t, url, "", `{"messages":[{"role":"user","content":"Tell me"}],"temperature":0,"max_tokens":6,"logprobs":true,"top_logprobs":3}`)
	lp := a.Choices[0].Logprobs
	if lp == nil || len(lp.Content) != a.Usage.CompletionTokens || len(lp.Content) != 6 {
		t.Fatalf("logprobs %+v for %d tokens", lp, a.Usage.CompletionTokens)
	}
	var text strings.Builder
	for i, e := range lp.Content {
		text.WriteString(e.Token)
		if len(e.Top) != 3 || e.Top[0].Token != e.Token || math.Abs(e.Top[0].Logprob-e.Logprob) > 1e-5 || e.Logprob > 0 || len(e.Bytes) == 0 {
			t.Errorf("token %d: %+v", i, e)
		}
		if e.Top[0].Logprob < e.Top[1].Logprob || e.Top[1].Logprob < e.Top[2].Logprob {
			t.Errorf("token %d: top_logprobs not sorted: %+v", i, e.Top)
		}
	}
	if got := *a.Choices[0].Message.Content; text.String() != got {
		t.Errorf("logprob tokens spell %q, content %q", text.String(), got)
	}
	if b := complete(t, url, "", `{"messages":[{"role":"user","content":"Tell me"}],"max_tokens":2}`); b.Choices[0].Logprobs != nil {
		t.Errorf("logprobs %+v without logprobs: true", b.Choices[0].Logprobs)
	}
}

// TestServe_Batched checks that greedy answers are the same whether the
// requests come one at a time or all at once into the running batch.
func TestServe_Batched(t *testing.T) {
	cfg := openTiny(t).cfg
	cfg.Rows, cfg.StopTokenIDs = 3, []int32{}
	url := start(t, cfg, serve.Config{MaxQueue: 8})
	body := func(i int) string {
		return fmt.Sprintf(`{"messages":[{"role":"user","content":"question %d%s"}],"temperature":0,"max_tokens":%d}`, i, strings.Repeat("?", i), 4+i)
	}
	const n = 7
	alone := make([]string, n)
	for i := range n {
		alone[i] = *complete(t, url, "", body(i)).Choices[0].Message.Content
	}
	together := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * time.Millisecond) // arrive while others decode
			together[i] = *complete(t, url, "", body(i)).Choices[0].Message.Content
		})
	}
	wg.Wait()
	for i := range n {
		if alone[i] != together[i] {
			t.Errorf("request %d: alone %q, batched %q", i, alone[i], together[i])
		}
	}
}
