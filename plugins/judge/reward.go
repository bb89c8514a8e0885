package judge

import (
	"context"

	"github.com/toolbrain/toolbrain/sdk"
)

var _ sdk.GroupReward = GroupReward{}

// GroupReward turns any judge's verdict on a group into rewards, as Python
// ToolBrain's ranking judge does: the judge's scores when it gives them,
// otherwise [Scores] of its ranking, from 1 (best) to 0 (worst). It is how
// a judge plugin takes its place in toolbrain.toml's weighted [[rewards]].
type GroupReward struct {
	Judge sdk.Judge
	// Rubric is passed to the judge with every group.
	Rubric string
}

// RewardGroup implements sdk.GroupReward.
func (g GroupReward) RewardGroup(ctx context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	v, err := g.Judge.Judge(ctx, sdk.JudgeRequest{Expected: req.Expected, Traces: req.Traces, Task: req.Task, Rubric: g.Rubric})
	if err != nil {
		return sdk.RewardGroupResponse{}, err
	}
	// A judge in process skips the check that a plugin's output gets.
	if err := v.Validate(len(req.Traces)); err != nil {
		return sdk.RewardGroupResponse{}, err
	}
	if v.Scores != nil {
		return sdk.RewardGroupResponse{Scores: v.Scores}, nil
	}
	return sdk.RewardGroupResponse{Scores: Scores(v.Ranking)}, nil
}
