package algorithms

import (
	"context"
	"fmt"
	"math"

	"github.com/toolbrain/toolbrain/sdk"
)

// Compile-time checks.
var (
	_ sdk.Algorithm = GRPO{}
	_ sdk.Algorithm = DrGRPO{}
	_ sdk.Algorithm = RLOO{}
	_ sdk.Algorithm = ReinforcePPBaseline{}
	_ sdk.Algorithm = DPOPairs{}
)

// Reference defaults of Epsilon.
const (
	// DefaultEpsilon is what TRL adds to the std in GRPOTrainer and in
	// RLOOTrainer's normalisation (the literal 1e-4 in both).
	DefaultEpsilon = 1e-4
	// DefaultVarianceFloor is OpenRLHF's floor on the variance before its
	// reciprocal square root (var.clamp(min=1e-8).rsqrt()).
	DefaultVarianceFloor = 1e-8
)

// GRPO computes group-relative advantages as TRL's GRPOTrainer does
// (trl/trainer/grpo_trainer.py, _generate_and_score_completions): for trace i
// of group g with reward r_gi,
//
//	A_gi = (r_gi - mean_g) / (s + ε)   with s by Scale:
//	  group: s = std_g, the unbiased (n-1) std of group g (torch.std),
//	         0 for a group of one
//	  batch: s = the unbiased std of every reward in the batch, 0 for a
//	         batch of one (the mean subtracted is still the group's)
//	  none:  A_gi = r_gi - mean_g, no division and no ε
//
// with ε = Epsilon, or [DefaultEpsilon] when 0. A group whose rewards are all
// equal gets zero advantages. The zero value is TRL's default (group, 1e-4).
type GRPO struct {
	Scale   Scale
	Epsilon float64
}

func (a GRPO) validate() error {
	switch a.Scale {
	case "", ScaleGroup, ScaleBatch, ScaleNone:
	default:
		return fmt.Errorf("%w: scale_rewards %q is not group, batch or none", ErrBadConfig, a.Scale)
	}
	return checkEpsilon(NameGRPO, a.Epsilon)
}

// Advantages implements sdk.Algorithm. It returns per-trace advantages.
func (a GRPO) Advantages(ctx context.Context, req sdk.AdvantageRequest) (sdk.AdvantageResponse, error) {
	if err := a.validate(); err != nil {
		return sdk.AdvantageResponse{}, err
	}
	if err := check(ctx, req); err != nil {
		return sdk.AdvantageResponse{}, err
	}
	eps := a.Epsilon
	if eps == 0 {
		eps = DefaultEpsilon
	}
	scale := a.Scale
	if scale == "" {
		scale = ScaleGroup
	}
	out := alloc(req)
	batchStd := 0.0
	if scale == ScaleBatch {
		rewards := make([][]float64, len(req.Groups))
		for g, grp := range req.Groups {
			rewards[g] = grp.Rewards
		}
		_, batchStd = batchMeanStd(rewards)
	}
	for g, grp := range req.Groups {
		m := mean(grp.Rewards)
		d := 1.0
		switch scale {
		case ScaleGroup:
			d = stdUnbiased(grp.Rewards) + eps
		case ScaleBatch:
			d = batchStd + eps
		}
		for i, r := range grp.Rewards {
			out[g][i] = (r - m) / d
		}
	}
	return sdk.AdvantageResponse{Advantages: out}, nil
}

// DrGRPO is Dr. GRPO ("Understanding R1-Zero-Like Training: A Critical
// Perspective", Liu et al. 2025): GRPO without the division by the std,
//
//	A_gi = r_gi - mean_g
//
// which TRL computes with scale_rewards="none" (and OpenRLHF with
// --advantage_estimator dr_grpo). Its other half, the constant loss
// normaliser, is core/train's loss_type "dr_grpo".
type DrGRPO struct{}

// Advantages implements sdk.Algorithm.
func (DrGRPO) Advantages(ctx context.Context, req sdk.AdvantageRequest) (sdk.AdvantageResponse, error) {
	return GRPO{Scale: ScaleNone}.Advantages(ctx, req)
}

// RLOO is REINFORCE Leave-One-Out as TRL's RLOOTrainer computes it
// (trl/trainer/rloo_trainer.py; Ahmadian et al. 2024): each trace's baseline
// is the mean reward of the other traces of its group,
//
//	A_gi = r_gi - (Σ_j r_gj - r_gi) / (n_g - 1)     (= n_g/(n_g-1) · (r_gi - mean_g))
//
// and 0 for a group of one. With Normalize (TRL's normalize_advantages), the
// advantages are then whitened over the whole batch:
//
//	A ← (A - mean(A)) / (std(A) + ε)
//
// with the unbiased std (0 for a batch of one) and ε = Epsilon, or
// [DefaultEpsilon] when 0. Epsilon is unused without Normalize.
type RLOO struct {
	Normalize bool
	Epsilon   float64
}

func (a RLOO) validate() error { return checkEpsilon(NameRLOO, a.Epsilon) }

// Advantages implements sdk.Algorithm.
func (a RLOO) Advantages(ctx context.Context, req sdk.AdvantageRequest) (sdk.AdvantageResponse, error) {
	if err := a.validate(); err != nil {
		return sdk.AdvantageResponse{}, err
	}
	if err := check(ctx, req); err != nil {
		return sdk.AdvantageResponse{}, err
	}
	out := alloc(req)
	for g, grp := range req.Groups {
		n := len(grp.Rewards)
		if n < 2 {
			continue // zeros, as TRL
		}
		sum := 0.0
		for _, r := range grp.Rewards {
			sum += r
		}
		for i, r := range grp.Rewards {
			out[g][i] = r - (sum-r)/float64(n-1)
		}
	}
	if a.Normalize {
		eps := a.Epsilon
		if eps == 0 {
			eps = DefaultEpsilon
		}
		m, s := batchMeanStd(out)
		for _, v := range out {
			for i := range v {
				v[i] = (v[i] - m) / (s + eps)
			}
		}
	}
	return sdk.AdvantageResponse{Advantages: out}, nil
}

// ReinforcePPBaseline is REINFORCE++-baseline as OpenRLHF computes it
// (openrlhf/trainer/ppo_utils/experience_maker.py,
// compute_advantages_and_returns with advantage_estimator
// "reinforce_baseline"; Hu et al., "REINFORCE++", 2025). The group mean is
// subtracted, without dividing by the group's std:
//
//	a_gi = r_gi - mean_g
//
// OpenRLHF then gives every generated token of trace gi the return a_gi
// (γ = 1, the KL kept in the loss) and whitens over every generated token of
// the batch. With L_gi = Lengths[g][i] and N = Σ L_gi, that is
//
//	μ   = Σ L_gi a_gi / N
//	σ²  = Σ L_gi (a_gi - μ)² / N                 (biased: over N, not N-1)
//	A_gi = (a_gi - μ) / sqrt(max(σ², ε))
//
// with ε = Epsilon, or [DefaultVarianceFloor] when 0. Every token of a trace
// has the same advantage, so the response holds one per trace and the core
// broadcasts it. Longer traces weigh more in μ and σ², which is why the
// request carries lengths. When no trace generated a token (N = 0), there is
// nothing to train on and every advantage is 0 (OpenRLHF would divide 0 by 0).
type ReinforcePPBaseline struct {
	Epsilon float64
}

func (a ReinforcePPBaseline) validate() error {
	return checkEpsilon(NameReinforcePPBaseline, a.Epsilon)
}

// Advantages implements sdk.Algorithm.
func (a ReinforcePPBaseline) Advantages(ctx context.Context, req sdk.AdvantageRequest) (sdk.AdvantageResponse, error) {
	if err := a.validate(); err != nil {
		return sdk.AdvantageResponse{}, err
	}
	if err := check(ctx, req); err != nil {
		return sdk.AdvantageResponse{}, err
	}
	eps := a.Epsilon
	if eps == 0 {
		eps = DefaultVarianceFloor
	}
	out := alloc(req)
	tokens, sum := 0.0, 0.0
	for g, grp := range req.Groups {
		m := mean(grp.Rewards)
		for i, r := range grp.Rewards {
			out[g][i] = r - m
			l := float64(grp.Lengths[i])
			tokens += l
			sum += l * out[g][i]
		}
	}
	if tokens == 0 {
		for _, v := range out {
			clear(v)
		}
		return sdk.AdvantageResponse{Advantages: out}, nil
	}
	mu := sum / tokens
	ss := 0.0
	for g, grp := range req.Groups {
		for i, l := range grp.Lengths {
			d := out[g][i] - mu
			ss += float64(l) * d * d
		}
	}
	rstd := 1 / math.Sqrt(max(ss/tokens, eps))
	for _, v := range out {
		for i := range v {
			v[i] = (v[i] - mu) * rstd
		}
	}
	return sdk.AdvantageResponse{Advantages: out}, nil
}

// DPOPairs turns each group into at most one DPO preference pair: the trace
// with the highest reward is chosen against the trace with the lowest. Ties
// are broken by the lower index, so the pairs are deterministic; a group whose
// rewards are all equal (including a group of one) gives no pair, since it
// says nothing about which trace is better. This is the selection of
// Self-Rewarding Language Models (Yuan et al. 2024, section 2.3): highest
// against lowest score of the sampled responses, discarded when equal.
//
// The response holds only Pairs, in group order; when no group yields a pair
// it is a non-nil empty slice.
type DPOPairs struct{}

// Advantages implements sdk.Algorithm.
func (DPOPairs) Advantages(ctx context.Context, req sdk.AdvantageRequest) (sdk.AdvantageResponse, error) {
	if err := check(ctx, req); err != nil {
		return sdk.AdvantageResponse{}, err
	}
	pairs := make([]sdk.PreferencePair, 0, len(req.Groups))
	for g, grp := range req.Groups {
		best, worst := 0, 0
		for i, r := range grp.Rewards {
			// Strict comparisons keep the lowest index among ties.
			if r > grp.Rewards[best] {
				best = i
			}
			if r < grp.Rewards[worst] {
				worst = i
			}
		}
		if grp.Rewards[best] == grp.Rewards[worst] {
			continue
		}
		pairs = append(pairs, sdk.PreferencePair{Group: g, Chosen: best, Rejected: worst})
	}
	return sdk.AdvantageResponse{Pairs: pairs}, nil
}
