package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
)

// TestPackCommands builds, inspects, verifies, installs and calls the
// calculator pack through the CLI, then tampers with its module.
func TestPackCommands(t *testing.T) {
	wasm := pluginbuild.Path(t, "calculator.wasm")
	dir := filepath.Join(t.TempDir(), "calculator")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{"../../plugins/packs/calculator/toolpack.toml": "toolpack.toml", wasm: "calculator.wasm"} {
		if err := atomicfile.Copy(src, filepath.Join(dir, dst)); err != nil {
			t.Fatal(err)
		}
	}
	outDir := t.TempDir()
	archive := strings.TrimSpace(mustTB(t, "pack", "build", dir, "-o", outDir))
	if !strings.HasSuffix(archive, ".tar.gz") {
		t.Fatalf("pack build printed %q, want a .tar.gz path", archive)
	}
	if out := mustTB(t, "pack", "verify", archive); !strings.HasPrefix(out, "ok calculator 0.1.0 ") {
		t.Errorf("pack verify: %q", out)
	}
	if out := mustTB(t, "pack", "inspect", archive); !strings.Contains(out, "arith") {
		t.Errorf("pack inspect does not list the arith tool:\n%s", out)
	}

	packDir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "toolbrain.toml")
	if err := os.WriteFile(cfg, []byte("[plugins]\npack_dir = \""+packDir+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	installed := strings.TrimSpace(mustTB(t, "pack", "install", archive, "--config", cfg))
	if installed != filepath.Join(packDir, "calculator", "0.1.0") {
		t.Errorf("installed into %q", installed)
	}

	call := func(args string) map[string]any {
		in := filepath.Join(t.TempDir(), "in.json")
		if err := os.WriteFile(in, []byte(args), 0o644); err != nil {
			t.Fatal(err)
		}
		var resp map[string]any
		if err := json.Unmarshal([]byte(mustTB(t, "plugin", "call", "--plugin", installed, "--input", in)), &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ok := call(`{"name": "arith", "arguments": {"op": "add", "a": 0.1, "b": 0.2}}`)
	if b, _ := json.Marshal(ok); !strings.Contains(string(b), "0.30000000000000004") || ok["is_error"] == true {
		t.Errorf("arith add: %s", b)
	}
	bad := call(`{"name": "arith", "arguments": {"op": "add", "a": "one", "b": 2}}`)
	if bad["is_error"] != true || !strings.Contains(bad["content"].(string), "/a") {
		t.Errorf("a string operand must come back as a schema error naming /a, got %v", bad)
	}

	// Tamper with the installed module: verify and call must refuse it.
	mod := filepath.Join(installed, "calculator.wasm")
	data, err := os.ReadFile(mod)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0xff
	if err := os.WriteFile(mod, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := tb(t, "pack", "verify", installed)
	if code != 1 || !strings.Contains(errs, "sha256") && !strings.Contains(errs, "hash") {
		t.Errorf("verify of a tampered pack: exit %d, stderr %q", code, errs)
	}
}

// TestPluginCall_GoPlugin runs the first-party rewards as a go-plugin
// process through `plugin call`: the same exact-match scores as in-process.
func TestPluginCall_GoPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin binary")
	}
	bin := filepath.Join(t.TempDir(), "rewards")
	build := exec.Command("go", "build", "-o", bin, "../../plugins/rewards/plugin")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		answer string
		want   float64
	}{{"Paris", 1}, {"Lyon", 0}} {
		in := filepath.Join(t.TempDir(), "in.json")
		req := `{"expected": "Paris", "trace": {"final_answer": "` + tt.answer + `", "turns": []}}`
		if err := os.WriteFile(in, []byte(req), 0o644); err != nil {
			t.Fatal(err)
		}
		var resp struct{ Score float64 }
		if err := json.Unmarshal([]byte(mustTB(t, "plugin", "call", "--plugin", bin, "--input", in)), &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Score != tt.want {
			t.Errorf("answer %q: score %g, want %g", tt.answer, resp.Score, tt.want)
		}
	}

	// The same process as a [[rewards]] entry of `toolbrain score`, with
	// its configuration: exact match (normalised) + 0.5 token F1.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "toolbrain.toml")
	write(t, cfg, "[[rewards]]\nname = \"native\"\nplugin = \""+bin+"\"\nweight = 2.0\n[rewards.config]\n"+
		"rewards = '[{\"name\": \"exact_match\", \"weight\": 1, \"normalize\": true}, {\"name\": \"token_f1\", \"weight\": 0.5}]'\n")
	traces := filepath.Join(dir, "traces.jsonl")
	write(t, traces, `{"task_id": "t", "final_answer": "paris", "turns": []}`+"\n"+`{"task_id": "t", "final_answer": "the city of Paris", "turns": []}`+"\n")
	tasks := filepath.Join(dir, "tasks.jsonl")
	write(t, tasks, `{"id": "t", "prompt": "Capital of France?", "expected": "Paris"}`+"\n")
	var got []scoreLine
	for _, line := range strings.Split(strings.TrimSpace(mustTB(t, "score", "--traces", traces, "--tasks", tasks, "--config", cfg)), "\n") {
		var l scoreLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		got = append(got, l)
	}
	// "paris": exact (normalised) 1 + 0.5·F1 1 = 1.5; "the city of Paris":
	// exact 0, F1 of {city, of, paris} against {paris} = 2·(1/3)/(1/3+1) = 0.5.
	if len(got) != 2 || got[0].Components["native"] != 1.5 || math.Abs(got[1].Components["native"]-0.25) > 1e-12 || got[0].Reward != 3 {
		t.Errorf("score through the go-plugin reward: %+v", got)
	}
}
