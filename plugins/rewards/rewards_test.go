package rewards

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/toolbrain/toolbrain/sdk"
)

// Expected values worked by hand from the SQuAD v1.1 evaluation script's
// definition (normalize_answer + f1_score).
func TestF1(t *testing.T) {
	tests := []struct {
		name, pred, truth string
		want              float64
	}{
		{name: "identical after normalisation", pred: "The Cat!", truth: "cat", want: 1},
		{name: "partial", pred: "the cat sat", truth: "a cat sat down", want: 0.8},
		{name: "multiset", pred: "a a b", truth: "a b b", want: 2.0 / 3},
		{name: "disjoint", pred: "dog", truth: "cat", want: 0},
		{name: "both empty", pred: "the", truth: "", want: 1},
		{name: "one empty", pred: "", truth: "x", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := F1(tt.pred, tt.truth); math.Abs(got-tt.want) > 1e-12 {
				t.Fatalf("F1(%q, %q) = %v, want %v", tt.pred, tt.truth, got, tt.want)
			}
		})
	}
}

func TestBuiltins(t *testing.T) {
	tr := sdk.Trace{FinalAnswer: " Paris ", Turns: []sdk.Turn{
		{ToolCalls: []sdk.ToolCall{{Name: "a"}, {Name: "b"}}, Observations: []sdk.Observation{{Content: "ok"}, {Content: "boom", IsError: true}}},
		{Error: "parse error"},
		{},
	}}
	req := sdk.RewardRequest{Expected: "paris", Trace: tr}
	w, err := FromConfig([]Config{
		{Name: NameExactMatch, Weight: 1},
		{Name: NameExactMatch, Weight: 10, Normalize: true},
		{Name: NameToolSuccess, Weight: 3},
		{Name: NameStepEfficiency, Weight: 4, MaxTurns: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := w.Reward(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// exact 0, normalised 1·10, tool success (3-2)/3 · 3 = 1, steps (1 - 2/4) · 4 = 2.
	if math.Abs(r.Score-13) > 1e-12 {
		t.Fatalf("weighted score %v, want 13 (info %v)", r.Score, r.Info)
	}
	if _, err := FromConfig([]Config{{Name: "bogus"}}); !errors.Is(err, ErrUnknownReward) {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkTokenF1(b *testing.B) {
	for b.Loop() {
		F1("the quick brown fox jumps over the lazy dog", "a quick brown dog jumps over a lazy fox")
	}
}
