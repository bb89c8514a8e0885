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

// TestTraceShow_ControlBytes: model-written text reaches the terminal with
// every unprintable byte escaped, wherever it sits in the trace.
func TestTraceShow_ControlBytes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "traces.jsonl")
	line := `{"id": "a\u001b[2J", "task_id": "t\u0000", "final_answer": "\u001b]0;x\u0007", "error": "e\u001b[31m",` +
		` "turns": [{"completion": "hi\u001b[2Jthere\u0000\u0007 \u200b\ttab", "tool_calls": [{"id": "c\u001b", "name": "n\u001b[1m", "arguments": {"q": "\u001b"}}],` +
		` "observations": [{"name": "o\u0000", "content": "\u001b[31mred\nline2\u0008"}], "error": "bad\u001b"}]}` + "\n"
	if err := os.WriteFile(p, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustTB(t, "trace", "show", p)
	for i := 0; i < len(out); i++ {
		if c := out[i]; c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			t.Fatalf("raw control byte %#x at %d in:\n%s", c, i, out)
		}
	}
	for _, want := range []string{`hi\x1b[2Jthere\x00\a \u200b`, `\x1b[31mred`, `line2\b`, `n\x1b[1m`, `bad\x1b`, `e\x1b[31m`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
