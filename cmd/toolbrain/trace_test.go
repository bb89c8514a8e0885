package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTraceShow(t *testing.T) {
	p := filepath.Join(t.TempDir(), "traces.jsonl")
	lines := `{"id": "a", "task_id": "t", "final_answer": "42", "turns": [{"completion": "x", "code": "final_answer(42)", "tokens": {"prompt_ids": [1, 2], "generated_ids": [3], "logprobs": [-0.5]}}]}
{"id": "b", "task_id": "t", "turns": [], "error": "max turns"}
`
	if err := os.WriteFile(p, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustTB(t, "trace", "show", p)
	for _, want := range []string{"trace a", "final_answer(42)", `final answer: "42"`, "trace b", "max turns"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace show output lacks %q:\n%s", want, out)
		}
	}
	if out := mustTB(t, "trace", "show", p, "--index", "1"); strings.Contains(out, "trace a") {
		t.Errorf("--index 1 printed trace a:\n%s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"id\": 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := tb(t, "trace", "show", bad); code != 1 || !strings.Contains(errs, "bad.jsonl") {
		t.Errorf("bad trace file: exit %d, %s", code, errs)
	}
}
