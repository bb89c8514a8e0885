package bfcl

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"testing"
)

type conformanceLine struct {
	ID          string  `json:"id"`
	Category    string  `json:"category"`
	Functions   []Value `json:"functions"`
	GroundTruth []Value `json:"ground_truth"`
	Candidate   []Value `json:"candidate"`
	Mutation    string  `json:"mutation"`
	Valid       bool    `json:"valid"`
	ErrorType   string  `json:"error_type"`
}

// TestConformance checks every verdict of the official checker recorded in
// testdata/bfcl_ast_conformance.jsonl.gz, error types included.
func TestConformance(t *testing.T) {
	raw, err := os.ReadFile("testdata/bfcl_ast_conformance.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, gzErr := gzip.NewReader(bytes.NewReader(raw))
	if gzErr != nil {
		t.Fatal(gzErr)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	n, bad := 0, 0
	for sc.Scan() {
		var l conformanceLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
		r := Check(l.Functions, l.Candidate, l.GroundTruth, l.Category)
		if r.Valid != l.Valid || r.ErrorType != l.ErrorType {
			bad++
			if bad <= 20 {
				t.Errorf("%s %s: got valid=%v %q (%s), want valid=%v %q", l.ID, l.Mutation, r.Valid, r.ErrorType, r.Error, l.Valid, l.ErrorType)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 7801 {
		t.Errorf("read %d lines, want 7801", n)
	}
	if bad > 0 {
		t.Errorf("%d of %d verdicts differ", bad, n)
	}
}
