package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/internal/pluginbuild"
)

// trainKit writes a tiny model, the calculator pack, arithmetic tasks and
// a config into a directory, and returns the config's path and the
// interpreter module.
func trainKit(t *testing.T) (dir, cfgPath, interp string) {
	t.Helper()
	dir = t.TempDir()
	interp = pluginbuild.Path(t, "interpreter-starlark.wasm")
	calc := calculatorPack(t, dir)
	mustTB(t, "model", "init", "--hidden", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--ffn", "64", "--vocab", "300", "--max-pos", "256", "--out", filepath.Join(dir, "model"))
	mustTB(t, "data", "calculator", "--out", filepath.Join(dir, "data"), "--train", "6", "--test", "3")
	cfgPath = filepath.Join(dir, "toolbrain.toml")
	write(t, cfgPath, `
[core]
model = "`+filepath.Join(dir, "model")+`"
[train]
system = "Use the arith tool."
packs = ["`+calc+`"]
tasks = ["`+filepath.Join(dir, "data", "train.jsonl")+`"]
eval_tasks = "`+filepath.Join(dir, "data", "test.jsonl")+`"
out = "`+filepath.Join(dir, "run")+`"
steps = 2
group_size = 2
tasks_per_step = 2
max_turns = 2
max_new_tokens = 8
max_len = 200
[[rewards]]
name = "exact_match"
weight = 1.0
[[rewards]]
name = "token_f1"
weight = 0.5
[plugins]
cache_dir = "`+filepath.Join(dir, "cache")+`"
`)
	return dir, cfgPath, interp
}

// TestTrain runs `toolbrain train` end to end on a tiny model (rollouts
// through the sandbox and the calculator pack, built-in rewards, GRPO) and
// checks the run directory and the summary, then `eval` on its adapter.
func TestTrain(t *testing.T) {
	dir, cfgPath, interp := trainKit(t)
	code, out, errs := tb(t, "train", "--config", cfgPath, "--interpreter", interp, "--quiet")
	if code != 0 {
		t.Fatalf("train: exit %d\n%s", code, errs)
	}
	var sum coach.Summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, out)
	}
	if sum.Steps != 2 || sum.EvalBefore == nil || sum.EvalAfter == nil || sum.EvalAfter.Tasks != 3 {
		t.Errorf("summary %+v", sum)
	}
	for _, want := range []string{"held-out success before RL: ", "held-out success after RL: ", "(0 of 3 tasks"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	run := filepath.Join(dir, "run")
	for _, f := range []string{"config.toml", "metrics.jsonl", "report.md", "curves.png", "adapter/adapter_config.json", "latest"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("run directory: %v", err)
		}
	}
	// A finished run cannot be started over; it resumes (nothing to do).
	if code, _, errs := tb(t, "train", "--config", cfgPath, "--interpreter", interp, "--quiet"); code == 0 || !strings.Contains(errs, "already holds a run") {
		t.Errorf("second train in the same directory: exit %d, %s", code, errs)
	}
	if code, _, errs := tb(t, "train", "--resume", run, "--interpreter", interp, "--quiet"); code != 0 {
		t.Errorf("resume of a finished run: exit %d, %s", code, errs)
	}

	code, out, errs = tb(t, "eval", "--config", cfgPath, "--interpreter", interp, "--adapter", filepath.Join(run, "adapter"), "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d\n%s", code, errs)
	}
	var r coach.EvalResult
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Tasks != 3 || r.CIHigh <= r.CILow {
		t.Errorf("eval --json: %+v (%v)\n%s", r, err, out)
	}
}

// TestTrain_BadInput: what is wrong with a run's inputs stops it before any
// training, naming the file, line or key.
func TestTrain_BadInput(t *testing.T) {
	dir, cfgPath, interp := trainKit(t)
	base, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	badTasks := filepath.Join(dir, "bad.jsonl")
	write(t, badTasks, `{"id": "a", "prompt": "What is 1 plus 1?", "expected": "2"}`+"\n"+`{"id": "b", "expected": "3"}`+"\n")
	for _, c := range []struct {
		name  string
		extra string // appended to the config
		args  []string
		want  string
	}{
		{"task line without a prompt", "", []string{"--tasks", badTasks}, "bad.jsonl:2: \"prompt\" is missing"},
		{"missing task file", "", []string{"--tasks", filepath.Join(dir, "none.jsonl")}, "none.jsonl"},
		{"missing pack", "", nil, "train.packs[0]"},
		{"dpo without pairs", "", nil, "train.method"},
		{"unknown key", "", nil, `unknown key "train.group"`},
		{"missing reward plugin", "", nil, "rewards[2].plugin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := string(base)
			switch c.name {
			case "missing pack":
				src = strings.Replace(src, "packs = [\"", "packs = [\""+dir+"/nothing\", \"", 1)
			case "dpo without pairs":
				src = strings.Replace(src, "[train]\n", "[train]\nmethod = \"dpo\"\n", 1)
			case "unknown key":
				src = strings.Replace(src, "[train]\n", "[train]\ngroup = 3\n", 1)
			case "missing reward plugin":
				src += "[[rewards]]\nplugin = \"" + dir + "/none.wasm\"\nweight = 1.0\n"
			}
			p := filepath.Join(t.TempDir(), "toolbrain.toml")
			write(t, p, src)
			code, _, errs := tb(t, append([]string{"train", "--config", p, "--interpreter", interp, "--quiet"}, c.args...)...)
			if code == 0 || !strings.Contains(errs, c.want) || strings.Contains(errs, "panic") {
				t.Fatalf("exit %d, stderr %q; want an error containing %q", code, errs, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "run", "metrics.jsonl")); err == nil {
				t.Fatal("the run started despite the bad input")
			}
		})
	}
}
