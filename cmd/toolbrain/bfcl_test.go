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
overall 95% CI (Wilson): 20.8–93.9%
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

// TestEvalBFCLModel runs `eval bfcl --model` end to end on the email
// agent's small base: every case gets a verdict line in order (the one too
// long for its 1,024-token context says so), then the JSON summary. The
// score is whatever this model earns; the pipeline is what is checked.
func TestEvalBFCLModel(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"eval", "bfcl", "--model", "../../plugins/packs/email/base/model", "--categories", "simple_python,multiple,irrelevance",
		"--limit", "1", "--max-new-tokens", "8", "--batch", "2", "--json"}
	if rc := run(context.Background(), args, &out, &errOut); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 3 verdicts and a summary:\n%s", len(lines), out.String())
	}
	for i, id := range []string{"simple_python_0", "multiple_0", "irrelevance_0"} {
		if !strings.HasPrefix(lines[i], `{"id":"`+id+`"`) {
			t.Errorf("line %d = %s, want the verdict of %s", i, lines[i], id)
		}
	}
	if !strings.Contains(lines[1], `"error_type":"toolbrain:prompt_too_long"`) {
		t.Errorf("multiple_0 (1,271 tokens): %s", lines[1])
	}
	if !strings.Contains(lines[3], `"overall":{"category":"overall","correct":`) || !strings.Contains(lines[3], `"total":3`) {
		t.Errorf("summary: %s", lines[3])
	}
	if !strings.Contains(errOut.String(), "3 cases in") {
		t.Errorf("stderr lacks the speed line: %s", errOut.String())
	}
}
