// Package rewards holds ToolBrain's first-party rewards as plain Go
// implementations of sdk.Reward: exact match, token F1, tool-execution
// success, step efficiency, and a weighted combination configured in
// toolbrain.toml as a list with weights: [Weighted] over per-trace rewards,
// [WeightedGroup] when the list also holds rewards that score a whole group
// (an LLM judge, through judge.GroupReward). ExactMatch is also built as a
// WebAssembly plugin (wasm/exactmatch-go) from this same code.
package rewards

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/toolbrain/toolbrain/sdk"
)

// ErrUnknownReward means a configured reward name is not a built-in one.
var ErrUnknownReward = errors.New("rewards: unknown reward")

// Compile-time checks.
var (
	_ sdk.Reward = ExactMatch{}
	_ sdk.Reward = TokenF1{}
	_ sdk.Reward = ToolSuccess{}
	_ sdk.Reward = StepEfficiency{}
	_ sdk.Reward = (*Weighted)(nil)
)

// ExactMatch scores 1 when the final answer equals the expected answer, else
// 0. With Normalize, both are compared after trimming space and folding case.
type ExactMatch struct {
	Normalize bool `toml:"normalize"`
}

// Reward implements sdk.Reward.
func (e ExactMatch) Reward(_ context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	a, b := req.Trace.FinalAnswer, req.Expected
	if e.Normalize {
		a, b = strings.ToLower(strings.TrimSpace(a)), strings.ToLower(strings.TrimSpace(b))
	}
	if a == b {
		return sdk.RewardResponse{Score: 1}, nil
	}
	return sdk.RewardResponse{Score: 0}, nil
}

// TokenF1 is the SQuAD answer F1: both answers are lower-cased, stripped of
// punctuation and of the articles a, an, the, split on white space, and
// scored by the harmonic mean of precision and recall of their common tokens
// (counted as multisets). Two empty answers score 1.
type TokenF1 struct{}

// Reward implements sdk.Reward.
func (TokenF1) Reward(_ context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	return sdk.RewardResponse{Score: F1(req.Trace.FinalAnswer, req.Expected)}, nil
}

// F1 is the token F1 of TokenF1.
func F1(prediction, truth string) float64 {
	p, t := squadTokens(prediction), squadTokens(truth)
	if len(p) == 0 || len(t) == 0 {
		if len(p) == len(t) {
			return 1
		}
		return 0
	}
	counts := make(map[string]int, len(t))
	for _, w := range t {
		counts[w]++
	}
	common := 0
	for _, w := range p {
		if counts[w] > 0 {
			counts[w]--
			common++
		}
	}
	if common == 0 {
		return 0
	}
	precision := float64(common) / float64(len(p))
	recall := float64(common) / float64(len(t))
	return 2 * precision * recall / (precision + recall)
}

func squadTokens(s string) []string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPunct(r) || unicode.IsSymbol(r) && r < 128 {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
	var out []string
	for _, w := range strings.Fields(s) {
		if w != "a" && w != "an" && w != "the" {
			out = append(out, w)
		}
	}
	return out
}

// ToolSuccess scores the fraction of tool calls whose observation is not an
// error; a turn-level error counts as one failed call. A trace without tool
// calls or errors scores 1, and an episode-level error scores 0.
type ToolSuccess struct{}

// Reward implements sdk.Reward.
func (ToolSuccess) Reward(_ context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	if req.Trace.Error != "" {
		return sdk.RewardResponse{Score: 0}, nil
	}
	total, failed := 0, 0
	for _, turn := range req.Trace.Turns {
		total += max(len(turn.ToolCalls), len(turn.Observations))
		for _, o := range turn.Observations {
			if o.IsError {
				failed++
			}
		}
		if turn.Error != "" {
			total++
			failed++
		}
	}
	if total == 0 {
		return sdk.RewardResponse{Score: 1}, nil
	}
	return sdk.RewardResponse{Score: float64(total-failed) / float64(total)}, nil
}

// StepEfficiency rewards short episodes: 1 for a single turn, falling by
// 1/MaxTurns per extra turn, never below 0. MaxTurns 0 means 10.
type StepEfficiency struct {
	MaxTurns int `toml:"max_turns"`
}

// Reward implements sdk.Reward.
func (s StepEfficiency) Reward(_ context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	m := s.MaxTurns
	if m <= 0 {
		m = 10
	}
	turns := max(len(req.Trace.Turns), 1)
	return sdk.RewardResponse{Score: math.Max(0, 1-float64(turns-1)/float64(m))}, nil
}

// Component is one weighted reward of a Weighted combination.
type Component struct {
	Name   string
	Weight float64
	Reward sdk.Reward
}

// Weighted is Σ weight·score over its components; Info holds each
// component's unweighted score under its name.
type Weighted struct {
	Components []Component
}

// Reward implements sdk.Reward. A component's error fails the whole reward,
// named.
func (w *Weighted) Reward(ctx context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	resp := sdk.RewardResponse{Info: make(map[string]float64, len(w.Components))}
	for _, c := range w.Components {
		r, err := c.Reward.Reward(ctx, req)
		if err != nil {
			return sdk.RewardResponse{}, fmt.Errorf("reward %s: %w", c.Name, err)
		}
		if err := r.Validate(); err != nil {
			return sdk.RewardResponse{}, fmt.Errorf("reward %s: %w", c.Name, err)
		}
		resp.Info[c.Name] = r.Score
		resp.Score += c.Weight * r.Score
	}
	return resp, nil
}

// Config is one entry of the reward list in toolbrain.toml:
//
//	[[rewards]]
//	name = "token_f1"
//	weight = 0.5
type Config struct {
	Name   string  `toml:"name"`
	Weight float64 `toml:"weight"`
	// MaxTurns configures step_efficiency.
	MaxTurns int `toml:"max_turns"`
	// Normalize configures exact_match.
	Normalize bool `toml:"normalize"`
}

// Names of the built-in rewards.
const (
	NameExactMatch     = "exact_match"
	NameTokenF1        = "token_f1"
	NameToolSuccess    = "tool_success"
	NameStepEfficiency = "step_efficiency"
)

// Builtin returns the built-in reward called c.Name.
func Builtin(c Config) (sdk.Reward, error) {
	switch c.Name {
	case NameExactMatch:
		return ExactMatch{Normalize: c.Normalize}, nil
	case NameTokenF1:
		return TokenF1{}, nil
	case NameToolSuccess:
		return ToolSuccess{}, nil
	case NameStepEfficiency:
		return StepEfficiency{MaxTurns: c.MaxTurns}, nil
	}
	return nil, fmt.Errorf("%w %q (built-in: %s, %s, %s, %s)", ErrUnknownReward, c.Name, NameExactMatch, NameTokenF1, NameToolSuccess, NameStepEfficiency)
}

// FromConfig builds the weighted combination of a reward list. A weight must
// be finite; a list entry naming no built-in reward is an error.
func FromConfig(list []Config) (*Weighted, error) {
	w := &Weighted{}
	for i, c := range list {
		if math.IsNaN(c.Weight) || math.IsInf(c.Weight, 0) {
			return nil, fmt.Errorf("rewards[%d] %s: weight %v is not finite", i, c.Name, c.Weight)
		}
		r, err := Builtin(c)
		if err != nil {
			return nil, fmt.Errorf("rewards[%d]: %w", i, err)
		}
		w.Components = append(w.Components, Component{Name: c.Name, Weight: c.Weight, Reward: r})
	}
	return w, nil
}
