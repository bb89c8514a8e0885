package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/bfcl"
	"github.com/toolbrain/toolbrain/core/coach"
)

// TestTrainBFCL writes BFCL task files with `data bfcl` (and SFT data for
// a tiny model), SFT-trains that model on them for a step, then runs a
// two-step `toolbrain train` on the BFCL environment (tasks that declare
// their functions, the bfcl reward, no tool pack) and `eval` on the
// held-out file.
func TestTrainBFCL(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	data := filepath.Join(dir, "data")
	mustTB(t, "model", "init", "--hidden", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--ffn", "64", "--vocab", "300", "--max-pos", "2048", "--out", model)
	out := mustTB(t, "data", "bfcl", "--out", data, "--categories", "simple_python,irrelevance", "--limit", "10", "--heldout", "0.3", "--seed", "3", "--model", model)
	var res dataBFCLResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("data bfcl printed %q: %v", out, err)
	}
	if res.Train+res.Test != 20 || res.Test == 0 || res.SFT != res.Train {
		t.Fatalf("data bfcl: %+v, want 20 cases split, one SFT example per training case", res)
	}
	train, err := coach.ReadTasks(filepath.Join(data, "train.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	test, err := coach.ReadTasks(filepath.Join(data, "test.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range append(train, test...) {
		if bfcl.Heldout(task.ID, 0.3, 3) != strings.Contains(mustRead(t, filepath.Join(data, "test.jsonl")), `"id":"`+task.ID+`"`) {
			t.Errorf("task %s is on the wrong side of the split", task.ID)
		}
		if _, err := bfcl.CaseOf(task); err != nil {
			t.Errorf("task %s: %v", task.ID, err)
		}
	}
	mustTB(t, "sft", "--model", model, "--data", filepath.Join(data, "sft.jsonl"), "--out", filepath.Join(dir, "sft"), "--steps", "1", "--batch", "2")

	cfgPath := filepath.Join(dir, "toolbrain.toml")
	write(t, cfgPath, `
[core]
model = "`+model+`"
adapter = "`+filepath.Join(dir, "sft", "adapter")+`"
[train]
athlete = "tool_calling"
tasks = ["`+filepath.Join(data, "train.jsonl")+`"]
eval_tasks = "`+filepath.Join(data, "test.jsonl")+`"
out = "`+filepath.Join(dir, "run")+`"
steps = 2
group_size = 2
tasks_per_step = 2
max_turns = 1
max_new_tokens = 8
max_len = 2048
[[rewards]]
name = "bfcl"
weight = 1.0
[plugins]
cache_dir = "`+filepath.Join(dir, "cache")+`"
`)
	code, stdout, errs := tb(t, "train", "--config", cfgPath, "--quiet")
	if code != 0 {
		t.Fatalf("train: exit %d\n%s", code, errs)
	}
	var sum coach.Summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout)
	}
	if sum.Steps != 2 || sum.EvalBefore == nil || sum.EvalAfter == nil || sum.EvalAfter.Tasks != res.Test {
		t.Fatalf("summary %+v, want 2 steps and %d held-out tasks evaluated", sum, res.Test)
	}
	// 8 new tokens cannot hold a right call: only the irrelevance cases
	// (right when the reply calls nothing) can succeed.
	irrelevant := 0
	for _, task := range test {
		if task.Metadata[bfcl.MetaCategory] == "irrelevance" {
			irrelevant++
		}
	}
	if sum.EvalBefore.Successes > irrelevant {
		t.Errorf("%d held-out successes before RL, more than the %d irrelevance cases", sum.EvalBefore.Successes, irrelevant)
	}
	metrics := mustRead(t, filepath.Join(dir, "run", "metrics.jsonl"))
	if strings.Count(metrics, `"episodes":4`) != 2 {
		t.Errorf("metrics.jsonl lacks two steps of 4 episodes:\n%s", metrics)
	}
}

// TestEvalBFCLTasks scores responses to the held-out cases of a `data
// bfcl` task file: right answers for all but one, which must come out as
// the one wrong case, with the Wilson interval of the accuracy.
func TestEvalBFCLTasks(t *testing.T) {
	data := t.TempDir()
	mustTB(t, "data", "bfcl", "--out", data, "--categories", "simple_python", "--limit", "20", "--heldout", "0.5")
	test, err := coach.ReadTasks(filepath.Join(data, "test.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, task := range test {
		c, err := bfcl.CaseOf(task)
		if err != nil {
			t.Fatal(err)
		}
		calls, err := bfcl.AnswerCalls(c)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			calls[0].Name += "_wrong"
		}
		text, err := bfcl.CallText("hermes", calls)
		if err != nil {
			t.Fatal(err)
		}
		line, _ := json.Marshal(map[string]string{"id": task.ID, "text": text})
		lines = append(lines, string(line))
	}
	responses := filepath.Join(data, "responses.jsonl")
	write(t, responses, strings.Join(lines, "\n")+"\n")
	out := mustTB(t, "eval", "bfcl", "--tasks", filepath.Join(data, "test.jsonl"), "--responses", responses)
	n := len(test)
	lo, hi := coach.Wilson(n-1, n)
	for _, want := range []string{
		`{"id":"` + test[0].ID + `","valid":false,"error_type":"simple_function_checker:wrong_func_name"}`,
		fmt.Sprintf("(%d/%d)", n-1, n),
		fmt.Sprintf("overall 95%% CI (Wilson): %.1f–%.1f%%", 100*lo, 100*hi),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code, _, errs := tb(t, "eval", "bfcl", "--tasks", filepath.Join(data, "none.jsonl"), "--responses", responses); code == 0 || !strings.Contains(errs, "--tasks") {
		t.Errorf("a missing task file: exit %d, %s", code, errs)
	}
}

// TestDataBFCL_Errors: bad flags and a split that leaves a side empty are
// usage errors.
func TestDataBFCL_Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{"data", "bfcl"}, "--out is required"},
		{"heldout above 1", []string{"data", "bfcl", "--out", t.TempDir(), "--heldout", "1.5"}, "--heldout"},
		{"all held out", []string{"data", "bfcl", "--out", t.TempDir(), "--heldout", "1", "--limit", "5"}, "leaves 0 training"},
		{"unknown category", []string{"data", "bfcl", "--out", t.TempDir(), "--categories", "live_simple"}, "live_simple"},
		{"no such model", []string{"data", "bfcl", "--out", t.TempDir(), "--model", filepath.Join(t.TempDir(), "none")}, "--model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := tb(t, tc.args...)
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want a failure saying %q", code, errs, tc.want)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
