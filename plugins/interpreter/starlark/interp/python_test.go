package interp

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/toolbrain/toolbrain/sdk"
)

// TestSession_CPythonReference runs programs written in the Python subset
// models use and compares the printed output with what CPython printed for
// the same source (testdata/cpython_reference.json, made by
// testdata/make_cpython_reference.py).
func TestSession_CPythonReference(t *testing.T) {
	b, err := os.ReadFile("testdata/cpython_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Python string
		Cases  []struct{ Name, Code, Stdout string }
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) < 15 {
		t.Fatalf("only %d reference cases", len(ref.Cases))
	}
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := NewSession(nil).Interpret(sdk.InterpretRequest{Code: c.Code})
			if r.Error != "" {
				t.Fatalf("error %q (kind %s)\ncode:\n%s", r.Error, r.ErrorKind, c.Code)
			}
			if r.Stdout != c.Stdout {
				t.Errorf("stdout\n got %q\nwant %q (CPython %s)", r.Stdout, c.Stdout, ref.Python)
			}
		})
	}
}
