package coach

import (
	"context"
	"fmt"
	"math"

	"github.com/toolbrain/toolbrain/sdk"
)

// EvalResult is an athlete's record on a task set: one greedy episode per
// task.
type EvalResult struct {
	Tasks     int `json:"tasks"`
	Successes int `json:"successes"`
	// SuccessRate is Successes/Tasks, with its 95% Wilson score interval.
	SuccessRate float64 `json:"success_rate"`
	CILow       float64 `json:"ci95_low"`
	CIHigh      float64 `json:"ci95_high"`
	MeanReward  float64 `json:"mean_reward"`
	MeanTurns   float64 `json:"mean_turns"`
	// ToolErrors counts turns whose code or tool call failed; NoAnswer the
	// episodes that ended without a final answer.
	ToolErrors      int `json:"tool_errors"`
	NoAnswer        int `json:"no_answer"`
	RewardFallbacks int `json:"reward_fallbacks"`
	// JudgeCauses counts the fallbacks of judges by cause.
	JudgeCauses
}

// EvalOptions configure Evaluate.
type EvalOptions struct {
	// SuccessThreshold is the reward at which an episode succeeds (0 = 1).
	SuccessThreshold float64
	// Chunk is how many tasks are sent to the executor at once (0 = 32).
	Chunk int
	// Progress, if set, is called with the number of tasks done.
	Progress func(done int)
}

// Evaluate runs one greedy episode per task through exec, scores it with
// s and summarises. Greedy decoding makes it deterministic for a given
// policy, so two evaluations differ only by what training changed.
func Evaluate(ctx context.Context, exec Executor, s *Scorer, tasks []sdk.Task, o EvalOptions) (EvalResult, []sdk.Trace, []float64, error) {
	if o.SuccessThreshold == 0 {
		o.SuccessThreshold = 1
	}
	if o.Chunk <= 0 {
		o.Chunk = 32
	}
	r := EvalResult{Tasks: len(tasks)}
	if len(tasks) == 0 {
		return r, nil, nil, fmt.Errorf("coach: evaluate: no tasks")
	}
	var all []sdk.Trace
	var rewards []float64
	turns := 0
	for start := 0; start < len(tasks); start += o.Chunk {
		part := tasks[start:min(start+o.Chunk, len(tasks))]
		reqs := make([]RolloutRequest, len(part))
		for i, t := range part {
			reqs[i] = RolloutRequest{Task: t, Episodes: 1, Greedy: true}
		}
		groups, err := exec.Rollout(ctx, reqs)
		if err != nil {
			return r, nil, nil, fmt.Errorf("coach: evaluate: %w", err)
		}
		for i, g := range groups {
			sc, err := s.Score(ctx, part[i], g)
			if err != nil {
				return r, nil, nil, fmt.Errorf("coach: evaluate: %w", err)
			}
			r.RewardFallbacks += sc.Fallbacks
			r.JudgeCauses.Add(sc.Judge)
			for j := range g {
				tr := &g[j]
				all = append(all, *tr)
				rewards = append(rewards, sc.Rewards[j])
				if sc.Rewards[j] >= o.SuccessThreshold {
					r.Successes++
				}
				turns += len(tr.Turns)
				r.ToolErrors += turnErrors(tr)
				if tr.FinalAnswer == "" {
					r.NoAnswer++
				}
			}
		}
		if o.Progress != nil {
			o.Progress(min(start+o.Chunk, len(tasks)))
		}
	}
	r.SuccessRate = float64(r.Successes) / float64(r.Tasks)
	r.CILow, r.CIHigh = Wilson(r.Successes, r.Tasks)
	r.MeanReward, _ = meanStd(rewards)
	r.MeanTurns = float64(turns) / float64(len(all))
	return r, all, rewards, nil
}

// Wilson is the 95% Wilson score interval of k successes in n trials: it
// stays inside [0, 1] and is honest at 0% and 100%, where the normal
// approximation collapses to a point.
func Wilson(k, n int) (low, high float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p, nf := float64(k)/float64(n), float64(n)
	den := 1 + z*z/nf
	centre := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return math.Max(0, centre-half), math.Min(1, centre+half)
}
