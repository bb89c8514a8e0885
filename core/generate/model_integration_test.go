package generate_test

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/model"
)

// realModel loads the llama-tiny checkpoint of testdata/ on the pure-Go backend.
func realModel(t *testing.T) *model.Model { return realModelOn(t, "go") }

// realModelOn loads the llama-tiny checkpoint of testdata/ on backend be.
func realModelOn(t *testing.T, be string) *model.Model {
	t.Helper()
	b, err := backend.New(be)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(b, filepath.Join("..", "..", "testdata", "models", "llama-tiny"), model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

var prompts = [][]int32{{1, 17, 42, 99}, {1, 5}, {1, 200, 201, 202, 203, 204, 205, 8}}

// TestGenerate_GreedyIsArgmaxOfFullForward checks the KV-cache path of the
// real model against full forward passes: every greedy token is the argmax
// of the logits of a fresh forward pass over prompt+generated-so-far, and
// its raw logprob is that pass's log-softmax.
func TestGenerate_GreedyIsArgmaxOfFullForward(t *testing.T) {
	m := realModel(t)
	ctx := context.Background()
	res, err := generate.Generate(ctx, m, prompts, generate.Options{MaxNewTokens: 12})
	if err != nil {
		t.Fatal(err)
	}
	for r, p := range prompts {
		seq := slices.Clone(p)
		for step, tok := range res[r].Tokens {
			full, err := m.Logits(ctx, [][]int32{seq})
			if err != nil {
				t.Fatal(err)
			}
			last := full[0][len(seq)-1]
			best := 0
			for v := range last {
				if last[v] > last[best] {
					best = v
				}
			}
			if int(tok) != best {
				t.Fatalf("row %d step %d: generated %d, full-forward argmax %d", r, step, tok, best)
			}
			var sum float64
			for _, v := range last {
				sum += math.Exp(float64(v - last[best]))
			}
			want := -math.Log(sum) // log-softmax at the argmax
			if got := float64(res[r].RawLogprobs[step]); math.Abs(got-want) > 1e-4 {
				t.Errorf("row %d step %d: raw logprob %g, full forward %g", r, step, got, want)
			}
			seq = append(seq, tok)
		}
	}
}

// TestGenerate_BatchedEqualsOneAtATime runs the rows together and alone,
// greedy and sampled with a seed, and wants the same tokens and logprobs.
func TestGenerate_BatchedEqualsOneAtATime(t *testing.T) {
	m := realModel(t)
	ctx := context.Background()
	for _, opts := range []generate.Options{
		{MaxNewTokens: 10},
		{MaxNewTokens: 10, Temperature: 0.9, TopP: 0.95, TopK: 40, Seed: 11},
	} {
		batched, err := generate.Generate(ctx, m, prompts, opts)
		if err != nil {
			t.Fatal(err)
		}
		for r, p := range prompts {
			o := opts
			o.Streams = []uint64{uint64(r)} // row r's random stream, as in the batch
			alone, err := generate.Generate(ctx, m, [][]int32{p}, o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(alone[0].Tokens, batched[r].Tokens) {
				t.Errorf("T=%g row %d: batched %v, alone %v", opts.Temperature, r, batched[r].Tokens, alone[0].Tokens)
				continue
			}
			for i := range alone[0].Logprobs {
				if d := math.Abs(float64(alone[0].Logprobs[i] - batched[r].Logprobs[i])); d > 1e-4 {
					t.Errorf("T=%g row %d token %d: logprob differs by %g", opts.Temperature, r, i, d)
				}
			}
		}
	}
}
