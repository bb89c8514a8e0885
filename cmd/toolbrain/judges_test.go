package main

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/core/scoring"
	"github.com/toolbrain/toolbrain/core/serve"
	"github.com/toolbrain/toolbrain/sdk"
)

// Environment variables that point TestJudges_Endpoint at any
// OpenAI-compatible endpoint instead of a tiny model served here.
const (
	envTestURL   = "TOOLBRAIN_TEST_OPENAI_URL"   // the API root, e.g. http://localhost:8000/v1
	envTestModel = "TOOLBRAIN_TEST_OPENAI_MODEL" // the model name it serves (required with the URL)
	envTestKey   = "TOOLBRAIN_TEST_OPENAI_KEY"   // its API key, if any
)

// counter is a reverse proxy to the endpoint under test that counts the
// chat completions it forwards and their statuses.
type counter struct {
	mu       sync.Mutex
	requests int
	status   map[int]int
}

func (c *counter) proxy(t *testing.T, upstream string) *httptest.Server {
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ErrorLog = log.New(io.Discard, "", 0) // requests cancelled by the judge timeout
	p.ModifyResponse = func(r *http.Response) error {
		if strings.HasSuffix(r.Request.URL.Path, "/chat/completions") {
			c.mu.Lock()
			c.requests++
			c.status[r.StatusCode]++
			c.mu.Unlock()
		}
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv
}

// endpointUnderTest is the OpenAI-compatible endpoint the test drives: the
// one the environment names, else core/serve's handler on a loopback
// listener over a tiny random model with a context long enough for the
// judges' prompts. It returns the API root, the model name and the key.
func endpointUnderTest(t *testing.T) (root, model, key string, tiny bool) {
	if u := os.Getenv(envTestURL); u != "" {
		m := os.Getenv(envTestModel)
		if m == "" {
			t.Fatalf("%s is set; %s must name the model it serves", envTestURL, envTestModel)
		}
		return u, m, os.Getenv(envTestKey), false
	}
	dir := filepath.Join(t.TempDir(), "tiny")
	mustTB(t, "model", "init", "--out", dir, "--hidden", "32", "--layers", "1", "--heads", "2", "--ffn", "64", "--vocab", "300", "--max-pos", "8192")
	mf := modelFlags{model: dir}
	l, err := mf.load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.model.Close() })
	// As `toolbrain serve --max-tokens 16 --max-active 2 --context 8192` builds it.
	engine, err := l.engine(16, 2, 8192)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	h, err := serve.New(serve.Config{Engine: engine, Model: "tiny", APIKey: "k3y"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // 127.0.0.1
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", "tiny", "k3y", true
}

// TestJudges_Endpoint drives the client, a teacher's chat call and the
// three built-in judges, as the coach scores with them, against a real
// OpenAI-compatible server. The tiny model's answers are random, so the
// test checks the pipeline, not the scores: every request reaches the
// server and is answered, and every judge score is either read (in [0, 1])
// or the fallback, counted by cause.
func TestJudges_Endpoint(t *testing.T) {
	root, model, key, tiny := endpointUnderTest(t)
	c := &counter{status: map[int]int{}}
	base := c.proxy(t, root).URL
	ctx := context.Background()

	client, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: base, Model: model, APIKey: key, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("client", func(t *testing.T) {
		if _, err := client.Complete(ctx, sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: "Say hi."}}, MaxTokens: 8}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("teacher", func(t *testing.T) {
		// A teacher writes the next turn of a tool-using conversation,
		// sampled, cut at a stop string.
		resp, err := client.Complete(ctx, sdk.LLMRequest{Messages: []sdk.Message{
			{Role: "system", Content: "You solve tasks with the calculator tool, then answer."},
			{Role: "user", Content: "What is 6*7?"},
			{Role: "assistant", ToolCalls: []sdk.ToolCall{{ID: "c1", Name: "calc", Arguments: []byte(`{"expr":"6*7"}`)}}},
			{Role: "tool", ToolCallID: "c1", Content: "42"},
		}, MaxTokens: 16, Temperature: 0.7, Stop: []string{"\n\n"}})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(resp.Text, "\n\n") {
			t.Errorf("answer %q holds the stop string", resp.Text)
		}
	})

	t.Setenv("TB_JUDGE_TEST_KEY", key)
	cfg := config.Default()
	cfg.Judge = config.Judge{Endpoint: base, Model: model, APIKeyEnv: "TB_JUDGE_TEST_KEY", Timeout: 2 * time.Minute}
	cfg.Rewards = nil
	opts := map[string]string{}
	if tiny {
		opts["max_tokens"] = "16" // random text: a longer one is no likelier to parse
	}
	for _, name := range []string{config.RankingJudge, config.RelativeJudge, config.CorrectnessJudge} {
		cfg.Rewards = append(cfg.Rewards, config.Reward{Name: name, Weight: 1, Config: opts})
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h, err := scoring.NewHost(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	rs, err := h.Rewards(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := &coach.Scorer{Components: rs, Fallback: -1, JudgeTimeout: 5 * time.Minute}
	before := c.requests
	task := sdk.Task{ID: "mul", Prompt: "What is 6*7?", Expected: "42"}
	first := "<|system|>You have a calculator tool.\n<|user|>What is 6*7?\n<|assistant|>"
	traces := []sdk.Trace{
		{FinalAnswer: "42", Turns: []sdk.Turn{{Prompt: first, Completion: "calc(6*7)", ToolCalls: []sdk.ToolCall{{Name: "calc", Arguments: []byte(`{"expr":"6*7"}`)}},
			Observations: []sdk.Observation{{Name: "calc", Content: "42"}}}}},
		{FinalAnswer: "41", Turns: []sdk.Turn{{Prompt: first, Completion: "calc(6/0)", ToolCalls: []sdk.ToolCall{{Name: "calc", Arguments: []byte(`{"expr":"6/0"}`)}},
			Observations: []sdk.Observation{{Name: "calc", Content: "division by zero", IsError: true}}}}},
		{Turns: []sdk.Turn{{Prompt: first, Completion: "I do not know."}}, Error: "turn limit reached"},
	}
	g, err := s.Score(ctx, task, traces)
	if err != nil {
		t.Fatal(err)
	}
	asked := c.requests - before
	t.Logf("judges: %d requests, statuses %v; fallbacks %+v; scores %v; errors %q", asked, c.status, g.Judge, g.Components, g.Errors)

	// Ranking and relative: one request each, two when the first answer is
	// unreadable; correctness: the same for each of the two traces with an
	// answer (the third scores 0 without asking).
	if asked < 4 || asked > 8 {
		t.Errorf("the judges sent %d requests, want 4 to 8", asked)
	}
	if ok := c.status[http.StatusOK]; ok != c.requests {
		t.Errorf("statuses %v: want every request answered 200", c.status)
	}
	if g.Judge.Failures != 0 || g.Judge.Timeouts != 0 {
		t.Errorf("fallbacks %+v: the server answered every request, so only unreadable answers may fall back", g.Judge)
	}
	fellBack := 0
	for name, scores := range g.Components {
		for i, x := range scores {
			switch {
			case x == -1:
				fellBack++
			case x < 0 || x > 1:
				t.Errorf("%s scored trace %d %v, want [0, 1] or the fallback", name, i, x)
			case name == config.CorrectnessJudge && x != 0 && x != 1:
				t.Errorf("correctness scored trace %d %v, want 0 or 1", i, x)
			}
		}
	}
	if fellBack != g.JudgeFallbacks || g.JudgeFallbacks != g.Judge.Unreadable {
		t.Errorf("%d fallback scores, %d judge fallbacks, %d unreadable: want all equal", fellBack, g.JudgeFallbacks, g.Judge.Unreadable)
	}
	if x := g.Components[config.CorrectnessJudge][2]; x != 0 {
		t.Errorf("correctness scored the trace without an answer %v, want 0", x)
	}

	// A judge timeout shorter than any answer: every trace falls back as a
	// timeout, and Score still returns.
	g, err = (&coach.Scorer{Components: rs, Fallback: -1, JudgeTimeout: time.Millisecond}).Score(ctx, task, traces)
	if err != nil {
		t.Fatal(err)
	}
	if g.Judge.Timeouts != 8 || g.Judge.Failures+g.Judge.Unreadable != 0 {
		t.Errorf("with a 1ms judge timeout: fallbacks %+v, want 8 timeouts (errors %q)", g.Judge, g.Errors)
	}

	if !tiny {
		return
	}
	// A prompt longer than the tiny model's context: the server refuses it
	// (400), and the judge's traces fall back as failures.
	cfg.Rewards = []config.Reward{{Name: config.RelativeJudge, Weight: 1, Config: map[string]string{"max_prompt_chars": "1000000", "max_tokens": "4"}}}
	h2, err := scoring.NewHost(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close(ctx)
	if rs, err = h2.Rewards(ctx); err != nil {
		t.Fatal(err)
	}
	long := append([]sdk.Trace(nil), traces...)
	long[0].Turns = []sdk.Turn{{Observations: []sdk.Observation{{Content: strings.Repeat("digits 0123456789 ", 1500)}}}}
	g, err = (&coach.Scorer{Components: rs, Fallback: -1}).Score(ctx, task, long)
	if err != nil {
		t.Fatal(err)
	}
	if g.Judge != (coach.JudgeCauses{Failures: 3}) || c.status[http.StatusBadRequest] != 1 {
		t.Errorf("fallbacks %+v, statuses %v; want 3 failures after one 400 (errors %q)", g.Judge, c.status, g.Errors)
	}
}
