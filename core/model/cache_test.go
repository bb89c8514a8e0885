package model

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/toolbrain/toolbrain/core/backend/cpu"
)

// TestCache_MatchesForward decodes a batch whose rows have different prompt
// lengths, feeding each row its own number of tokens per step (sometimes
// none, sometimes several), and checks every returned logit vector against
// the full forward pass over that row's whole prefix. On the "cpu" backend
// it also checks that each step updates the cache in place: the old
// buffers are donated, so the scatter writes into them.
func TestCache_MatchesForward(t *testing.T) {
	cpuBackend, err := cpu.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer cpuBackend.Finalize()
	backends := []struct {
		name    string
		backend backends.Backend
		inPlace bool
	}{
		{name: "simplego", backend: testBackend(t)},
		{name: "cpu", backend: cpuBackend, inPlace: true},
	}
	for _, be := range backends {
		for _, name := range []string{"llama-tiny", "qwen2-tiny-bf16"} {
			t.Run(be.name+"/"+name, func(t *testing.T) {
				testCacheMatchesForward(t, be.backend, name, be.inPlace)
			})
		}
	}
}

func testCacheMatchesForward(t *testing.T, backend backends.Backend, name string, inPlace bool) {
	m, err := Load(backend, filepath.Join(refDir, name), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	vocab := int32(m.VocabSize())
	tok := func(i int) int32 { return int32(i*37+11) % vocab }
	steps := [][][]int32{
		{{tok(1), tok(2), tok(3)}, {tok(4), tok(5), tok(6), tok(7), tok(8), tok(9), tok(10)}, {tok(11)}},
		{{tok(12)}, {tok(13)}, {tok(14)}},
		{{tok(15)}, nil, {tok(16), tok(17)}},
		{{tok(18)}, {tok(19)}, {tok(20)}},
		{nil, {tok(21)}, {tok(22)}},
	}
	for i := 23; i < 40; i++ {
		steps = append(steps, [][]int32{{tok(i)}, {tok(i + 100)}, {tok(i + 200)}})
	}
	c, err := m.NewCache(ctx, 3, 40)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	prefix := make([][]int32, 3)
	var storage *float32 // of the first layer's keys after step 0
	for s, step := range steps {
		got, err := c.Append(ctx, step)
		if err != nil {
			t.Fatalf("step %d: %v", s, err)
		}
		if inPlace {
			p := cacheStorage(t, c.(*Cache))
			if s == 0 {
				storage = p
			} else if p != storage {
				t.Fatalf("step %d: the key cache moved to new storage: it was copied, not updated in place", s)
			}
		}
		for b := range step {
			prefix[b] = append(prefix[b], step[b]...)
		}
		full, err := m.Logits(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for b := range step {
			if c.Len(b) != len(prefix[b]) {
				t.Fatalf("step %d row %d: Len %d, want %d", s, b, c.Len(b), len(prefix[b]))
			}
			if len(step[b]) == 0 {
				if got[b] != nil {
					t.Fatalf("step %d row %d: logits for a row given no tokens", s, b)
				}
				continue
			}
			want := full[b][len(prefix[b])-1]
			worst := 0.0
			for v := range want {
				d := math.Abs(float64(got[b][v] - want[v]))
				if math.IsNaN(d) || d > worst {
					worst = d
				}
			}
			if !(worst <= 1e-4) {
				t.Fatalf("step %d row %d (len %d): max |cache - full| = %.3g", s, b, len(prefix[b]), worst)
			}
		}
	}
}

// cacheStorage is where the first layer's key cache lives.
func cacheStorage(t *testing.T, c *Cache) *float32 {
	t.Helper()
	buf, err := c.k[0].Buffer(c.m.backend, 0)
	if err != nil {
		t.Fatal(err)
	}
	flat, err := c.m.backend.BufferData(buf)
	if err != nil {
		t.Fatal(err)
	}
	return &flat.([]float32)[0]
}

func TestCache_Errors(t *testing.T) {
	backend := testBackend(t)
	cfg := tinyConfig()
	m, err := New(backend, cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	tests := []struct {
		name   string
		tokens [][]int32
		want   error
	}{
		{"wrong batch", [][]int32{{1}}, ErrInput},
		{"token out of range", [][]int32{{1}, {int32(cfg.VocabSize)}}, ErrInput},
		{"negative token", [][]int32{{-1}, {1}}, ErrInput},
		{"too long", [][]int32{{1, 2, 3, 4, 5}, {1}}, ErrInput},
	}
	c, err := m.NewCache(ctx, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Append(ctx, tt.tokens); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if c.Len(0) != 0 || c.Len(1) != 0 {
				t.Fatalf("a failed Append changed the cache")
			}
		})
	}
	if _, err := c.Append(ctx, [][]int32{{1, 2, 3, 4}, {5}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Append(ctx, [][]int32{{1}, nil}); !errors.Is(err, ErrInput) {
		t.Fatalf("append past maxLen: got %v", err)
	}
	c.Close()
	if _, err := c.Append(ctx, [][]int32{{1}, {1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: got %v", err)
	}
	if _, err := m.NewCache(ctx, 0, 4); !errors.Is(err, ErrInput) {
		t.Fatalf("zero batch: got %v", err)
	}
}

// tinyConfig is a small Llama with GQA for fast tests.
func tinyConfig() Config {
	return Config{
		Architecture: Llama, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, RopeTheta: 10000, RMSNormEps: 1e-6,
		VocabSize: 50, MaxPositionEmbeddings: 128, BOSTokenID: 1, EOSTokenIDs: []int{2},
	}
}

// TestCache_StepCostIgnoresMaxLen checks that a decode step near
// position 20 costs at most 1.5× as much in a cache made for 2,000
// positions as in one made for 40 (batch 8, benchmark shape, "cpu"): a
// step attends only the slots its rows reach, so a long max_len costs a
// short episode nothing. (Attending every slot made it 4× as much.) Steps
// of the two caches are interleaved and the fastest of many compared, so
// load from other processes affects both alike.
func TestCache_StepCostIgnoresMaxLen(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	be, err := cpu.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Finalize()
	cfg := BenchConfig()
	m, err := New(be, cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	const batch, pos = 8, 20
	var caches [2]*Cache
	for i, maxLen := range []int{40, 2000} {
		if caches[i], err = m.newCache(ctx, batch, maxLen); err != nil {
			t.Fatal(err)
		}
		defer caches[i].Close()
		if _, err := caches[i].Append(ctx, randomIDs(rng, batch, pos, cfg.VocabSize)); err != nil {
			t.Fatal(err)
		}
	}
	best := [2]time.Duration{time.Hour, time.Hour}
	for range 16 {
		for i, c := range caches {
			tok := randomIDs(rng, batch, 1, cfg.VocabSize)
			t0 := time.Now()
			if _, err := c.Append(ctx, tok); err != nil {
				t.Fatal(err)
			}
			best[i] = min(best[i], time.Since(t0))
		}
	}
	t.Logf("fastest step near %d with max_len 40: %v, with max_len 2000: %v", pos, best[0], best[1])
	if float64(best[1]) > 1.5*float64(best[0]) {
		t.Fatalf("a step with max_len 2000 (%v) costs more than 1.5× one with max_len 40 (%v)", best[1], best[0])
	}
}
