package agent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/internal/cputime"
)

// phaseModel wraps a model so that its caches add the CPU time of each
// call to a phase: "prefill" (an Append feeding some row more than one
// token), "decode" (one token per fed row) and "adopt". With noAdopt its
// caches hide generate.RowAdopter, so a Session prefills every row itself
// (as before rows fed one prompt shared a prefill).
type phaseModel struct {
	generate.Model
	noAdopt bool
	cpu     map[string]time.Duration
}

func (m *phaseModel) NewCache(ctx context.Context, batch, maxLen int) (generate.Cache, error) {
	c, err := m.Model.NewCache(ctx, batch, maxLen)
	if err != nil {
		return nil, err
	}
	pc := &phaseCache{Cache: c, m: m}
	if m.noAdopt {
		return pc, nil
	}
	return &adoptingPhaseCache{pc}, nil
}

type phaseCache struct {
	generate.Cache
	m *phaseModel
}

func (c *phaseCache) Append(ctx context.Context, tokens [][]int32) ([][]float32, error) {
	phase := "decode"
	for _, row := range tokens {
		if len(row) > 1 {
			phase = "prefill"
		}
	}
	t0, w0 := cputime.Process(), time.Now()
	defer func() {
		c.m.cpu[phase] += cputime.Process() - t0
		c.m.cpu["wall-"+phase] += time.Since(w0)
	}()
	return c.Cache.Append(ctx, tokens)
}

type adoptingPhaseCache struct{ *phaseCache }

func (c *adoptingPhaseCache) Adopt(ctx context.Context, dst int, from generate.Cache, src int) error {
	if f, ok := from.(*adoptingPhaseCache); ok {
		from = f.Cache
	}
	t0 := cputime.Process()
	defer func() { c.m.cpu["adopt"] += cputime.Process() - t0 }()
	return c.Cache.(generate.RowAdopter).Adopt(ctx, dst, from, src)
}

// BenchmarkEpisodePhases is BenchmarkEpisodes on "cpu" measured in CPU
// time, which the machine's other load moves less than wall time: per
// group of 8 episodes, the whole process (cpu-ms/group) and the model's
// prefill, decode and adopt calls (prefill-ms/group etc.), and the wall
// time of those calls (wall-prefill-ms/group, wall-decode-ms/group).
// The backend's idle workers poll for work before they sleep, which
// counts as CPU time; the backend "cpu:spin=0" takes it out. "batched" is
// RunGroup, "batched-unshared" the same with each row prefilling the
// group's prompt itself, "sequential" the 8 episodes one after another;
// the batched runs also report cpu-x, the sequential run's CPU per group
// over theirs (measured just before, so run the sub-benchmarks in order).
func BenchmarkEpisodePhases(b *testing.B) {
	if !cputime.Supported() {
		b.Skip("no CPU time on this platform")
	}
	bench, large := benchConfigs()
	for _, mc := range []struct {
		name string
		cfg  model.Config
	}{{name: "cpu", cfg: bench}, {name: "cpu-h512-l4", cfg: large}} {
		b.Run(mc.name, func(b *testing.B) {
			pm := &phaseModel{cpu: map[string]time.Duration{}}
			a := randomAgentOn(b, mc.cfg, "cpu", func(m generate.Model) generate.Model { pm.Model = m; return pm })
			ctx := context.Background()
			tasks := group()
			var seq float64 // CPU ms per group, sequential
			for _, mode := range []string{"sequential", "batched-unshared", "batched"} {
				b.Run(mode, func(b *testing.B) {
					pm.noAdopt = mode == "batched-unshared"
					run := func() error { _, err := a.RunGroup(ctx, tasks); return err }
					if mode == "sequential" {
						run = func() error { return sequential(ctx, a, tasks) }
					}
					if err := run(); err != nil { // compile outside the measurement
						b.Fatal(err)
					}
					clear(pm.cpu)
					t0 := cputime.Process()
					for b.Loop() {
						if err := run(); err != nil {
							b.Fatal(err)
						}
					}
					perGroup := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(b.N) }
					total := perGroup(cputime.Process() - t0)
					b.ReportMetric(total, "cpu-ms/group")
					for phase, d := range pm.cpu {
						b.ReportMetric(perGroup(d), fmt.Sprintf("%s-ms/group", phase))
					}
					if mode == "sequential" {
						seq = total
					} else if seq > 0 {
						b.ReportMetric(seq/total, "cpu-x")
					}
				})
			}
		})
	}
}
