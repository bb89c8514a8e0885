package generate_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/generate"
)

// batchPrompts are more prompts than the batcher has rows, of different
// lengths, so that rows are reused and prefills land next to decode steps.
var batchPrompts = [][]int32{{1, 17, 42, 99}, {1, 5}, {1, 200, 201, 202, 203, 204, 205, 8}, {1, 9, 9}, {1, 33, 44, 55, 66}, {1, 7}}

// TestBatcher_SameAsAlone checks continuous batching against decoding
// each request alone: greedy requests with different lengths, sent at once
// to a batcher of fewer rows, get exactly the tokens generate.Generate
// gives each alone; a seeded sampled request gets the same tokens alone and
// in a crowd.
func TestBatcher_SameAsAlone(t *testing.T) {
	m := realModel(t)
	ctx := context.Background()
	b, err := generate.NewBatcher(ctx, m, 2, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	opts := func(i int) generate.Options {
		return generate.Options{MaxNewTokens: 5 + 3*i}
	}
	want := make([]generate.Result, len(batchPrompts))
	for i, p := range batchPrompts {
		res, err := generate.Generate(ctx, m, [][]int32{p}, opts(i))
		if err != nil {
			t.Fatal(err)
		}
		want[i] = res[0]
	}
	sampled := generate.BatchRequest{Prompt: []int32{1, 50, 60}, Options: generate.Options{MaxNewTokens: 12, Temperature: 1, TopP: 0.9, Seed: 7}}
	alone, err := b.Generate(ctx, sampled)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]generate.Result, len(batchPrompts))
	var crowd generate.Result
	var wg sync.WaitGroup
	errs := make([]error, len(batchPrompts)+1)
	for i, p := range batchPrompts {
		wg.Go(func() { got[i], errs[i] = b.Generate(ctx, generate.BatchRequest{Prompt: p, Options: opts(i)}) })
	}
	wg.Go(func() { crowd, errs[len(batchPrompts)] = b.Generate(ctx, sampled) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := range batchPrompts {
		if !slices.Equal(got[i].Tokens, want[i].Tokens) || got[i].FinishReason != want[i].FinishReason {
			t.Errorf("prompt %d: batched %v (%s), alone %v (%s)", i, got[i].Tokens, got[i].FinishReason, want[i].Tokens, want[i].FinishReason)
		}
		for k := range got[i].RawLogprobs {
			if d := math.Abs(float64(got[i].RawLogprobs[k] - want[i].RawLogprobs[k])); d > 1e-4 {
				t.Errorf("prompt %d token %d: raw logprob %v batched, %v alone", i, k, got[i].RawLogprobs[k], want[i].RawLogprobs[k])
			}
		}
	}
	if !slices.Equal(alone.Tokens, crowd.Tokens) || len(alone.Tokens) == 0 {
		t.Errorf("seeded request: alone %v, in a crowd %v", alone.Tokens, crowd.Tokens)
	}
}

// TestBatcher_Stream checks what OnToken sees: every token in order, with
// the most likely tokens, the greedy pick first with its raw logprob.
func TestBatcher_Stream(t *testing.T) {
	m := realModel(t)
	b, err := generate.NewBatcher(context.Background(), m, 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var seen []generate.Token
	res, err := b.Generate(context.Background(), generate.BatchRequest{Prompt: batchPrompts[0],
		Options: generate.Options{MaxNewTokens: 6}, TopLogprobs: 3,
		OnToken: func(tk generate.Token) error { seen = append(seen, tk); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(res.Tokens) {
		t.Fatalf("OnToken saw %d tokens, result has %d", len(seen), len(res.Tokens))
	}
	for i, tk := range seen {
		if tk.ID != res.Tokens[i] || len(tk.Top) != 3 || tk.Top[0].ID != tk.ID || math.Abs(float64(tk.Top[0].Logprob-tk.RawLogprob)) > 1e-5 {
			t.Errorf("token %d: %+v; result token %d", i, tk, res.Tokens[i])
		}
		if tk.Top[0].Logprob < tk.Top[1].Logprob || tk.Top[1].Logprob < tk.Top[2].Logprob || tk.Top[0].Logprob > 0 {
			t.Errorf("token %d: top logprobs %+v are not sorted logprobs", i, tk.Top)
		}
	}
	stopErr := errors.New("client gone")
	_, err = b.Generate(context.Background(), generate.BatchRequest{Prompt: batchPrompts[1], Options: generate.Options{MaxNewTokens: 6},
		OnToken: func(generate.Token) error { return stopErr }})
	if !errors.Is(err, stopErr) {
		t.Errorf("OnToken's error: got %v", err)
	}
}

// TestBatcher_Cancel checks that a cancelled request leaves its row at the
// next step while the other goes on, and that the row serves again.
func TestBatcher_Cancel(t *testing.T) {
	m := realModel(t)
	b, err := generate.NewBatcher(context.Background(), m, 1, 512)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = b.Generate(ctx, generate.BatchRequest{Prompt: batchPrompts[0], Options: generate.Options{MaxNewTokens: 400},
		OnToken: func(generate.Token) error {
			if n++; n == 3 {
				cancel()
			}
			return nil
		}})
	if !errors.Is(err, context.Canceled) || n > 4 {
		t.Fatalf("cancelled request: err %v after %d tokens", err, n)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.Generate(context.Background(), generate.BatchRequest{Prompt: batchPrompts[1], Options: generate.Options{MaxNewTokens: 3}})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the row did not come free")
	}
}

func TestBatcher_Errors(t *testing.T) {
	m := realModel(t)
	b, err := generate.NewBatcher(context.Background(), m, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  generate.BatchRequest
		want error
	}{
		{"empty prompt", generate.BatchRequest{Options: generate.Options{MaxNewTokens: 2}}, generate.ErrEmptyPrompt},
		{"too long", generate.BatchRequest{Prompt: make([]int32, 8), Options: generate.Options{MaxNewTokens: 2}}, generate.ErrPromptTooLong},
		{"request MaxLen", generate.BatchRequest{Prompt: make([]int32, 4), Options: generate.Options{MaxNewTokens: 2, MaxLen: 4}}, generate.ErrPromptTooLong},
		{"bad token", generate.BatchRequest{Prompt: []int32{1, 999}, Options: generate.Options{MaxNewTokens: 2}}, generate.ErrBadToken},
		{"no new tokens", generate.BatchRequest{Prompt: []int32{1}}, generate.ErrBadOptions},
		{"bad top", generate.BatchRequest{Prompt: []int32{1}, Options: generate.Options{MaxNewTokens: 2}, TopLogprobs: -1}, generate.ErrBadOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := b.Generate(context.Background(), tt.req); !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
		})
	}
	b.Close()
	if _, err := b.Generate(context.Background(), generate.BatchRequest{Prompt: []int32{1}, Options: generate.Options{MaxNewTokens: 2}}); !errors.Is(err, generate.ErrBatcherClosed) {
		t.Errorf("after Close: err %v, want ErrBatcherClosed", err)
	}
	for _, bad := range []struct{ rows, maxLen int }{{0, 8}, {1, 1}} {
		if _, err := generate.NewBatcher(context.Background(), m, bad.rows, bad.maxLen); !errors.Is(err, generate.ErrBadOptions) {
			t.Errorf("NewBatcher(%d rows, %d): err %v", bad.rows, bad.maxLen, err)
		}
	}
}
