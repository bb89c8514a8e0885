package main

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/core/scoring"
	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/sdk"
)

// TestScore scores recorded traces with a [[rewards]] list of a built-in
// reward, a WebAssembly reward plugin and the ranking LLM judge plugin
// (whose LLM is an OpenAI-compatible endpoint), then the [algorithm]'s
// advantages: the weighted sums and the advantages GRPO gives them.
func TestScore(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Messages []struct{ Content string } }
		json.NewDecoder(r.Body).Decode(&body)
		// Group t0 (Paris, Lyon): keep the order. Group t1 (4, 5, 4): the
		// last trace first, then the first.
		answer := `{"ranking": [2, 0, 1]}`
		if strings.Contains(body.Messages[len(body.Messages)-1].Content, "Lyon") {
			answer = `{"ranking": [0, 1]}`
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": map[string]string{"content": answer}}}})
	}))
	defer srv.Close()

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "toolbrain.toml")
	write(t, cfgPath, `
[[rewards]]
name = "exact_match"
weight = 1.0

[[rewards]]
name = "wasm_exact"
plugin = "`+pluginbuild.Path(t, "exactmatch-go.wasm")+`"
weight = 0.5

[[rewards]]
plugin = "`+pluginbuild.Path(t, "judge.wasm")+`"
manifest = "../../plugins/judge/wasm/manifest.toml"
grant = ["llm", "config"]
rubric = "prefer the right answer"
weight = 2.0

[judge]
endpoint = "`+srv.URL+`/v1"
model = "judge"
`)
	tasks := filepath.Join(dir, "tasks.jsonl")
	write(t, tasks, `{"id": "t0", "prompt": "Capital of France?", "expected": "Paris"}
{"id": "t1", "prompt": "2+2?", "expected": "4"}
`)
	traces := filepath.Join(dir, "traces.jsonl")
	write(t, traces, `{"id": "a", "task_id": "t0", "final_answer": "Paris", "turns": []}
{"id": "b", "task_id": "t1", "final_answer": "4", "turns": []}
{"id": "c", "task_id": "t0", "final_answer": "Lyon", "turns": []}
{"id": "d", "task_id": "t1", "final_answer": "5", "turns": []}
{"id": "e", "task_id": "t1", "final_answer": "4", "turns": []}
`)
	out := mustTB(t, "score", "--traces", traces, "--tasks", tasks, "--config", cfgPath)

	var got []scoreLine
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l scoreLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, l)
	}
	// reward = exact_match + 0.5·wasm_exact + 2·judge; the judge's ranking
	// scores 1 (best) .. 0 (worst).
	want := []struct {
		id     string
		group  int
		reward float64
		judge  float64
	}{
		{"a", 0, 1 + 0.5 + 2*1, 1}, {"c", 0, 0, 0},
		{"b", 1, 1 + 0.5 + 2*0.5, 0.5}, {"d", 1, 0, 0}, {"e", 1, 1 + 0.5 + 2*1, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), out)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	alg, err := scoring.Builtin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	adv, err := alg.Advantages(context.Background(), sdk.AdvantageRequest{Groups: []sdk.Group{
		{Rewards: []float64{3.5, 0}, Lengths: []int{0, 0}}, {Rewards: []float64{2.5, 0, 3.5}, Lengths: []int{0, 0, 0}}}})
	if err != nil {
		t.Fatal(err)
	}
	flat := append(adv.Advantages[0], adv.Advantages[1]...)
	for i, w := range want {
		g := got[i]
		if g.ID != w.id || g.Group != w.group || math.Abs(g.Reward-w.reward) > 1e-12 || g.Components["judge"] != w.judge {
			t.Errorf("line %d: %+v, want id %s group %d reward %v judge %v", i, g, w.id, w.group, w.reward, w.judge)
		}
		if g.Advantage == nil {
			t.Errorf("line %d: no advantage, want %v", i, flat[i])
		} else if math.Abs(*g.Advantage-flat[i]) > 1e-12 {
			t.Errorf("line %d: advantage %v, want %v", i, *g.Advantage, flat[i])
		}
	}
	if got[0].Components["exact_match"] != 1 || got[0].Components["wasm_exact"] != 1 || got[1].Components["wasm_exact"] != 0 {
		t.Errorf("components: %+v, %+v", got[0].Components, got[1].Components)
	}

	// A trace whose task is not in --tasks is an error naming it.
	bad := filepath.Join(dir, "bad.jsonl")
	write(t, bad, `{"id": "x", "task_id": "t9", "final_answer": "?", "turns": []}`+"\n")
	if code, _, stderr := tb(t, "score", "--traces", bad, "--tasks", tasks, "--config", cfgPath); code == 0 || !strings.Contains(stderr, `"t9"`) {
		t.Errorf("unknown task: exit %d, stderr %q", code, stderr)
	}
}

// TestScore_PluginFailsToLoad: a reward plugin that cannot load is an error
// naming its [[rewards]] entry and file, never a crash.
func TestScore_PluginFailsToLoad(t *testing.T) {
	dir := t.TempDir()
	traces := filepath.Join(dir, "traces.jsonl")
	write(t, traces, `{"id": "a", "task_id": "t1", "final_answer": "42", "turns": []}`+"\n")
	notWasm := filepath.Join(dir, "reward.wasm")
	write(t, notWasm, "this is not WebAssembly")
	for _, plugin := range []string{notWasm, filepath.Join(dir, "missing.wasm")} {
		cfg := filepath.Join(dir, "toolbrain.toml")
		write(t, cfg, "[[rewards]]\nplugin = \""+plugin+"\"\nweight = 1.0\n[plugins]\ncache_dir = \""+filepath.Join(dir, "cache")+"\"\n")
		code, _, stderr := tb(t, "score", "--traces", traces, "--config", cfg)
		if code != 1 || !strings.Contains(stderr, "rewards[0].plugin") || !strings.Contains(stderr, filepath.Base(plugin)) || strings.Contains(stderr, "panic") {
			t.Errorf("%s: exit %d, stderr %q", filepath.Base(plugin), code, stderr)
		}
	}
}
