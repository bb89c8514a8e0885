package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
)

// TestPluginCall_JudgeThroughEndpoint runs the ranking judge plugin
// (judge.wasm) through `plugin call`: its toolbrain_llm calls reach the
// OpenAI-compatible endpoint configured in [judge], with the API key from
// the named environment variable, and the endpoint's ranking comes back.
func TestPluginCall_JudgeThroughEndpoint(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var body struct {
			Model    string `json:"model"`
			Messages []struct{ Role, Content string }
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		last := body.Messages[len(body.Messages)-1].Content
		if body.Model != "judge-7b" || r.Header.Get("Authorization") != "Bearer sk-test" ||
			!strings.Contains(last, "Lyon") || !strings.Contains(last, "Paris") {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{
			"message": map[string]string{"role": "assistant", "content": "```json\n{\"ranking\": [1, 0]}\n```"}}}})
	}))
	defer srv.Close()
	t.Setenv("JUDGE_KEY", "sk-test")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "toolbrain.toml")
	write(t, cfg, "[judge]\nendpoint = \""+srv.URL+"/v1\"\nmodel = \"judge-7b\"\napi_key_env = \"JUDGE_KEY\"\n")
	in := filepath.Join(dir, "group.json")
	write(t, in, `{"expected": "Paris", "traces": [{"final_answer": "Lyon", "turns": []}, {"final_answer": "Paris", "turns": []}]}`)
	wasm := pluginbuild.Path(t, "judge.wasm")
	manifest := "../../plugins/judge/wasm/manifest.toml"

	out := mustTB(t, "plugin", "call", "--plugin", wasm, "--manifest", manifest, "--grant", "llm,config",
		"--function", "judge", "--input", in, "--config", cfg)
	var resp struct {
		Ranking []int
		Scores  []float64
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if !reflect.DeepEqual(resp.Ranking, []int{1, 0}) || !reflect.DeepEqual(resp.Scores, []float64{0, 1}) || calls.Load() != 1 {
		t.Fatalf("judge: %+v after %d endpoint calls, want ranking [1 0], scores [0 1], 1 call", resp, calls.Load())
	}

	// Not granted: the plugin's toolbrain_llm call is refused, naming it.
	code, _, stderr := tb(t, "plugin", "call", "--plugin", wasm, "--manifest", manifest, "--grant", "config",
		"--function", "judge", "--input", in, "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "toolbrain_llm") {
		t.Errorf("without the llm grant: exit %d, stderr %q", code, stderr)
	}
	// No [judge]: the call fails saying no judge model is configured.
	code, _, stderr = tb(t, "plugin", "call", "--plugin", wasm, "--manifest", manifest, "--grant", "llm,config",
		"--function", "judge", "--input", in)
	if code == 0 || !strings.Contains(stderr, "no judge model") {
		t.Errorf("without [judge]: exit %d, stderr %q", code, stderr)
	}
	if calls.Load() != 1 {
		t.Errorf("the endpoint was called %d times, want 1", calls.Load())
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
