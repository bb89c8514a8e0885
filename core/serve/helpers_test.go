package serve_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/serve"
	"github.com/toolbrain/toolbrain/core/serve/servetest"
	"github.com/toolbrain/toolbrain/core/tokenizer"
)

// tinyConfig is a random two-layer Llama with a short context.
var tinyConfig = model.Config{Architecture: model.Llama, HiddenSize: 64, IntermediateSize: 176,
	NumHiddenLayers: 2, NumAttentionHeads: 4, NumKeyValueHeads: 2, RopeTheta: 10000, RMSNormEps: 1e-6,
	VocabSize: 512, MaxPositionEmbeddings: 64, TorchDType: "float32", HiddenAct: "silu"}

// tiny is a random checkpoint opened with its tokenizer and template.
type tiny struct {
	ck    *checkpoint.Checkpoint
	tok   *tokenizer.Tokenizer
	model *model.Model
	cfg   serve.EngineConfig // Model, Tokenizer, Template, StopTokenIDs, MaxLen
}

// openTiny writes a tiny random checkpoint (a 64-position context, so that
// a long prompt overflows it) and loads it.
func openTiny(tb testing.TB) *tiny {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "tiny")
	if err := checkpoint.Init(dir, tinyConfig, 1); err != nil {
		tb.Fatal(err)
	}
	ck, tok, tmpl := servetest.OpenChat(tb, dir)
	b, err := backend.New(backend.Default)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := ck.LoadModel(b, model.LoadOptions{}, "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close(); b.Finalize() })
	return &tiny{ck: ck, tok: tok, model: m, cfg: serve.EngineConfig{Model: m, Tokenizer: tok, Template: tmpl,
		StopTokenIDs: ck.StopTokenIDs(tok), MaxLen: ck.Config.MaxPositionEmbeddings}}
}

// scripted returns the tiny checkpoint's engine config on a scripted model.
func (t *tiny) scripted(reply func(prompt string) string, step func()) serve.EngineConfig {
	cfg := t.cfg
	cfg.Model = &servetest.Scripted{Tokenizer: t.tok, Reply: reply, Stop: cfg.StopTokenIDs[0], Step: step}
	cfg.MaxLen = 0
	return cfg
}

// start serves an engine on cfg over httptest and returns the base URL.
func start(tb testing.TB, ecfg serve.EngineConfig, scfg serve.Config) string {
	tb.Helper()
	e, err := serve.NewEngine(ecfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	scfg.Engine = e
	if scfg.Model == "" {
		scfg.Model = "tiny"
	}
	s, err := serve.New(scfg)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(s)
	tb.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// endpoint returns the base URL and key of the server the tests drive:
// TOOLBRAIN_TEST_OPENAI_URL (with the key in the variable named by
// TOOLBRAIN_TEST_OPENAI_KEY_ENV) when set, else a server on loopback over
// a tiny random checkpoint.
func endpoint(t *testing.T) (url, key, modelID string) {
	t.Helper()
	if u := os.Getenv("TOOLBRAIN_TEST_OPENAI_URL"); u != "" {
		return u, os.Getenv(os.Getenv("TOOLBRAIN_TEST_OPENAI_KEY_ENV")), os.Getenv("TOOLBRAIN_TEST_OPENAI_MODEL")
	}
	cfg := openTiny(t).cfg
	cfg.MaxTokens = 8
	return start(t, cfg, serve.Config{APIKey: "sekrit"}), "sekrit", "tiny"
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

// answer is the part of a chat completion the tests read.
type answer struct {
	Choices []struct {
		FinishReason string `json:"finish_reason"`
		Message      struct {
			Content   *string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		Logprobs *struct {
			Content []struct {
				Token   string  `json:"token"`
				Logprob float64 `json:"logprob"`
				Bytes   []int   `json:"bytes"`
				Top     []struct {
					Token   string  `json:"token"`
					Logprob float64 `json:"logprob"`
				} `json:"top_logprobs"`
			} `json:"content"`
		} `json:"logprobs"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// complete posts body and decodes a 200 answer.
func complete(t *testing.T, url, key, body string) answer {
	t.Helper()
	code, _, out := post(t, url, key, body)
	if code != 200 {
		t.Fatalf("status %d: %s", code, out)
	}
	var a answer
	if err := json.Unmarshal([]byte(out), &a); err != nil || len(a.Choices) != 1 {
		t.Fatalf("answer %s: %v", out, err)
	}
	return a
}

var _ generate.Model = (*servetest.Scripted)(nil)
