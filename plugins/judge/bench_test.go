package judge_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/judge"
)

// BenchmarkParseScores reads a relative judge's answer for a group of 8:
// the answer asked for, and the worst case the parser bounds (64 KB of
// '{' and no object).
func BenchmarkParseScores(b *testing.B) {
	var entries []string
	for i := 1; i <= 8; i++ {
		entries = append(entries, fmt.Sprintf(`{"trajectory_id": "%d", "explanation": "reached the goal in %d steps with one failed call", "score": 0.%d}`, i, i, i))
	}
	for _, tt := range []struct{ name, text string }{
		{"answer", "```json\n{\"scores\": [" + strings.Join(entries, ", ") + "]}\n```"},
		{"worst", strings.Repeat("{", 64<<10)},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				_, _ = judge.ParseScores(tt.text, 8)
			}
		})
	}
}
