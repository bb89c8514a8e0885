package wire_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/coach/wire"
	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/internal/atomicfile"
	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/runtime/pack"
)

// kit writes a tiny model, the calculator pack and a task file, and
// returns a config over them.
func kit(t *testing.T, extra string) config.Config {
	t.Helper()
	dir := t.TempDir()
	calc := filepath.Join(dir, "calculator")
	if err := os.MkdirAll(calc, 0o755); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{"../../../plugins/packs/calculator/toolpack.toml": "toolpack.toml", pluginbuild.Path(t, "calculator.wasm"): "calculator.wasm"} {
		if err := atomicfile.Copy(src, filepath.Join(calc, dst)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pack.Build(calc, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(dir, "model")
	cfg := model.Config{Architecture: model.Llama, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 1, NumAttentionHeads: 2,
		NumKeyValueHeads: 1, RopeTheta: 10000, RMSNormEps: 1e-6, VocabSize: 300, MaxPositionEmbeddings: 256, TorchDType: "float32", HiddenAct: "silu"}
	if err := checkpoint.Init(m, cfg, 5); err != nil {
		t.Fatal(err)
	}
	tasks := filepath.Join(dir, "tasks.jsonl")
	if err := os.WriteFile(tasks, []byte(`{"id": "a", "prompt": "What is 2 plus 3?", "expected": "5"}`+"\n"+`{"id": "b", "prompt": "What is 4 times 2?", "expected": "8"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("test.toml", `
[core]
model = "`+m+`"
[plugins]
cache_dir = "`+filepath.Join(dir, "cache")+`"
[train]
system = "Use arith."
packs = ["`+calc+`"]
tasks = ["`+tasks+`"]
group_size = 2
tasks_per_step = 2
max_turns = 2
max_new_tokens = 6
max_len = 200
fallback_score = -0.25
`+extra)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOpen_FailingRewardPlugins: a WebAssembly reward that traps and one
// that never returns cost each trace the fallback score; the step goes on
// and counts them.
func TestOpen_FailingRewardPlugins(t *testing.T) {
	build := pluginbuild.Dir(t)
	cfg := kit(t, `
[plugins.limits]
timeout = "200ms"
[[rewards]]
name = "exact_match"
weight = 1.0
[[rewards]]
plugin = "`+filepath.Join(build, "trapreward.wasm")+`"
weight = 1.0
[[rewards]]
plugin = "`+filepath.Join(build, "loopreward.wasm")+`"
weight = 1.0
`)
	ctx := context.Background()
	interp, err := os.ReadFile(filepath.Join(build, "interpreter-starlark.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := wire.Open(ctx, cfg, wire.Options{Interpreter: interp}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	c, _, err := env.NewCoach(1)
	if err != nil {
		t.Fatal(err)
	}
	m, groups, err := c.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.RewardFallbacks != 2*4 {
		t.Fatalf("%d fallbacks, want 8 (two failing rewards × 4 traces); errors %q", m.RewardFallbacks, m.Errors)
	}
	joined := strings.Join(m.Errors, "\n")
	for _, want := range []string{"trapreward", "loopreward"} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors do not name %s: %q", want, m.Errors)
		}
	}
	for _, g := range groups {
		for i, r := range g.Rewards {
			if want := g.Components["exact_match"][i] - 0.5; r != want {
				t.Errorf("reward %v, want exact_match + 2 × fallback = %v", r, want)
			}
		}
	}
}

func TestOpen_Errors(t *testing.T) {
	for _, c := range []struct{ name, extra, want string }{
		{"dpo with an advantage algorithm", "method = \"dpo\"\n", "train.method"},
		{"grpo with dpo pairs", "[algorithm]\nname = \"dpo\"\n", "algorithm.name"},
		{"algorithm plugin of the wrong kind", "[algorithm]\nplugin = \"TRAP\"\n", "not an algorithm"},
	} {
		t.Run(c.name, func(t *testing.T) {
			extra := strings.ReplaceAll(c.extra, "TRAP", filepath.Join(pluginbuild.Dir(t), "trapreward.wasm"))
			cfg := kit(t, extra)
			_, err := wire.Open(context.Background(), cfg, wire.Options{}, true)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}
