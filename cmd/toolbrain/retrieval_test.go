package main

import (
	"strings"
	"testing"
)

func TestRetrievalEval(t *testing.T) {
	out := mustTB(t, "retrieval", "eval", "--seed", "3", "--queries-per-tool", "1")
	if !strings.Contains(out, "576 tools, 576 labelled queries (seed 3)") || !strings.Contains(out, "index built in") {
		t.Errorf("no library line in:\n%s", out)
	}
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "bm25 ") {
			row = l
		}
	}
	f := strings.Fields(row)
	if len(f) != 7 || f[1] != "576" {
		t.Fatalf("bm25 row %q, want method, queries, 4 metrics and the per-query time", row)
	}
	if strings.Contains(out, "fused") {
		t.Errorf("fused row without --embedder:\n%s", out)
	}
}

func TestRetrievalEval_Errors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{name: "negative size", args: []string{"--tools", "-1"}, code: 2, inStderr: "--tools must be >= 0"},
		{name: "no queries", args: []string{"--queries-per-tool", "0"}, code: 2, inStderr: "--queries-per-tool >= 1"},
		{name: "missing embedder", args: []string{"--embedder", "/nonexistent/embedder"}, code: 1, inStderr: "/nonexistent/embedder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := tb(t, append([]string{"retrieval", "eval"}, tt.args...)...)
			if code != tt.code || !strings.Contains(errs, tt.inStderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, tt.code, tt.inStderr)
			}
		})
	}
}
