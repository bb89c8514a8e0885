package generate_test

import (
	"context"
	"fmt"

	"github.com/toolbrain/toolbrain/core/generate"
)

// counter is a toy model over 10 tokens that strongly predicts "last token
// + 1". Its cache only remembers each row's last token.
type counter struct{}

func (counter) VocabSize() int { return 10 }

func (counter) NewCache(_ context.Context, batch, _ int) (generate.Cache, error) {
	return &counterCache{last: make([]int32, batch), n: make([]int, batch)}, nil
}

type counterCache struct {
	last []int32
	n    []int
}

func (c *counterCache) Append(_ context.Context, tokens [][]int32) ([][]float32, error) {
	out := make([][]float32, len(tokens))
	for b, t := range tokens {
		if len(t) == 0 {
			continue
		}
		c.last[b], c.n[b] = t[len(t)-1], c.n[b]+len(t)
		out[b] = make([]float32, 10)
		out[b][(c.last[b]+1)%10] = 5
	}
	return out, nil
}

func (c *counterCache) Len(b int) int { return c.n[b] }
func (c *counterCache) Close() error  { return nil }

func ExampleGenerate() {
	prompts := [][]int32{{1, 2}, {6}}
	res, err := generate.Generate(context.Background(), counter{}, prompts, generate.Options{
		MaxNewTokens: 5,
		StopTokenIDs: []int32{9}, // the end-of-sequence id
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res {
		fmt.Println(r.Tokens, r.FinishReason)
	}
	// Output:
	// [3 4 5 6 7] length
	// [7 8 9] stop
}

func ExampleGenerate_sampling() {
	digits := func(ids []int32) string {
		s := ""
		for _, id := range ids {
			s += fmt.Sprint(id)
		}
		return s
	}
	res, err := generate.Generate(context.Background(), counter{}, [][]int32{{0}}, generate.Options{
		MaxNewTokens: 20,
		Temperature:  0.5,
		TopK:         1, // only the most likely token survives, so sampling is deterministic here
		Seed:         7,
		StopStrings:  []string{"45"},
		Decode:       digits,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := res[0]
	fmt.Println(r.Tokens, r.FinishReason, r.StopString)
	// With one candidate the policy is certain; the model itself is not.
	fmt.Printf("policy logprob %.1f, model logprob %.3f\n", r.Logprobs[0], r.RawLogprobs[0])
	// Output:
	// [1 2 3 4 5] stop 45
	// policy logprob 0.0, model logprob -0.059
}
