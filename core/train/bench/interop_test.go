package bench

import (
	"context"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/toolbrain/toolbrain/core/backend/cpu"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/model"
)

// BenchmarkInterop compares the "cpu" backend with independent ops in
// parallel (interop=true) and in creation order (interop=false) on the
// benchmark shape: each iteration runs a training step, a forward pass
// and a batch-8 decode step in both modes, alternating which goes first,
// so that both see the same load on a shared machine. It reports the
// median of each and the ratio off/on (above 1: parallel is faster):
//
//	go test -run XXX -bench Interop -benchtime 20x ./core/train/bench
func BenchmarkInterop(b *testing.B) {
	ctx := context.Background()
	cfg := model.BenchConfig()
	type mode struct {
		step, fwd, dec []time.Duration
		s              *session
		cache          generate.Cache
	}
	const decodeLen = 128
	var modes [2]*mode
	for i, config := range []string{"interop=true", "interop=false"} {
		be, err := cpu.New(config)
		if err != nil {
			b.Fatal(err)
		}
		defer be.Finalize()
		s, err := newSession(be, cfg, 8, 64, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.close()
		c := decodeCache(ctx, b, be, cfg, 8, decodeLen+b.N+2)
		modes[i] = &mode{s: s, cache: c}
		// Compile every graph before timing.
		if _, err := s.step(ctx); err != nil {
			b.Fatal(err)
		}
		if err := s.forward(ctx); err != nil {
			b.Fatal(err)
		}
		for range decodeLen {
			if _, err := c.Append(ctx, tokens(8)); err != nil {
				b.Fatal(err)
			}
		}
	}
	timed := func(ds *[]time.Duration, fn func() error) {
		t0 := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		*ds = append(*ds, time.Since(t0))
	}
	b.ResetTimer()
	for i := range b.N {
		for k := range 2 {
			m := modes[(i+k)%2]
			timed(&m.step, func() error { _, err := m.s.step(ctx); return err })
			timed(&m.fwd, func() error { return m.s.forward(ctx) })
			timed(&m.dec, func() error { _, err := m.cache.Append(ctx, tokens(8)); return err })
		}
	}
	b.StopTimer()
	on, off := modes[0], modes[1]
	for _, r := range []struct {
		name    string
		on, off []time.Duration
	}{{"step", on.step, off.step}, {"forward", on.fwd, off.fwd}, {"decode", on.dec, off.dec}} {
		b.ReportMetric(ms(median(r.on)), r.name+"-ms-interop")
		b.ReportMetric(ms(median(r.off)), r.name+"-ms-sequential")
		b.ReportMetric(float64(median(r.off))/float64(median(r.on)), r.name+"-speedup")
	}
}

// decodeCache is a KV cache of a random model of cfg on be, closed with
// the model when the benchmark ends.
func decodeCache(ctx context.Context, b *testing.B, be backends.Backend, cfg model.Config, batch, maxLen int) generate.Cache {
	m, err := model.New(be, cfg, model.MapSource(model.RandomWeights(cfg, 1)), model.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	c, err := m.NewCache(ctx, batch, maxLen)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// tokens is one token per row.
func tokens(batch int) [][]int32 {
	t := make([][]int32, batch)
	for i := range t {
		t[i] = []int32{int32(3 + i)}
	}
	return t
}
