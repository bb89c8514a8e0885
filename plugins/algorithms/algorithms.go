// Package algorithms holds ToolBrain's first-party RL algorithms as plain Go
// implementations of sdk.Algorithm: they turn a batch's rewards (one group of
// traces per task) into per-trace advantages, or into DPO preference pairs.
// The core consumes what they return; the losses live in core/train.
//
//   - [GRPO]: group-normalised advantages, scaled by the group's std, the
//     batch's std, or not at all (TRL GRPOTrainer, scale_rewards).
//   - [DrGRPO]: GRPO without the std scaling (TRL with scale_rewards="none").
//   - [RLOO]: reward minus the mean of the other traces of the group (TRL
//     RLOOTrainer), optionally whitened over the batch.
//   - [ReinforcePPBaseline]: REINFORCE++-baseline, group mean subtracted then
//     whitened over every generated token of the batch (OpenRLHF,
//     --advantage_estimator reinforce_baseline).
//   - [DPOPairs]: per group, the best trace against the worst, ties dropped.
//
// Each is configured by a small struct whose zero value means the reference
// implementation's defaults, and built from toolbrain.toml's [algorithm]
// table by [FromConfig]. The same code runs as a WebAssembly plugin
// (wasm/ here).
//
// # Errors
//
// A malformed request (no groups, an empty group, rewards and lengths of
// different sizes, a NaN or infinite reward, a reward beyond
// [MaxAbsReward], a negative length) fails with an error wrapping
// sdk.ErrInvalidRequest; a bad configuration with [ErrBadConfig] or
// [ErrUnknownAlgorithm]. Nothing here panics on input.
//
// # Why float64
//
// TRL and OpenRLHF compute in float32 on the accelerator; the values here are
// the same formulas in float64, so they agree with them to float32 precision
// (about 1e-7 relative) and with the float64 reference in testdata exactly up
// to summation order.
package algorithms

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/toolbrain/toolbrain/sdk"
)

// Sentinel errors of the package.
var (
	// ErrUnknownAlgorithm means a configured name is not one of [Names].
	ErrUnknownAlgorithm = errors.New("algorithms: unknown algorithm")
	// ErrBadConfig means a configuration value is out of range or does not
	// apply to the chosen algorithm.
	ErrBadConfig = errors.New("algorithms: bad config")
)

// MaxAbsReward bounds the magnitude of a reward. Larger ones are rejected
// with sdk.ErrInvalidRequest: their squared deviations would overflow
// float64 and silently turn the std into +Inf, and no reward function
// produces them on purpose.
const MaxAbsReward = 1e100

// Algorithm names, as written in toolbrain.toml's algorithm.name.
const (
	NameGRPO                = "grpo"
	NameDrGRPO              = "dr_grpo"
	NameRLOO                = "rloo"
	NameReinforcePPBaseline = "reinforce_pp_baseline"
	NameDPO                 = "dpo"
)

// Names lists the algorithm names [FromConfig] accepts, sorted.
func Names() []string {
	n := []string{NameGRPO, NameDrGRPO, NameRLOO, NameReinforcePPBaseline, NameDPO}
	sort.Strings(n)
	return n
}

// Scale says what GRPO divides the centred rewards by (TRL's scale_rewards).
type Scale string

// The scales.
const (
	// ScaleGroup divides by the group's std (the GRPO paper; TRL's default).
	ScaleGroup Scale = "group"
	// ScaleBatch divides by the std of every reward in the batch (TRL,
	// after "Tricks or Traps? A Deep Dive into RL for LLM Reasoning").
	ScaleBatch Scale = "batch"
	// ScaleNone does not divide (Dr. GRPO).
	ScaleNone Scale = "none"
)

// Config is toolbrain.toml's [algorithm] table. The zero value is GRPO with
// TRL's defaults. Fields that do not apply to the chosen algorithm must be
// left at zero (a strict config catches typos of intent, not only of keys).
//
//	[algorithm]
//	name = "grpo"            # grpo | dr_grpo | rloo | reinforce_pp_baseline | dpo
//	scale_rewards = "batch"  # grpo only: group (default) | batch | none
//	epsilon = 1e-4           # grpo, rloo: added to the std; reinforce_pp_baseline: variance floor
//	normalize_advantages = false  # rloo only
type Config struct {
	// Name is one of [Names]; "" means "grpo".
	Name string `toml:"name" json:"name,omitempty"`
	// ScaleRewards is GRPO's [Scale]; "" means "group".
	ScaleRewards Scale `toml:"scale_rewards" json:"scale_rewards,omitempty"`
	// Epsilon keeps divisions finite; 0 means the reference default of the
	// algorithm (see each type).
	Epsilon float64 `toml:"epsilon" json:"epsilon,omitempty"`
	// NormalizeAdvantages whitens RLOO's advantages over the batch.
	NormalizeAdvantages bool `toml:"normalize_advantages" json:"normalize_advantages,omitempty"`
}

// FromConfig builds the algorithm cfg names, after checking that every set
// field applies to it and is in range.
func FromConfig(cfg Config) (sdk.Algorithm, error) {
	name := cfg.Name
	if name == "" {
		name = NameGRPO
	}
	// notFor rejects fields that the algorithm would silently ignore.
	notFor := func(scale, eps, norm bool) error {
		switch {
		case scale && cfg.ScaleRewards != "":
			return fmt.Errorf("%w: scale_rewards does not apply to %s", ErrBadConfig, name)
		case eps && cfg.Epsilon != 0:
			return fmt.Errorf("%w: epsilon does not apply to %s", ErrBadConfig, name)
		case norm && cfg.NormalizeAdvantages:
			return fmt.Errorf("%w: normalize_advantages does not apply to %s", ErrBadConfig, name)
		}
		return nil
	}
	var a sdk.Algorithm
	var err error
	switch name {
	case NameGRPO:
		err = notFor(false, false, true)
		a = GRPO{Scale: cfg.ScaleRewards, Epsilon: cfg.Epsilon}
	case NameDrGRPO:
		// Dr. GRPO is GRPO with scale_rewards = "none"; saying so is allowed.
		if cfg.ScaleRewards != "" && cfg.ScaleRewards != ScaleNone {
			err = fmt.Errorf("%w: dr_grpo never scales rewards (scale_rewards %q)", ErrBadConfig, cfg.ScaleRewards)
		} else {
			err = notFor(false, true, true)
		}
		a = DrGRPO{}
	case NameRLOO:
		err = notFor(true, false, false)
		a = RLOO{Normalize: cfg.NormalizeAdvantages, Epsilon: cfg.Epsilon}
	case NameReinforcePPBaseline:
		err = notFor(true, false, true)
		a = ReinforcePPBaseline{Epsilon: cfg.Epsilon}
	case NameDPO:
		err = notFor(true, true, true)
		a = DPOPairs{}
	default:
		return nil, fmt.Errorf("%w: %q (known: %v)", ErrUnknownAlgorithm, cfg.Name, Names())
	}
	if err != nil {
		return nil, err
	}
	if v, ok := a.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// ConfigFromMap reads a Config from string values keyed like the toml tags
// (name, scale_rewards, epsilon, normalize_advantages): the form a
// WebAssembly plugin receives through Extism's config_get. Unknown keys and
// unparsable values fail with [ErrBadConfig].
func ConfigFromMap(m map[string]string) (Config, error) {
	var c Config
	for k, v := range m {
		switch k {
		case "name":
			c.Name = v
		case "scale_rewards":
			c.ScaleRewards = Scale(v)
		case "epsilon":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return Config{}, fmt.Errorf("%w: epsilon %q: %w", ErrBadConfig, v, err)
			}
			c.Epsilon = f
		case "normalize_advantages":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("%w: normalize_advantages %q: %w", ErrBadConfig, v, err)
			}
			c.NormalizeAdvantages = b
		default:
			return Config{}, fmt.Errorf("%w: unknown key %q", ErrBadConfig, k)
		}
	}
	return c, nil
}

// checkEpsilon accepts 0 (the default) and positive finite values.
func checkEpsilon(name string, eps float64) error {
	if eps < 0 || math.IsNaN(eps) || math.IsInf(eps, 0) {
		return fmt.Errorf("%w: %s epsilon %v must be a finite number >= 0", ErrBadConfig, name, eps)
	}
	return nil
}

// check validates a request beyond sdk.AdvantageRequest.Validate: at least
// one group, no empty group, bounded rewards. It also honours a context that
// is already cancelled; the computation itself takes microseconds, so it is
// not interrupted once started.
func check(ctx context.Context, req sdk.AdvantageRequest) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("advantages: %w", err)
	}
	if len(req.Groups) == 0 {
		return fmt.Errorf("%w: no groups", sdk.ErrInvalidRequest)
	}
	if err := req.Validate(); err != nil {
		return err
	}
	for g, grp := range req.Groups {
		if len(grp.Rewards) == 0 {
			return fmt.Errorf("%w: group %d is empty", sdk.ErrInvalidRequest, g)
		}
		for i, r := range grp.Rewards {
			if math.Abs(r) > MaxAbsReward {
				return fmt.Errorf("%w: group %d reward %d is %v, beyond ±%g", sdk.ErrInvalidRequest, g, i, r, MaxAbsReward)
			}
		}
	}
	return nil
}

// alloc returns advantages shaped like req's rewards, backed by one slice.
func alloc(req sdk.AdvantageRequest) [][]float64 {
	n := 0
	for _, grp := range req.Groups {
		n += len(grp.Rewards)
	}
	flat := make([]float64, n)
	out := make([][]float64, len(req.Groups))
	for g, grp := range req.Groups {
		out[g], flat = flat[:len(grp.Rewards):len(grp.Rewards)], flat[len(grp.Rewards):]
	}
	return out
}

// mean is the arithmetic mean of a non-empty slice.
func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// stdUnbiased is torch.std's default: the square root of the sum of squared
// deviations over n-1 (Bessel's correction). torch returns NaN for n = 1;
// TRL replaces that by 0, and so does this.
func stdUnbiased(x []float64) float64 {
	if len(x) < 2 {
		return 0
	}
	m := mean(x)
	ss := 0.0
	for _, v := range x {
		ss += (v - m) * (v - m)
	}
	return math.Sqrt(ss / float64(len(x)-1))
}

// batchMeanStd is the mean and the unbiased std (0 for fewer than two
// values) of every value of x, as torch's x.mean() and x.std() over the
// flattened batch.
func batchMeanStd(x [][]float64) (m, std float64) {
	n, s := 0, 0.0
	for _, v := range x {
		for _, y := range v {
			s += y
		}
		n += len(v)
	}
	m = s / float64(n)
	if n < 2 {
		return m, 0
	}
	ss := 0.0
	for _, v := range x {
		for _, y := range v {
			ss += (y - m) * (y - m)
		}
	}
	return m, math.Sqrt(ss / float64(n-1))
}
