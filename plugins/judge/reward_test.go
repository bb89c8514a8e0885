package judge_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/judge"
	"github.com/toolbrain/toolbrain/sdk"
)

// verdict is a judge with a fixed answer that records its request.
type verdict struct {
	resp sdk.JudgeResponse
	got  *sdk.JudgeRequest
}

func (v verdict) Judge(_ context.Context, req sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	*v.got = req
	return v.resp, nil
}

func TestGroupReward(t *testing.T) {
	traces := []sdk.Trace{{FinalAnswer: "a"}, {FinalAnswer: "b"}, {FinalAnswer: "c"}}
	tests := []struct {
		name string
		resp sdk.JudgeResponse
		want []float64
		err  error
	}{
		{name: "ranking", resp: sdk.JudgeResponse{Ranking: []int{2, 0, 1}}, want: []float64{0.5, 0, 1}},
		{name: "scores win over ranking", resp: sdk.JudgeResponse{Ranking: []int{2, 0, 1}, Scores: []float64{0.1, 0.2, 0.3}}, want: []float64{0.1, 0.2, 0.3}},
		{name: "not a permutation", resp: sdk.JudgeResponse{Ranking: []int{0, 0, 1}}, err: sdk.ErrInvalidResponse},
		{name: "neither", resp: sdk.JudgeResponse{}, err: sdk.ErrInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got sdk.JudgeRequest
			g := judge.GroupReward{Judge: verdict{resp: tt.resp, got: &got}, Rubric: "short is better"}
			r, err := g.RewardGroup(context.Background(), sdk.RewardGroupRequest{Expected: "b", Traces: traces})
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(r.Scores, tt.want) {
				t.Fatalf("scores %v, %v; want %v", r.Scores, err, tt.want)
			}
			if got.Expected != "b" || got.Rubric != "short is better" || len(got.Traces) != 3 {
				t.Errorf("the judge got %+v", got)
			}
		})
	}
}
