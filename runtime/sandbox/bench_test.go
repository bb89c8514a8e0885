package sandbox

import (
	"context"
	"slices"
	"testing"
	"time"
)

// waitPool waits until the background filler has refilled the pool, so that
// a measurement sees a warm pool.
func waitPool(tb testing.TB, s *Sandbox) {
	deadline := time.Now().Add(30 * time.Second)
	for len(s.pool) < cap(s.pool) {
		if time.Now().After(deadline) {
			tb.Fatal("pool did not refill in 30 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	p := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Nanoseconds()) }
	b.ReportMetric(p(0.50), "p50-ns")
	b.ReportMetric(p(0.99), "p99-ns")
}

// BenchmarkStart measures Sandbox.Start, the start of an episode: from the
// warm pool ("pooled"), and with the pool empty, which starts an instance of
// the cached compiled module ("instantiate").
func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	b.Run("pooled", func(b *testing.B) {
		s := newSandbox(b, Options{})
		var d []time.Duration
		for b.Loop() {
			b.StopTimer()
			waitPool(b, s)
			b.StartTimer()
			start := time.Now()
			e, err := s.Start(ctx)
			d = append(d, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			e.Close()
			b.StartTimer()
		}
		reportPercentiles(b, d)
	})
	b.Run("instantiate", func(b *testing.B) {
		s := newSandbox(b, Options{PoolSize: -1})
		var d []time.Duration
		for b.Loop() {
			start := time.Now()
			e, err := s.Start(ctx)
			d = append(d, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
			e.Close()
		}
		reportPercentiles(b, d)
	})
}

// BenchmarkEpisode measures a trivial episode from a warm pool: Start,
// Run("final_answer(1)"), Close; and one turn with a tool call.
func BenchmarkEpisode(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct{ name, code string }{
		{"trivial", "final_answer(1)"},
		{"tool_call", "final_answer(add(a=1, b=2))"},
		{"loop_10k_steps", "t = 0\nfor i in range(2000):\n    t += i\nfinal_answer(t)"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := newSandbox(b, Options{})
			var d []time.Duration
			for b.Loop() {
				b.StopTimer()
				waitPool(b, s)
				b.StartTimer()
				start := time.Now()
				e, err := s.Start(ctx)
				if err != nil {
					b.Fatal(err)
				}
				r, err := e.Run(ctx, bc.code)
				e.Close()
				d = append(d, time.Since(start))
				if err != nil || r.Err != nil || r.FinalAnswer == nil {
					b.Fatalf("%v %+v", err, r)
				}
			}
			reportPercentiles(b, d)
		})
	}
}
