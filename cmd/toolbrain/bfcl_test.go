package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvalBFCLResponses scores responses given as calls and as raw text
// against the embedded BFCL data: one verdict line each, in input order
// (repeated ids allowed), then the summary.
func TestEvalBFCLResponses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "responses.jsonl")
	write(t, path, strings.Join([]string{
		`{"id": "simple_python_0", "calls": [{"calculate_triangle_area": {"base": 10, "height": 5}}]}`,
		`{"id": "simple_python_0", "calls": [{"calculate_triangle_area": {"base": 10, "height": 5.5}}]}`,
		`{"id": "irrelevance_0", "text": "No function fits."}`,
	}, "\n")+"\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"text", []string{"eval", "bfcl", "--responses", path}, `{"id":"simple_python_0","valid":true,"error_type":""}
{"id":"simple_python_0","valid":false,"error_type":"type_error:simple"}
{"id":"irrelevance_0","valid":true,"error_type":""}
simple_python       50.00%  (1/2)
irrelevance        100.00%  (1/1)
overall             66.67%  (2/3)
`},
		{"json", []string{"eval", "bfcl", "--responses", path, "--categories", "simple_python,irrelevance", "--json"}, `{"id":"simple_python_0","valid":true,"error_type":""}
{"id":"simple_python_0","valid":false,"error_type":"type_error:simple"}
{"id":"irrelevance_0","valid":true,"error_type":""}
{"categories":[{"category":"simple_python","correct":1,"total":2,"accuracy":0.5},{"category":"irrelevance","correct":1,"total":1,"accuracy":1}],"overall":{"category":"overall","correct":2,"total":3,"accuracy":0.6666666666666666}}
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if rc := run(context.Background(), tc.args, &out, &errOut); rc != 0 {
				t.Fatalf("rc %d: %s", rc, errOut.String())
			}
			if out.String() != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tc.want)
			}
		})
	}
	for _, args := range [][]string{
		{"eval", "bfcl"},
		{"eval", "bfcl", "--responses", filepath.Join(dir, "missing.jsonl")},
		{"eval", "bfcl", "--responses", path, "--categories", "simple_python"},
		{"eval", "bfcl", "--responses", path, "--data", dir},
	} {
		var out, errOut bytes.Buffer
		if rc := run(context.Background(), args, &out, &errOut); rc == 0 {
			t.Errorf("%v: rc 0, want an error", args)
		}
	}
}
