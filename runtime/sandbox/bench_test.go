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

// startWarm waits, outside the timing, until the pool is full, then starts an
// episode; it returns the episode and when its start began.
func startWarm(b *testing.B, s *Sandbox) (*Episode, time.Time) {
	b.StopTimer()
	waitPool(b, s)
	b.StartTimer()
	start := time.Now()
	e, err := s.Start(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return e, start
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	p := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Nanoseconds()) }
	b.ReportMetric(p(0.50), "p50-ns")
	b.ReportMetric(p(0.99), "p99-ns")
}

// BenchmarkStart measures Sandbox.Start, the start of an episode: from the
// warm pool ("pooled"), with the pool empty, which starts an instance of
// the cached compiled module ("instantiate"), and on the instance of the
// episode before, reset ("reused"; Start and Close, which resets).
func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	b.Run("pooled", func(b *testing.B) {
		s := newSandbox(b, Options{MaxEpisodesPerInstance: 1})
		var d []time.Duration
		for b.Loop() {
			e, start := startWarm(b, s)
			d = append(d, time.Since(start))
			b.StopTimer()
			e.Close()
			b.StartTimer()
		}
		reportPercentiles(b, d)
	})
	b.Run("instantiate", func(b *testing.B) {
		s := newSandbox(b, Options{PoolSize: -1, MaxEpisodesPerInstance: 1})
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
	b.Run("reused", func(b *testing.B) {
		s := newSandbox(b, Options{PoolSize: -1})
		var d []time.Duration
		for b.Loop() {
			start := time.Now()
			e, err := s.Start(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Run(ctx, "x = 1"); err != nil {
				b.Fatal(err)
			}
			e.Close()
			d = append(d, time.Since(start))
		}
		reportPercentiles(b, d)
	})
}

// BenchmarkEpisode measures a trivial episode: Start, Run("final_answer(1)"),
// Close; and one turn with a tool call; on a fresh instance from a warm
// pool ("fresh") and on the previous episode's instance, reset by Close
// ("reused").
func BenchmarkEpisode(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct{ name, code string }{
		{"trivial", "final_answer(1)"},
		{"tool_call", "final_answer(add(a=1, b=2))"},
		{"loop_10k_steps", "t = 0\nfor i in range(2000):\n    t += i\nfinal_answer(t)"},
	} {
		for _, mode := range []struct {
			name     string
			episodes int
		}{{"fresh", 1}, {"reused", 0}} {
			b.Run(bc.name+"/"+mode.name, func(b *testing.B) {
				s := newSandbox(b, Options{MaxEpisodesPerInstance: mode.episodes})
				var d []time.Duration
				for b.Loop() {
					e, start := startWarm(b, s)
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
}
