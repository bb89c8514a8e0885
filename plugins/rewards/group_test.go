package rewards_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/sdk"
)

// lengthScores scores each trace by the length of its answer: a group
// reward that is not a per-trace one in disguise.
type lengthScores struct{ err error }

func (l lengthScores) RewardGroup(_ context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	var s []float64
	for _, tr := range req.Traces {
		s = append(s, float64(len(tr.FinalAnswer)))
	}
	return sdk.RewardGroupResponse{Scores: s}, l.err
}

type fixedScore float64

func (f fixedScore) Reward(context.Context, sdk.RewardRequest) (sdk.RewardResponse, error) {
	return sdk.RewardResponse{Score: float64(f)}, nil
}

func group(answers ...string) sdk.RewardGroupRequest {
	req := sdk.RewardGroupRequest{Expected: "Paris"}
	for _, a := range answers {
		req.Traces = append(req.Traces, sdk.Trace{FinalAnswer: a})
	}
	return req
}

func TestWeightedGroup_Score(t *testing.T) {
	w := &rewards.WeightedGroup{Components: []rewards.GroupComponent{
		{Name: "exact_match", Weight: 2, Reward: rewards.PerTrace{Of: rewards.ExactMatch{}}},
		{Name: "length", Weight: 0.5, Reward: lengthScores{}},
	}}
	got, err := w.Score(context.Background(), group("Paris", "Lyon", ""))
	if err != nil {
		t.Fatal(err)
	}
	// 2·[1 0 0] + 0.5·[5 4 0]
	if want := []float64{4.5, 2, 0}; !reflect.DeepEqual(got.Scores, want) {
		t.Errorf("scores %v, want %v", got.Scores, want)
	}
	if want := map[string][]float64{"exact_match": {1, 0, 0}, "length": {5, 4, 0}}; !reflect.DeepEqual(got.Components, want) {
		t.Errorf("components %v, want %v", got.Components, want)
	}
	r, err := w.RewardGroup(context.Background(), group("Paris"))
	if err != nil || !reflect.DeepEqual(r.Scores, []float64{4.5}) {
		t.Errorf("RewardGroup: %v, %v", r, err)
	}
}

func TestWeightedGroup_Errors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name   string
		reward sdk.GroupReward
		want   error
		text   string
	}{
		{name: "component fails", reward: lengthScores{err: boom}, want: boom, text: "reward bad: boom"},
		{name: "NaN score", reward: rewards.PerTrace{Of: fixedScore(math.NaN())}, want: sdk.ErrInvalidScore, text: "reward bad: trace 0"},
		{name: "wrong count", reward: countOf(1), want: sdk.ErrInvalidResponse, text: "1 scores for 2 traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &rewards.WeightedGroup{Components: []rewards.GroupComponent{{Name: "bad", Weight: 1, Reward: tt.reward}}}
			_, err := w.Score(context.Background(), group("a", "b"))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want %v with %q", err, tt.want, tt.text)
			}
		})
	}
}

// countOf returns n scores whatever the group.
type countOf int

func (c countOf) RewardGroup(context.Context, sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	return sdk.RewardGroupResponse{Scores: make([]float64, c)}, nil
}
