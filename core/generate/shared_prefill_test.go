package generate_test

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/model"
)

// recorder wraps a model and keeps, for every cache it makes, the batch
// size and a copy of the logits each Append returned. With adopt false its
// caches hide generate.RowAdopter, so a Session prefills every row itself.
type recorder struct {
	m      *model.Model
	adopt  bool
	mu     sync.Mutex
	caches []*recCache
}

func (r *recorder) VocabSize() int { return r.m.VocabSize() }

func (r *recorder) NewCache(ctx context.Context, batch, maxLen int) (generate.Cache, error) {
	c, err := r.m.NewCache(ctx, batch, maxLen)
	if err != nil {
		return nil, err
	}
	rc := &recCache{Cache: c, batch: batch}
	r.mu.Lock()
	r.caches = append(r.caches, rc)
	r.mu.Unlock()
	if r.adopt {
		return &adoptingCache{rc}, nil
	}
	return rc, nil
}

type recCache struct {
	generate.Cache
	batch int
	steps [][][]float32 // per Append, per row: the logits (nil: not fed)
	fed   [][]int       // per Append, per row: tokens fed
}

func (c *recCache) Append(ctx context.Context, tokens [][]int32) ([][]float32, error) {
	out, err := c.Cache.Append(ctx, tokens)
	if err != nil {
		return nil, err
	}
	step := make([][]float32, len(out))
	fed := make([]int, len(tokens))
	for b, l := range out {
		step[b] = slices.Clone(l)
		fed[b] = len(tokens[b])
	}
	c.steps = append(c.steps, step)
	c.fed = append(c.fed, fed)
	return out, nil
}

// adoptingCache forwards Adopt to the model's cache, unwrapping the source.
type adoptingCache struct{ *recCache }

func (c *adoptingCache) Adopt(ctx context.Context, dst int, from generate.Cache, src int) error {
	if f, ok := from.(*adoptingCache); ok {
		from = f.Cache
	}
	return c.Cache.(generate.RowAdopter).Adopt(ctx, dst, from, src)
}

// TestSession_SharedPrefill runs a two-turn session whose rows 0, 1 and 3
// are fed one prompt and row 2 another, once with the cache's Adopt (the
// three rows share one prefill in a one-row cache) and once without (each
// row is prefilled), on both CPU backends. Every row's logits at every
// step, and so its greedy tokens, must agree within 1e-5 of the row's
// largest logit; and with Adopt the batch's own prefill must not carry the
// shared prompt.
func TestSession_SharedPrefill(t *testing.T) {
	prompt, other := []int32{1, 17, 42, 99, 5, 6, 7}, []int32{1, 5}
	feeds := [][]int32{prompt, prompt, other, prompt}
	observation := []int32{3, 4, 5}
	for _, be := range []string{"go", "cpu"} {
		t.Run(be, func(t *testing.T) {
			m := realModelOn(t, be)
			run := func(adopt bool) (*recorder, [][]generate.Result) {
				r := &recorder{m: m, adopt: adopt}
				ctx := context.Background()
				s, err := generate.NewSession(ctx, r, len(feeds), 64, generate.Options{MaxNewTokens: 5})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				rows := []int{0, 1, 2, 3}
				var turns [][]generate.Result
				for turn := range 2 {
					for b := range feeds {
						in := observation
						if turn == 0 {
							in = feeds[b]
						}
						if err := s.Feed(b, in); err != nil {
							t.Fatal(err)
						}
					}
					res, err := s.Generate(ctx, rows)
					if err != nil {
						t.Fatal(err)
					}
					turns = append(turns, res)
				}
				return r, turns
			}
			plain, want := run(false)
			shared, got := run(true)

			if len(plain.caches) != 1 {
				t.Fatalf("without Adopt: %d caches, want the session's only", len(plain.caches))
			}
			main := shared.caches[0]
			var side *recCache
			for _, c := range shared.caches[1:] {
				if c.batch == 1 && len(c.steps) == 1 {
					side = c
				}
			}
			if len(shared.caches) != 2 || side == nil {
				t.Fatalf("with Adopt: %d caches, want the session's and one one-row prefill", len(shared.caches))
			}
			if f := main.fed[0]; !slices.Equal(f, []int{0, 0, len(other), 0}) {
				t.Errorf("with Adopt: the batch's prefill fed %v tokens per row, want only row 2's", f)
			}
			// The shared rows' first logits are the one-row prefill's.
			first := slices.Clone(main.steps[0])
			for _, b := range []int{0, 1, 3} {
				first[b] = side.steps[0][0]
			}
			steps := append([][][]float32{first}, main.steps[1:]...)
			if len(steps) != len(plain.caches[0].steps) {
				t.Fatalf("with Adopt: %d steps, without: %d", len(steps), len(plain.caches[0].steps))
			}
			worst := 0.0
			for i, step := range steps {
				for b, g := range step {
					w := plain.caches[0].steps[i][b]
					if len(g) != len(w) {
						t.Fatalf("step %d row %d: %d logits with Adopt, %d without", i, b, len(g), len(w))
					}
					scale := 0.0
					for _, v := range w {
						scale = max(scale, math.Abs(float64(v)))
					}
					for v := range w {
						d := math.Abs(float64(g[v]-w[v])) / max(scale, 1e-30)
						worst = max(worst, d)
						if d > 1e-5 {
							t.Fatalf("step %d row %d token %d: logit %v with Adopt, %v without", i, b, v, g[v], w[v])
						}
					}
				}
			}
			t.Logf("worst relative logit difference %.2g", worst)
			for turn := range got {
				for b := range got[turn] {
					if !slices.Equal(got[turn][b].Tokens, want[turn][b].Tokens) {
						t.Errorf("turn %d row %d: tokens %v with Adopt, %v without", turn, b, got[turn][b].Tokens, want[turn][b].Tokens)
					}
				}
			}
		})
	}
}
