package scoring

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/plugins/judge"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/sdk"
)

// The built-in judge rewards are built over the [judge] model, marked as
// judges, and correctness_judge is scored trace by trace.
func TestRewards_BuiltinJudges(t *testing.T) {
	cfg := config.Default()
	cfg.Judge.Endpoint, cfg.Judge.Model = "http://127.0.0.1:1/v1", "m" // never contacted here
	cfg.Rewards = []config.Reward{
		{Name: config.RankingJudge, Weight: 1},
		{Name: config.RelativeJudge, Weight: 0.5, Rubric: "short", Config: map[string]string{"max_tokens": "64"}},
		{Name: config.CorrectnessJudge, Weight: 2},
		{Name: "exact_match", Weight: 1},
	}
	h, err := NewHost(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	rs, err := h.Rewards(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		name        string
		judge, perT bool
		typ         string
		weight      float64
	}
	wants := []want{
		{config.RankingJudge, true, false, "judge.GroupReward", 1},
		{config.RelativeJudge, true, false, "judge.GroupReward", 0.5},
		{config.CorrectnessJudge, true, true, "judge.CorrectnessReward", 2},
		{"exact_match", false, false, "rewards.PerTrace", 1},
	}
	if len(rs) != len(wants) {
		t.Fatalf("%d rewards, want %d", len(rs), len(wants))
	}
	for i, w := range wants {
		r := rs[i]
		if r.Name != w.name || r.Judge != w.judge || r.PerTrace != w.perT || fmt.Sprintf("%T", r.Reward) != w.typ || r.Weight != w.weight {
			t.Errorf("rewards[%d] = %s judge %v per-trace %v %T weight %v; want %+v", i, r.Name, r.Judge, r.PerTrace, r.Reward, r.Weight, w)
		}
	}
	if g := rs[1].Reward.(judge.GroupReward); g.Rubric != "short" || g.Judge.(judge.Model).Of != (judge.Relative{MaxTokens: 64}) {
		t.Errorf("relative_judge = %+v, want rubric short and max_tokens 64", g)
	}
	if err := Check(cfg); err != nil {
		t.Errorf("Check: %v", err)
	}
	cfg.Rewards[1].Config = map[string]string{"temperature": "1"}
	if err := Check(cfg); err == nil || !errors.Is(err, judge.ErrBadConfig) {
		t.Errorf("Check with an unknown judge key: %v, want judge.ErrBadConfig", err)
	}
	if _, err := h2(t, cfg).Rewards(context.Background()); !errors.Is(err, judge.ErrBadConfig) {
		t.Errorf("Rewards with an unknown judge key: %v, want judge.ErrBadConfig", err)
	}
}

func h2(t *testing.T, cfg config.Config) *Host {
	h, err := NewHost(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

type stalling struct{}

func (stalling) Judge(context.Context, sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	return sdk.JudgeResponse{}, fmt.Errorf("plugin judge: %w: stopped after 2s", contract.ErrTimeout)
}

// A plugin stopped at its time limit reads as a timeout (Timeout() true)
// and still wraps contract.ErrTimeout.
func TestPluginJudge_Timeout(t *testing.T) {
	_, err := pluginJudge{stalling{}}.Judge(context.Background(), sdk.JudgeRequest{})
	var te interface{ Timeout() bool }
	if !errors.As(err, &te) || !te.Timeout() || !errors.Is(err, contract.ErrTimeout) {
		t.Errorf("err = %v (%T), want a Timeout() error wrapping contract.ErrTimeout", err, err)
	}
}
