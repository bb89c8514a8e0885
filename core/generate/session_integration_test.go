package generate_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/toolbrain/toolbrain/core/generate"
)

// TestSession_RealModelMatchesFullForward runs a two-turn session on
// llama-tiny (prompt, generate, feed an observation, generate again) and
// checks every generated token's raw logprob against a fresh full forward
// pass over the concatenated ids: the KV cache kept across turns must give
// the logits of the whole sequence. Turn one must also equal Generate.
func TestSession_RealModelMatchesFullForward(t *testing.T) {
	m := realModel(t)
	ctx := context.Background()
	opts := generate.Options{MaxNewTokens: 6, Temperature: 1, Seed: 1}
	first, err := generate.Generate(ctx, m, prompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := generate.NewSession(ctx, m, len(prompts), 64, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seqs := make([][]int32, len(prompts))
	rows := make([]int, len(prompts))
	for b, p := range prompts {
		if err := s.Feed(b, p); err != nil {
			t.Fatal(err)
		}
		seqs[b], rows[b] = slices.Clone(p), b
	}
	observations := [][]int32{{3, 4, 5}, {77}, {9, 10, 11, 12, 13}}
	for turn := range 2 {
		res, err := s.Generate(ctx, rows)
		if err != nil {
			t.Fatal(err)
		}
		for b, r := range res {
			if turn == 0 && !slices.Equal(r.Tokens, first[b].Tokens) {
				t.Errorf("row %d: session turn 1 %v, Generate %v", b, r.Tokens, first[b].Tokens)
			}
			for i, tok := range r.Tokens {
				full, err := m.Logits(ctx, [][]int32{seqs[b]})
				if err != nil {
					t.Fatal(err)
				}
				last := full[0][len(seqs[b])-1]
				mx := slices.Max(last)
				var sum float64
				for _, v := range last {
					sum += math.Exp(float64(v - mx))
				}
				want := float64(last[tok]-mx) - math.Log(sum)
				if d := math.Abs(float64(r.RawLogprobs[i]) - want); d > 2e-4 {
					t.Errorf("turn %d row %d token %d: raw logprob %g, full forward %g", turn, b, i, r.RawLogprobs[i], want)
				}
				seqs[b] = append(seqs[b], tok)
			}
			if turn == 0 {
				if err := s.Feed(b, observations[b]); err != nil {
					t.Fatal(err)
				}
				seqs[b] = append(seqs[b], observations[b]...)
			}
		}
	}
}
