package model

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestCache_ResetAdopt checks that a row emptied by Reset, or replaced by
// Adopt with a row prefilled elsewhere, continues exactly as a fresh cache
// fed the same tokens, while the other row keeps its own sequence.
func TestCache_ResetAdopt(t *testing.T) {
	cfg := tinyConfig()
	m, err := New(testBackend(t), cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	newCache := func(batch int) *Cache {
		c, err := m.newCache(ctx, batch, 16)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	step := func(c *Cache, tokens ...[]int32) [][]float32 {
		out, err := c.Append(ctx, tokens)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(out)
	}
	prompt, next := []int32{1, 7, 9, 11}, []int32{13}
	fresh := newCache(1)
	step(fresh, prompt)
	want := step(fresh, next)[0]

	// Reset: row 0 held another sequence; row 1 goes on meanwhile.
	c := newCache(2)
	step(c, []int32{3, 4, 5, 6, 8, 10}, []int32{1, 2, 3})
	otherWant := step(newCacheFed(t, m, []int32{1, 2, 3}), []int32{4})[0]
	if err := c.Reset(ctx, []int{0}); err != nil {
		t.Fatal(err)
	}
	if c.Len(0) != 0 || c.Len(1) != 3 {
		t.Fatalf("after Reset: lengths %d, %d; want 0, 3", c.Len(0), c.Len(1))
	}
	step(c, prompt, nil)
	got := step(c, next, []int32{4})
	if !slices.Equal(got[0], want) || !slices.Equal(got[1], otherWant) {
		t.Error("after Reset: logits differ from fresh caches")
	}

	// Adopt: the prompt prefilled alone in a one-row cache.
	c = newCache(2)
	step(c, []int32{3, 4, 5, 6, 8, 10}, []int32{1, 2, 3})
	side := newCache(1)
	step(side, prompt)
	if err := c.Adopt(ctx, 0, side, 0); err != nil {
		t.Fatal(err)
	}
	if c.Len(0) != len(prompt) {
		t.Fatalf("after Adopt: length %d, want %d", c.Len(0), len(prompt))
	}
	got = step(c, next, []int32{4})
	if !slices.Equal(got[0], want) || !slices.Equal(got[1], otherWant) {
		t.Error("after Adopt: logits differ from fresh caches")
	}

	other := newCache(1)
	other.maxLen, other.slots = 64, Bucket(64)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"reset row out of range", c.Reset(ctx, []int{2}), ErrInput},
		{"adopt row out of range", c.Adopt(ctx, 2, side, 0), ErrInput},
		{"adopt from another length", c.Adopt(ctx, 0, other, 0), ErrInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("err %v, want %v", tt.err, tt.want)
			}
		})
	}
	side.Close()
	if err := c.Adopt(ctx, 0, side, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("adopt from a closed cache: err %v", err)
	}
	c.Close()
	if err := c.Reset(ctx, []int{0}); !errors.Is(err, ErrClosed) {
		t.Errorf("reset a closed cache: err %v", err)
	}
}

// newCacheFed returns a one-row cache of length 16 that holds ids.
func newCacheFed(t *testing.T, m *Model, ids []int32) *Cache {
	t.Helper()
	c, err := m.newCache(context.Background(), 1, 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Append(context.Background(), [][]int32{ids}); err != nil {
		t.Fatal(err)
	}
	return c
}
