package taskgen_test

import (
	"testing"

	"github.com/toolbrain/toolbrain/core/taskgen"
)

// FuzzParseCandidates feeds model replies to the parser: it must never
// panic, and what it returns must be candidates or an error, not both.
func FuzzParseCandidates(f *testing.F) {
	for _, s := range []string{
		`[{"question": "q", "answer": "a", "calls": [{"name": "t", "arguments": {}}], "difficulty": "easy"}]`,
		"```json\n[{\"question\": \"q\"}]\n```",
		`{"tasks": [{"question": "q", "answer": 1, "calls": [{"name": "t", "arguments": "{\"x\": 1}"}]}]}`,
		`text [1] then [{"metadata": {"k": [1, 2]}}] after`,
		"[", "```", `{"tasks": 3}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		cands, err := taskgen.ParseCandidates(reply)
		if err != nil && cands != nil {
			t.Fatalf("both candidates and an error: %v", err)
		}
	})
}
