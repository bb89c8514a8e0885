package coach

import (
	"context"
	"fmt"
	"math"

	"github.com/toolbrain/toolbrain/sdk"
)

// Reward is one weighted component of the reward: a reward plugin, a
// built-in, or a judge (whose ranking has become scores). The coach sees
// only the sdk interfaces, so a third-party WASM or go-plugin reward is
// the same to it as a first-party one.
type Reward struct {
	Name   string
	Weight float64
	Reward sdk.GroupReward
	// Judge marks an LLM judge: its failures are counted apart.
	Judge bool
}

// Scorer turns a group of traces into rewards: Σ weight·score over its
// components. A component that fails — a plugin that traps, times out,
// panics or returns garbage — costs only the traces it could not score:
// each gets Fallback for that component, and the failure is counted. The
// run goes on.
type Scorer struct {
	Components []Reward
	// Fallback is the score of a trace a component failed to score.
	Fallback float64
}

// GroupScore is the scoring of one group.
type GroupScore struct {
	// Rewards are the weighted sums, one per trace.
	Rewards []float64
	// Components are each component's unweighted scores by name.
	Components map[string][]float64
	// Fallbacks counts (trace, component) scores that fell back, and
	// JudgeFallbacks those of judges; Errors says why (first of each
	// component).
	Fallbacks, JudgeFallbacks int
	Errors                    []string
}

// Score scores the traces of one task. It fails only when ctx ends.
func (s *Scorer) Score(ctx context.Context, task sdk.Task, traces []sdk.Trace) (GroupScore, error) {
	n := len(traces)
	out := GroupScore{Rewards: make([]float64, n), Components: make(map[string][]float64, len(s.Components))}
	req := sdk.RewardGroupRequest{Expected: task.Expected, Traces: traces}
	if task.ID != "" || task.Prompt != "" {
		req.Task = &task // else no task is known (traces scored on their own)
	}
	for _, c := range s.Components {
		scores, failed, why := s.component(ctx, c, req)
		if err := ctx.Err(); err != nil {
			return GroupScore{}, err
		}
		if failed > 0 {
			out.Fallbacks += failed
			if c.Judge {
				out.JudgeFallbacks += failed
			}
			out.Errors = append(out.Errors, fmt.Sprintf("reward %s: %s", c.Name, why))
		}
		out.Components[c.Name] = scores
		for i, x := range scores {
			out.Rewards[i] += c.Weight * x
		}
	}
	return out, nil
}

// component scores req with c: the whole group at once, and when that
// fails, trace by trace if c can, so that one bad trace does not cost the
// others their score.
func (s *Scorer) component(ctx context.Context, c Reward, req sdk.RewardGroupRequest) (scores []float64, failed int, why string) {
	n := len(req.Traces)
	r, err := safeGroup(ctx, c.Reward, req)
	if err == nil {
		err = r.Validate(n)
	}
	if err == nil {
		return r.Scores, 0, ""
	}
	why = err.Error()
	scores = make([]float64, n)
	single, ok := c.Reward.(sdk.Reward)
	for i := range scores {
		scores[i] = s.Fallback
	}
	if !ok || n == 1 {
		return scores, n, why
	}
	for i, tr := range req.Traces {
		resp, err := safeSingle(ctx, single, sdk.RewardRequest{Expected: req.Expected, Trace: tr, Task: req.Task})
		if err == nil {
			err = resp.Validate()
		}
		if err != nil {
			failed++
			continue
		}
		scores[i] = resp.Score
	}
	return scores, failed, why
}

// safeGroup calls r, turning a panic (a first-party Go reward with a bug)
// into an error: a reward never takes the run down.
func safeGroup(ctx context.Context, r sdk.GroupReward, req sdk.RewardGroupRequest) (resp sdk.RewardGroupResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return r.RewardGroup(ctx, req)
}

func safeSingle(ctx context.Context, r sdk.Reward, req sdk.RewardRequest) (resp sdk.RewardResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return r.Reward(ctx, req)
}

// allEqual reports whether every reward of a group is the same: such a
// group carries no learning signal for a group-relative algorithm.
func allEqual(r []float64) bool {
	for _, x := range r[1:] {
		if math.Abs(x-r[0]) > 1e-12 {
			return false
		}
	}
	return true
}
