package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/toolbrain/toolbrain/core/backend/cpu"
)

// BenchmarkForward is the benchmark shape of docs/PERFORMANCE.md: batch 8 × 64 tokens.
func BenchmarkForward(b *testing.B) {
	cfg := BenchConfig()
	m, err := New(testBackend(b), cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ids := randomIDs(rand.New(rand.NewPCG(1, 2)), 8, 64, cfg.VocabSize)
	ctx := context.Background()
	if _, err := m.Logits(ctx, ids); err != nil { // compile outside the timer
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Logits(ctx, ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(8*64*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkDecode times one decode step at batch 1 and 8, at positions
// about 20 and 500 of a 1024-slot cache (the cost should not depend on the
// position).
func BenchmarkDecode(b *testing.B) {
	cfg := BenchConfig()
	m, err := New(testBackend(b), cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, batch := range []int{1, 8} {
		for _, pos := range []int{20, 500} {
			b.Run(fmt.Sprintf("batch=%d/pos=%d", batch, pos), func(b *testing.B) {
				benchDecodeSteps(b, m, batch, 1024, pos, rng)
			})
		}
	}
}

// BenchmarkDecodeCPU times decode steps on "cpu" at the agent's shape
// (a 256-slot cache, rows near position 90), batch 1 and 8, with the
// backend's idle workers polling for work (the default) and sleeping at
// once (spin=0), where each split waits for a worker to wake:
//
//	go test -run '^$' -bench DecodeCPU -benchtime 2000x ./core/model
func BenchmarkDecodeCPU(b *testing.B) {
	cfg := BenchConfig()
	for _, config := range []string{"", "spin=0"} {
		be, err := cpu.New(config)
		if err != nil {
			b.Fatal(err)
		}
		m, err := New(be, cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(5, 6))
		for _, batch := range []int{1, 8} {
			b.Run(fmt.Sprintf("cpu:%s/batch=%d", config, batch), func(b *testing.B) {
				benchDecodeSteps(b, m, batch, 256, 90, rng)
			})
		}
		m.Close()
		be.Finalize()
	}
}

// benchDecodeSteps times decode steps of batch rows on m's cache of maxLen
// slots, kept near position pos (the cache is refilled to pos, outside the
// timer, whenever it has grown 64 past it), and reports tokens/s.
func benchDecodeSteps(b *testing.B, m *Model, batch, maxLen, pos int, rng *rand.Rand) {
	ctx := context.Background()
	vocab := m.Config().VocabSize
	var c *Cache
	reset := func() {
		if c != nil {
			c.Close()
		}
		var err error
		if c, err = m.newCache(ctx, batch, maxLen); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Append(ctx, randomIDs(rng, batch, pos, vocab)); err != nil {
			b.Fatal(err)
		}
	}
	reset()
	defer func() { c.Close() }()
	step := randomIDs(rng, batch, 1, vocab)
	if _, err := c.Append(ctx, step); err != nil { // compile outside the timer
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if c.Len(0) >= pos+64 { // stay near pos
			b.StopTimer()
			reset()
			b.StartTimer()
		}
		if _, err := c.Append(ctx, step); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkPrefill times a cache prefill of 8 rows × 64 tokens.
func BenchmarkPrefill(b *testing.B) {
	cfg := BenchConfig()
	m, err := New(testBackend(b), cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	ids := randomIDs(rand.New(rand.NewPCG(7, 8)), 8, 64, cfg.VocabSize)
	for b.Loop() {
		c, err := m.newCache(ctx, 8, 512)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Append(ctx, ids); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.ReportMetric(float64(8*64*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkDecodeLongCache is the agent-rollout shape on the "cpu"
// backend: batch 32, a 1024-position cache, 4 layers. The cache (256 MiB
// here) must be updated in place: copying it made decoding memory-bound.
// The inplace=false case keeps the copying path, for comparison.
func BenchmarkDecodeLongCache(b *testing.B) {
	const batch, maxLen, pos = 32, 1024, 20
	cfg := BenchConfig()
	cfg.NumHiddenLayers = 4
	for _, config := range []string{"inplace=true", "inplace=false"} {
		b.Run(config, func(b *testing.B) {
			be, err := cpu.New(config)
			if err != nil {
				b.Fatal(err)
			}
			defer be.Finalize()
			m, err := New(be, cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			benchDecodeSteps(b, m, batch, maxLen, pos, rand.New(rand.NewPCG(5, 6)))
		})
	}
}

// BenchmarkNewCacheLong times starting a batch-32, 1024-position session
// on the "cpu" backend, up to its first decode step, which takes the
// cache's buffers.
func BenchmarkNewCacheLong(b *testing.B) {
	cfg := BenchConfig()
	cfg.NumHiddenLayers = 4
	be, err := cpu.New("")
	if err != nil {
		b.Fatal(err)
	}
	defer be.Finalize()
	m, err := New(be, cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	step := randomIDs(rand.New(rand.NewPCG(5, 6)), 32, 1, cfg.VocabSize)
	for b.Loop() {
		c, err := m.newCache(ctx, 32, 1024)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Append(ctx, step); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkDecodeQuant compares decode steps (batch 8, near position 20)
// on the "cpu" backend with the projections in float32, int8 and NF4, and
// the quantised ones dequantised before their matmuls (fusequant=false),
// on the benchmark shape:
//
//	go test -run '^$' -bench DecodeQuant -benchtime 100x -count 5 ./core/model
func BenchmarkDecodeQuant(b *testing.B) {
	cfg := BenchConfig()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct{ name, quant, backend string }{
		{"f32", QuantNone, ""}, {"int8", QuantInt8, ""}, {"nf4", QuantNF4, ""},
		{"int8-unfused", QuantInt8, "fusequant=false"}, {"nf4-unfused", QuantNF4, "fusequant=false"},
	} {
		be, err := cpu.New(c.backend)
		if err != nil {
			b.Fatal(err)
		}
		m, err := New(be, cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{Quant: c.quant})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) { benchDecodeSteps(b, m, 8, 1024, 20, rng) })
		m.Close()
		be.Finalize()
	}
}
