package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/runtime/sandbox"
)

// TestSandboxRun runs CodeAct programs through the CLI: one that calls the
// calculator pack's tools and answers, and two that hit limits.
func TestSandboxRun(t *testing.T) {
	interp := pluginbuild.Path(t, "interpreter-starlark.wasm")
	dir := calculatorPack(t, t.TempDir())

	write := func(code string) string {
		p := filepath.Join(t.TempDir(), "prog.star")
		if err := os.WriteFile(p, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type result struct {
		Output      string  `json:"output"`
		FinalAnswer *string `json:"final_answer"`
		ToolCalls   []struct {
			Name string `json:"name"`
		} `json:"tool_calls"`
		Error     string `json:"error"`
		ErrorKind string `json:"error_kind"`
	}
	run := func(wantCode int, args ...string) result {
		t.Helper()
		code, out, errs := tb(t, append([]string{"sandbox", "run", "--interpreter", interp}, args...)...)
		if code != wantCode {
			t.Fatalf("exit %d, want %d; stderr %s", code, wantCode, errs)
		}
		var r result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return r
	}

	r := run(0, "--code", write("s = arith(op=\"add\", a=0.5, b=2)\nprint(f\"s={s}\")\nfinal_answer(s)\n"), "--tools", dir)
	if r.FinalAnswer == nil || *r.FinalAnswer != "2.5" || len(r.ToolCalls) != 1 || r.ToolCalls[0].Name != "arith" {
		t.Errorf("tool program: %+v", r)
	}
	r = run(3, "--code", write("while True:\n    pass\n"), "--max-steps", "5000")
	if r.ErrorKind != "max_steps" {
		t.Errorf("endless loop: %+v", r)
	}
	r = run(3, "--code", write("x = 1 +\n"))
	if r.ErrorKind != "syntax" || !strings.Contains(r.Error, "line 1") {
		t.Errorf("syntax error: %+v", r)
	}
}

// TestSandboxRun_HelpDefaults: the help states the defaults the code uses,
// printed from the same constants.
func TestSandboxRun_HelpDefaults(t *testing.T) {
	code, _, errs := tb(t, "sandbox", "run", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{fmt.Sprintf("(default %d)", sandbox.DefaultMaxSteps), fmt.Sprintf("(default %v)", sandbox.DefaultTimeout)} {
		if !strings.Contains(errs, want) {
			t.Errorf("help lacks %q:\n%s", want, errs)
		}
	}
}

// TestSandboxRun_EmbeddedInterpreter: a binary built with nothing but `go
// build` (this test binary, no plugins/build.sh) runs CodeAct programs on
// the interpreter committed in runtime/sandbox/embedded.
func TestSandboxRun_EmbeddedInterpreter(t *testing.T) {
	p := filepath.Join(t.TempDir(), "prog.star")
	if err := os.WriteFile(p, []byte("print(sum([1, 2, 3]))\nfinal_answer(str(6 * 7))\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := tb(t, "sandbox", "run", "--code", p)
	if code != 0 || !strings.Contains(out, `"final_answer": "42"`) || !strings.Contains(out, `"output": "6\n"`) {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}
