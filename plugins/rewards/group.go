package rewards

import (
	"context"
	"fmt"

	"github.com/toolbrain/toolbrain/sdk"
)

// Compile-time checks.
var (
	_ sdk.GroupReward = PerTrace{}
	_ sdk.Reward      = PerTrace{}
	_ sdk.GroupReward = (*WeightedGroup)(nil)
)

// PerTrace scores a group with a per-trace reward, one call per trace. It
// is still an sdk.Reward, so a caller whose group call failed can score
// the traces one by one (the coach does, to give a fallback score only to
// the traces that failed).
type PerTrace struct{ Of sdk.Reward }

// Reward implements sdk.Reward: the wrapped reward.
func (p PerTrace) Reward(ctx context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	return p.Of.Reward(ctx, req)
}

// RewardGroup implements sdk.GroupReward.
func (p PerTrace) RewardGroup(ctx context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	scores := make([]float64, len(req.Traces))
	for i, tr := range req.Traces {
		r, err := p.Of.Reward(ctx, sdk.RewardRequest{Expected: req.Expected, Trace: tr, Task: req.Task})
		if err != nil {
			return sdk.RewardGroupResponse{}, fmt.Errorf("trace %d: %w", i, err)
		}
		if err := r.Validate(); err != nil {
			return sdk.RewardGroupResponse{}, fmt.Errorf("trace %d: %w", i, err)
		}
		scores[i] = r.Score
	}
	return sdk.RewardGroupResponse{Scores: scores}, nil
}

// GroupComponent is one weighted reward of a WeightedGroup.
type GroupComponent struct {
	Name   string
	Weight float64
	Reward sdk.GroupReward
}

// WeightedGroup is Σ weight·score over its components, for each trace of a
// group: the [[rewards]] list of toolbrain.toml when it holds rewards that
// look at a whole group (LLM judges) beside per-trace ones.
type WeightedGroup struct {
	Components []GroupComponent
}

// GroupScores are a group's rewards and what they are made of.
type GroupScores struct {
	// Scores are the weighted sums, one per trace.
	Scores []float64
	// Components are each component's unweighted scores, by name, one per
	// trace.
	Components map[string][]float64
}

// Score scores every trace of req with every component. A component's
// error, or a score that is not finite, fails the whole group, naming the
// component.
func (w *WeightedGroup) Score(ctx context.Context, req sdk.RewardGroupRequest) (GroupScores, error) {
	n := len(req.Traces)
	out := GroupScores{Scores: make([]float64, n), Components: make(map[string][]float64, len(w.Components))}
	for _, c := range w.Components {
		r, err := c.Reward.RewardGroup(ctx, req)
		if err == nil {
			err = r.Validate(n)
		}
		if err != nil {
			return GroupScores{}, fmt.Errorf("reward %s: %w", c.Name, err)
		}
		out.Components[c.Name] = r.Scores
		for i, s := range r.Scores {
			out.Scores[i] += c.Weight * s
		}
	}
	return out, nil
}

// RewardGroup implements sdk.GroupReward with the weighted sums.
func (w *WeightedGroup) RewardGroup(ctx context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	s, err := w.Score(ctx, req)
	if err != nil {
		return sdk.RewardGroupResponse{}, err
	}
	return sdk.RewardGroupResponse{Scores: s.Scores}, nil
}
