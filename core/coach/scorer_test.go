package coach_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/plugins/judge"
	"github.com/toolbrain/toolbrain/sdk"
)

// TestScorer_JudgeFallbacks: judges whose model fails, hangs past the
// judge timeout or answers garbage give their traces the fallback score,
// each counted by its cause; the run goes on.
func TestScorer_JudgeFallbacks(t *testing.T) {
	fails := sdk.LLMFunc(func(context.Context, sdk.LLMRequest) (sdk.LLMResponse, error) {
		return sdk.LLMResponse{}, errors.New("503 Service Unavailable")
	})
	hangs := sdk.LLMFunc(func(ctx context.Context, _ sdk.LLMRequest) (sdk.LLMResponse, error) {
		<-ctx.Done()
		return sdk.LLMResponse{}, ctx.Err()
	})
	garbage := sdk.LLMFunc(func(context.Context, sdk.LLMRequest) (sdk.LLMResponse, error) {
		return sdk.LLMResponse{Text: "they all look fine to me"}, nil
	})
	scores := sdk.LLMFunc(func(context.Context, sdk.LLMRequest) (sdk.LLMResponse, error) {
		return sdk.LLMResponse{Text: `{"scores": [0.25, 0.5, 1]}`}, nil
	})
	// accepts "42", says nothing readable about anything else.
	picky := sdk.LLMFunc(func(_ context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
		if strings.Contains(req.Messages[1].Content, "<answer>\n42\n</answer>") {
			return sdk.LLMResponse{Text: `{"accept": true}`}, nil
		}
		return sdk.LLMResponse{Text: "hmm"}, nil
	})
	// A plugin's error reaches the host as text only.
	pluginText := sdk.LLMFunc(func(context.Context, sdk.LLMRequest) (sdk.LLMResponse, error) {
		return sdk.LLMResponse{}, errors.New("plugin judge-go: judge: no ranking in two answers (" + sdk.ErrUnreadableAnswer.Error() + ")")
	})
	relative := func(llm sdk.LLM) coach.Reward {
		return coach.Reward{Name: "relative", Weight: 1, Judge: true, Reward: judge.GroupReward{Judge: judge.Model{Of: judge.Relative{}, LLM: llm}}}
	}
	tests := []struct {
		name    string
		reward  coach.Reward
		want    coach.JudgeCauses
		rewards []float64
	}{
		{name: "judge answers", reward: relative(scores), rewards: []float64{0.25, 0.5, 1}},
		{name: "model fails", reward: relative(fails), want: coach.JudgeCauses{Failures: 3}, rewards: []float64{-1, -1, -1}},
		{name: "model hangs past the judge timeout", reward: relative(hangs), want: coach.JudgeCauses{Timeouts: 3}, rewards: []float64{-1, -1, -1}},
		{name: "garbage answers", reward: relative(garbage), want: coach.JudgeCauses{Unreadable: 3}, rewards: []float64{-1, -1, -1}},
		{name: "a plugin's unreadable answer, as text", reward: relative(pluginText), want: coach.JudgeCauses{Unreadable: 3}, rewards: []float64{-1, -1, -1}},
		{name: "per-trace correctness, one trace unreadable", reward: coach.Reward{Name: "correct", Weight: 1, Judge: true, PerTrace: true,
			Reward: judge.CorrectnessReward{LLM: picky}}, want: coach.JudgeCauses{Unreadable: 1}, rewards: []float64{1, -1, 0}},
	}
	traces := []sdk.Trace{{FinalAnswer: "42"}, {FinalAnswer: "41"}, {}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &coach.Scorer{Fallback: -1, JudgeTimeout: 50 * time.Millisecond, Components: []coach.Reward{tt.reward}}
			start := time.Now()
			g, err := s.Score(context.Background(), sdk.Task{ID: "t", Prompt: "6*7?", Expected: "42"}, traces)
			if err != nil {
				t.Fatal(err)
			}
			if g.Judge != tt.want || !reflect.DeepEqual(g.Rewards, tt.rewards) {
				t.Errorf("causes %+v, rewards %v; want %+v, %v (errors %q)", g.Judge, g.Rewards, tt.want, tt.rewards, g.Errors)
			}
			total := tt.want.Failures + tt.want.Timeouts + tt.want.Unreadable
			if g.JudgeFallbacks != total || g.Fallbacks != total || (total > 0) != (len(g.Errors) > 0) {
				t.Errorf("%d judge fallbacks, %d fallbacks, errors %q; want %d", g.JudgeFallbacks, g.Fallbacks, g.Errors, total)
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("scoring took %v: the judge timeout did not bound the call", time.Since(start))
			}
		})
	}
}

// The causes reach the step metrics' and the evaluation's JSON.
func TestJudgeCausesJSON(t *testing.T) {
	causes := coach.JudgeCauses{Failures: 1, Timeouts: 2, Unreadable: 3}
	for _, v := range []any{coach.StepMetrics{JudgeFallbacks: 6, JudgeCauses: causes}, coach.EvalResult{RewardFallbacks: 6, JudgeCauses: causes}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"judge_failures":1`, `"judge_timeouts":2`, `"judge_unreadable":3`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%T JSON lacks %s: %s", v, want, b)
			}
		}
	}
}
