package main

import (
	"context"
	"testing"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/plugins/packs/email/base"
	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
	"github.com/toolbrain/toolbrain/plugins/packs/email/reward"
	"github.com/toolbrain/toolbrain/sdk"
)

// BenchmarkMainJobRollouts runs the main job's rollouts as `toolbrain run`
// does, on its first 4 training questions (one step's, corpus seed 1):
// the shipped base on the job's backend, the job's sampling (temperature
// 0.7, up to 3 turns of 64 tokens), the CodeAct sandbox and the email
// tools. "G=8/batched" runs each question's group of 8 episodes in
// lockstep, as the coach does; "G=8/sequential" runs the same 32 episodes
// one after another, each alone, with the same random streams. Both report
// episodes/s and the tokens a group feeds and generates (tokens/group:
// the two runs do the same work up to the sampled text); the sequential
// run also reports batched-x, the batched run's episodes/s over its own.
//
//	go test -run '^$' -bench MainJobRollouts -benchtime 2x ./cmd/toolbrain
func BenchmarkMainJobRollouts(b *testing.B) {
	const groupSize, questions = 8, 4
	ctx := context.Background()
	cfg, _, err := jobConfig("")
	if err != nil {
		b.Fatal(err)
	}
	cfg.Plugins.CacheDir = b.TempDir()
	c, err := corpus.Generate(corpus.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	model, err := base.Dir()
	if err != nil {
		b.Fatal(err)
	}
	env, closeEnv, err := openJob(ctx, cfg, c, model, reward.Reward{Wrong: jobWrong})
	if err != nil {
		b.Fatal(err)
	}
	defer closeEnv()
	var groups [][]agent.Task
	for _, t := range env.Tasks[:questions] {
		g := make([]agent.Task, groupSize)
		for i := range g {
			g[i] = agent.Task{ID: t.ID, Prompt: t.Prompt, Metadata: t.Metadata}
		}
		groups = append(groups, g)
	}
	streams := make([]uint64, groupSize)
	for i := range streams {
		streams[i] = uint64(i) + 1
	}
	tokens := func(trs []sdk.Trace) (n int) {
		for _, tr := range trs {
			for _, turn := range tr.Turns {
				if s := turn.Tokens; s != nil {
					n += len(s.PromptIDs) + len(s.GeneratedIDs) + len(s.ObservationIDs)
				}
			}
		}
		return n
	}
	var batched float64 // episodes/s of the batched run
	for _, bc := range []struct {
		name    string
		batched bool
	}{{"G=8/batched", true}, {"G=8/sequential", false}} {
		b.Run(bc.name, func(b *testing.B) {
			var fed int
			run := func() {
				fed = 0
				for _, g := range groups {
					if bc.batched {
						trs, err := env.Agent.RunGroupWith(ctx, g, agent.GroupOptions{Streams: streams})
						if err != nil {
							b.Fatal(err)
						}
						fed += tokens(trs)
						continue
					}
					for i := range g {
						trs, err := env.Agent.RunGroupWith(ctx, g[i:i+1], agent.GroupOptions{Streams: streams[i : i+1]})
						if err != nil {
							b.Fatal(err)
						}
						fed += tokens(trs)
					}
				}
			}
			run() // compile outside the timing
			for b.Loop() {
				run()
			}
			eps := float64(b.N*questions*groupSize) / b.Elapsed().Seconds()
			b.ReportMetric(eps, "episodes/s")
			b.ReportMetric(float64(fed)/questions, "tokens/group")
			if bc.batched {
				batched = eps
			} else if batched > 0 {
				b.ReportMetric(batched/eps, "batched-x")
			}
		})
	}
}
