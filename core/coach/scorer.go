package coach

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

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
	// Judge marks an LLM judge: its failures are counted apart, by cause
	// (failure, timeout, unreadable answer), and Scorer.JudgeTimeout
	// bounds its calls.
	Judge bool
	// PerTrace scores trace by trace (Reward must then implement
	// sdk.Reward), without a group call: for a judge that asks its model
	// once per trace, so that a failing request costs only its trace.
	PerTrace bool
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
	// JudgeTimeout bounds each call of a judge component (a group, or a
	// trace when it scores per trace); past it the call's traces fall back,
	// counted as judge timeouts. 0 means no bound beyond the judge's own.
	JudgeTimeout time.Duration
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
	// Judge is JudgeFallbacks by cause.
	Judge  JudgeCauses
	Errors []string
}

// JudgeCauses counts the (trace, judge) scores that fell back, by
// cause; their sum is GroupScore.JudgeFallbacks.
type JudgeCauses struct {
	// Failures: the judge or its model failed (an error status, a
	// refused connection, a plugin that trapped, no gold answer).
	Failures int `json:"judge_failures"`
	// Timeouts: the call ran past Scorer.JudgeTimeout, the model client's
	// timeout or the plugin's time limit.
	Timeouts int `json:"judge_timeouts"`
	// Unreadable: the model answered, but no verdict could be read from
	// its answers (sdk.ErrUnreadableAnswer), or the judge's response
	// broke its kind's rules (sdk.ErrInvalidResponse).
	Unreadable int `json:"judge_unreadable"`
}

// Add adds o to j.
func (j *JudgeCauses) Add(o JudgeCauses) {
	j.Failures += o.Failures
	j.Timeouts += o.Timeouts
	j.Unreadable += o.Unreadable
}

// count adds n fallbacks caused by err; timedOut says that the call's own
// deadline passed.
func (j *JudgeCauses) count(err error, timedOut bool, n int) {
	switch {
	case timedOut || isTimeout(err):
		j.Timeouts += n
	case errors.Is(err, sdk.ErrUnreadableAnswer) || errors.Is(err, sdk.ErrInvalidResponse) ||
		// A plugin's error reaches the host as text.
		strings.Contains(err.Error(), sdk.ErrUnreadableAnswer.Error()):
		j.Unreadable += n
	default:
		j.Failures += n
	}
}

// isTimeout reports whether err is a deadline that passed: a context's,
// or an error that says so by a Timeout method (net.Error, url.Error, a
// plugin runtime's time limit).
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
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
		scores, causes, why := s.component(ctx, c, req)
		if err := ctx.Err(); err != nil {
			return GroupScore{}, err
		}
		if failed := causes.Failures + causes.Timeouts + causes.Unreadable; failed > 0 {
			out.Fallbacks += failed
			if c.Judge {
				out.JudgeFallbacks += failed
				out.Judge.Add(causes)
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
// others their score (a PerTrace component goes trace by trace at once).
// It returns the scores, the fallbacks by cause and the first failure.
func (s *Scorer) component(ctx context.Context, c Reward, req sdk.RewardGroupRequest) (scores []float64, failed JudgeCauses, why string) {
	n := len(req.Traces)
	single, ok := c.Reward.(sdk.Reward)
	scores = make([]float64, n)
	for i := range scores {
		scores[i] = s.Fallback
	}
	if !c.PerTrace || !ok {
		cctx, cancel := s.bound(ctx, c)
		r, err := safeGroup(cctx, c.Reward, req)
		timedOut := cctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			err = r.Validate(n)
		}
		if err == nil {
			return r.Scores, failed, ""
		}
		why = err.Error()
		if !ok || n == 1 {
			failed.count(err, timedOut, n)
			return scores, failed, why
		}
	}
	for i, tr := range req.Traces {
		cctx, cancel := s.bound(ctx, c)
		resp, err := safeSingle(cctx, single, sdk.RewardRequest{Expected: req.Expected, Trace: tr, Task: req.Task})
		timedOut := cctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			err = resp.Validate()
		}
		if err != nil {
			failed.count(err, timedOut, 1)
			if why == "" {
				why = fmt.Sprintf("trace %d: %v", i, err)
			}
			continue
		}
		scores[i] = resp.Score
	}
	return scores, failed, why
}

// bound is ctx with Scorer.JudgeTimeout for a judge component.
func (s *Scorer) bound(ctx context.Context, c Reward) (context.Context, context.CancelFunc) {
	if c.Judge && s.JudgeTimeout > 0 {
		return context.WithTimeout(ctx, s.JudgeTimeout)
	}
	return ctx, func() {}
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
