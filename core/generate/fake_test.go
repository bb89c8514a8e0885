package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
)

// fakeModel is a deterministic stand-in for core/model: the logits after a
// row's tokens are a hash of that row's whole history, so any mistake in what
// the generator feeds (wrong row, lost token, repeated prefill) changes them.
// Its "KV cache" stores the tokens. It also checks the generator keeps the
// Cache contract and records the calls it got.
type fakeModel struct {
	vocab int

	// Hooks for error paths; nil means behave.
	newCacheErr error
	closeErr    error
	onAppend    func(call int, logits [][]float32) ([][]float32, error)

	mu      sync.Mutex
	caches  []*fakeCache
	maxLens []int
}

func (m *fakeModel) VocabSize() int { return m.vocab }

func (m *fakeModel) NewCache(_ context.Context, batch, maxLen int) (Cache, error) {
	if m.newCacheErr != nil {
		return nil, m.newCacheErr
	}
	if batch <= 0 || maxLen <= 0 {
		return nil, fmt.Errorf("fake: batch %d, maxLen %d", batch, maxLen)
	}
	c := &fakeCache{m: m, rows: make([][]int32, batch), maxLen: maxLen}
	m.mu.Lock()
	m.caches = append(m.caches, c)
	m.maxLens = append(m.maxLens, maxLen)
	m.mu.Unlock()
	return c, nil
}

type fakeCache struct {
	m      *fakeModel
	rows   [][]int32
	maxLen int
	closed bool
	// fed[call][b] is how many tokens row b got in that Append.
	fed [][]int
}

func (c *fakeCache) Append(_ context.Context, tokens [][]int32) ([][]float32, error) {
	if c.closed {
		return nil, errors.New("fake: append after close")
	}
	if len(tokens) != len(c.rows) {
		return nil, fmt.Errorf("fake: %d rows fed, batch is %d", len(tokens), len(c.rows))
	}
	counts := make([]int, len(tokens))
	out := make([][]float32, len(tokens))
	for b, t := range tokens {
		counts[b] = len(t)
		if len(t) == 0 {
			continue
		}
		if len(c.rows[b])+len(t) > c.maxLen {
			return nil, fmt.Errorf("fake: row %d would hold %d tokens, maxLen %d", b, len(c.rows[b])+len(t), c.maxLen)
		}
		c.rows[b] = append(c.rows[b], t...)
		out[b] = fakeLogits(c.rows[b], c.m.vocab)
	}
	c.fed = append(c.fed, counts)
	if c.m.onAppend != nil {
		return c.m.onAppend(len(c.fed), out)
	}
	return out, nil
}

func (c *fakeCache) Len(b int) int { return len(c.rows[b]) }

func (c *fakeCache) Close() error {
	c.closed = true
	return c.m.closeErr
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// fakeLogits are the logits after history: uniform in [-3, 3), from a hash of
// every token and its position.
func fakeLogits(history []int32, vocab int) []float32 {
	h := uint64(17)
	for _, t := range history {
		h = splitmix(h ^ uint64(t))
	}
	out := make([]float32, vocab)
	for v := range out {
		out[v] = float32(splitmix(h+uint64(v)*0x632be59bd9b4e019)>>40)/(1<<24)*6 - 3
	}
	return out
}

// refLogSoftmax is log-softmax in float64, written plainly.
func refLogSoftmax(logits []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range logits {
		m = math.Max(m, float64(v))
	}
	s := 0.0
	for _, v := range logits {
		s += math.Exp(float64(v) - m)
	}
	out := make([]float64, len(logits))
	for i, v := range logits {
		out[i] = float64(v) - m - math.Log(s)
	}
	return out
}

// refGreedy decodes one prompt greedily by recomputing the fake's logits on
// the full history at every step, with no cache and no batching. penalty is
// Hugging Face's repetition penalty (1 = off).
func refGreedy(prompt []int32, vocab, maxNew int, stopIDs []int32, penalty float32) (toks []int32, raw []float64) {
	hist := append([]int32(nil), prompt...)
	for range maxNew {
		logits := fakeLogits(hist, vocab)
		pen := append([]float32(nil), logits...)
		if penalty != 1 {
			for _, t := range hist {
				if logits[t] < 0 {
					pen[t] = logits[t] * penalty
				} else {
					pen[t] = logits[t] / penalty
				}
			}
		}
		best := int32(0)
		for v := 1; v < vocab; v++ {
			if pen[v] > pen[best] {
				best = int32(v)
			}
		}
		toks = append(toks, best)
		raw = append(raw, refLogSoftmax(logits)[best])
		hist = append(hist, best)
		for _, s := range stopIDs {
			if s == best {
				return toks, raw
			}
		}
	}
	return toks, raw
}
