// Package optim holds the host-side optimizer of core/train: AdamW with
// decoupled weight decay (as torch.optim.AdamW), global-norm gradient
// clipping (as torch.nn.utils.clip_grad_norm_) and learning-rate schedules
// with warmup (as Hugging Face transformers' get_*_schedule_with_warmup).
//
// # Why on the host
//
// ToolBrain trains LoRA adapters: a few million numbers at most, against
// a forward and backward pass over the whole model. Updating them in plain
// Go costs microseconds to milliseconds, keeps the optimizer state in
// ordinary slices that checkpoints write directly, and lets the tests
// compare each update with a hand computation. Parameters are float32, the
// arithmetic of each element float64, and the moments float32, as PyTorch
// keeps them in the parameter's dtype.
package optim

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors.
var (
	// ErrConfig marks an invalid optimizer or schedule setting.
	ErrConfig = errors.New("optim: invalid config")
	// ErrNonFinite is returned when a gradient holds NaN or ±Inf; the
	// parameters and state are left untouched.
	ErrNonFinite = errors.New("optim: non-finite gradient")
	// ErrState marks optimizer state that does not fit the parameters.
	ErrState = errors.New("optim: state does not match parameters")
)

// AdamW configures the optimizer. DefaultAdamW gives torch's defaults.
type AdamW struct {
	// LR is the peak learning rate; the schedule scales it per step.
	LR float64
	// Beta1 and Beta2 are the moment decay rates.
	Beta1, Beta2 float64
	// Eps is added to the denominator.
	Eps float64
	// WeightDecay is the decoupled decay: p ← p·(1 - lr·WeightDecay).
	WeightDecay float64
}

// DefaultAdamW is torch.optim.AdamW's defaults: lr 1e-3, betas (0.9,
// 0.999), eps 1e-8, weight_decay 1e-2.
func DefaultAdamW() AdamW {
	return AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
}

// Validate checks the ranges torch checks.
func (c AdamW) Validate() error {
	switch {
	case !(c.LR >= 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("%w: learning rate %v must be ≥ 0 and finite", ErrConfig, c.LR)
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("%w: beta1 %v must be in [0, 1)", ErrConfig, c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("%w: beta2 %v must be in [0, 1)", ErrConfig, c.Beta2)
	case !(c.Eps >= 0) || math.IsInf(c.Eps, 0):
		return fmt.Errorf("%w: eps %v must be ≥ 0 and finite", ErrConfig, c.Eps)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("%w: weight decay %v must be ≥ 0 and finite", ErrConfig, c.WeightDecay)
	}
	return nil
}

// State is AdamW's state: the step count and the first and second moments
// of each parameter tensor.
type State struct {
	Step int64
	M, V [][]float32
}

// NewState returns zero state for parameter tensors of the given sizes.
func NewState(sizes []int) *State {
	s := &State{M: make([][]float32, len(sizes)), V: make([][]float32, len(sizes))}
	for i, n := range sizes {
		s.M[i] = make([]float32, n)
		s.V[i] = make([]float32, n)
	}
	return s
}

// Bytes is the memory the moments take.
func (s *State) Bytes() int64 {
	var n int64
	for i := range s.M {
		n += int64(len(s.M[i])+len(s.V[i])) * 4
	}
	return n
}

// Update applies one AdamW step with learning rate lr (the schedule's
// value for this step) to params in place:
//
//	p ← p·(1 - lr·wd)
//	m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²
//	p ← p - lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + eps)
//
// with t the step count after incrementing, exactly as torch.optim.AdamW.
// A gradient with NaN or Inf returns ErrNonFinite before anything
// changes.
func (c AdamW) Update(params, grads [][]float32, st *State, lr float64) error {
	if len(params) != len(grads) || len(params) != len(st.M) || len(params) != len(st.V) {
		return fmt.Errorf("%w: %d parameters, %d gradients, %d moments", ErrState, len(params), len(grads), len(st.M))
	}
	for i := range params {
		if len(params[i]) != len(grads[i]) || len(params[i]) != len(st.M[i]) || len(params[i]) != len(st.V[i]) {
			return fmt.Errorf("%w: tensor %d has %d values, gradient %d, moments %d", ErrState, i, len(params[i]), len(grads[i]), len(st.M[i]))
		}
		for _, g := range grads[i] {
			if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
				return fmt.Errorf("%w: tensor %d", ErrNonFinite, i)
			}
		}
	}
	st.Step++
	t := float64(st.Step)
	bc1 := 1 - math.Pow(c.Beta1, t)
	bc2sqrt := math.Sqrt(1 - math.Pow(c.Beta2, t))
	stepSize := lr / bc1
	decay := 1 - lr*c.WeightDecay
	for i, p := range params {
		m, v, g := st.M[i], st.V[i], grads[i]
		for j := range p {
			gj := float64(g[j])
			mj := c.Beta1*float64(m[j]) + (1-c.Beta1)*gj
			vj := c.Beta2*float64(v[j]) + (1-c.Beta2)*gj*gj
			m[j], v[j] = float32(mj), float32(vj)
			pj := float64(p[j]) * decay
			p[j] = float32(pj - stepSize*mj/(math.Sqrt(vj)/bc2sqrt+c.Eps))
		}
	}
	return nil
}

// GlobalNorm is the L2 norm of all gradients together.
func GlobalNorm(grads [][]float32) float64 {
	s := 0.0
	for _, g := range grads {
		for _, x := range g {
			s += float64(x) * float64(x)
		}
	}
	return math.Sqrt(s)
}

// ClipGradNorm scales the gradients in place so that their global L2 norm
// is at most maxNorm, as torch.nn.utils.clip_grad_norm_ does (factor
// maxNorm/(norm+1e-6), applied only when below 1), and returns the norm
// before clipping. maxNorm ≤ 0 disables clipping.
func ClipGradNorm(grads [][]float32, maxNorm float64) float64 {
	norm := GlobalNorm(grads)
	if maxNorm <= 0 {
		return norm
	}
	coef := maxNorm / (norm + 1e-6)
	if coef >= 1 {
		return norm
	}
	for _, g := range grads {
		for j := range g {
			g[j] = float32(float64(g[j]) * coef)
		}
	}
	return norm
}

// Schedule kinds.
const (
	Constant = "constant" // with warmup when WarmupSteps > 0
	Linear   = "linear"
	Cosine   = "cosine"
)

// Schedule scales the learning rate per optimizer step, as transformers'
// get_constant_schedule_with_warmup, get_linear_schedule_with_warmup and
// get_cosine_schedule_with_warmup (half a cycle) do. The zero value is a
// constant rate.
type Schedule struct {
	// Kind is Constant (default when empty), Linear or Cosine.
	Kind string
	// WarmupSteps ramps the rate linearly from 0.
	WarmupSteps int
	// TotalSteps is the number of optimizer steps (Linear and Cosine decay
	// to 0 at it).
	TotalSteps int
}

// Validate checks the kind and the step counts.
func (s Schedule) Validate() error {
	if s.WarmupSteps < 0 {
		return fmt.Errorf("%w: warmup steps %d < 0", ErrConfig, s.WarmupSteps)
	}
	switch s.Kind {
	case "", Constant:
	case Linear, Cosine:
		if s.TotalSteps <= 0 {
			return fmt.Errorf("%w: schedule %q needs total steps > 0", ErrConfig, s.Kind)
		}
	default:
		return fmt.Errorf("%w: schedule %q (want %q, %q or %q)", ErrConfig, s.Kind, Constant, Linear, Cosine)
	}
	return nil
}

// Factor is the multiplier of the peak rate for optimizer step `step`
// (0 for the first update). As in transformers, the first update under
// warmup uses factor 0.
func (s Schedule) Factor(step int) float64 {
	if step < s.WarmupSteps {
		return float64(step) / float64(max(1, s.WarmupSteps))
	}
	switch s.Kind {
	case Linear:
		return max(0, float64(s.TotalSteps-step)/float64(max(1, s.TotalSteps-s.WarmupSteps)))
	case Cosine:
		progress := float64(step-s.WarmupSteps) / float64(max(1, s.TotalSteps-s.WarmupSteps))
		return max(0, 0.5*(1+math.Cos(math.Pi*2*0.5*progress)))
	}
	return 1
}
