package loss

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Divergences of logit-level distillation (KDOptions.Divergence).
const (
	// KDForward is KL(p_t ‖ p_s): the student covers every mode of the
	// teacher (classic knowledge distillation).
	KDForward = "forward_kl"
	// KDReverse is KL(p_s ‖ p_t): the student seeks the teacher's modes.
	KDReverse = "reverse_kl"
	// KDJSD is GKD's generalised Jensen–Shannon divergence of weight β.
	KDJSD = "jsd"
)

// KDOptions configures KD. The zero value is the forward KL at
// temperature 1.
type KDOptions struct {
	// Divergence is KDForward (default when empty), KDReverse or KDJSD.
	Divergence string
	// Beta is the JSD's weight, in (0, 1): with m = β·p_t + (1-β)·p_s,
	// JSD_β = β·KL(p_t ‖ m) + (1-β)·KL(p_s ‖ m). As β → 0 it vanishes and
	// as β → 1 too, so GKD (and TRL's GKDTrainer) name the end points
	// forward and reverse KL: use KDForward and KDReverse for them.
	Beta float64
	// Temperature divides both logits before the softmax; 0 means 1. The
	// loss is not rescaled by T² (TRL's GKD does not either).
	Temperature float64
}

// Validate checks the options.
func (o KDOptions) Validate() error {
	switch o.Divergence {
	case "", KDForward, KDReverse:
	case KDJSD:
		if !(o.Beta > 0 && o.Beta < 1) {
			return fmt.Errorf("%w: KD jsd beta %v must be in (0, 1) (its ends are %q and %q)", ErrOptions, o.Beta, KDForward, KDReverse)
		}
	default:
		return fmt.Errorf("%w: KD divergence %q (want %q, %q or %q)", ErrOptions, o.Divergence, KDForward, KDReverse, KDJSD)
	}
	if !(o.Temperature >= 0) || math.IsInf(o.Temperature, 0) {
		return fmt.Errorf("%w: KD temperature %v must be > 0 and finite (0 means 1)", ErrOptions, o.Temperature)
	}
	return nil
}

// KD is logit-level distillation: the mean, over masked tokens, of the
// divergence between the teacher's and the student's next-token
// distributions at the position that predicts the token. student and
// teacher are logits [B, T, V] on the same vocabulary (teacher carries no
// gradient); mask [B, T] is the loss package's token mask, so token t ≥ 1
// uses the logits at t-1, as TokenLogProbs does. With s = log_softmax(
// student/τ) and q = log_softmax(teacher/τ) per position:
//
//	forward_kl = Σ_v e^q (q - s)
//	reverse_kl = Σ_v e^s (s - q)
//	jsd        = β Σ_v e^q (q - m) + (1-β) Σ_v e^s (s - m),
//	             m = log(β e^q + (1-β) e^s)
//
// Count is the number of masked tokens. Metric: "kd" (the same mean, no
// gradient), so runs mixing KD into another loss can log it.
func KD(student, teacher, mask, rows *Node, o KDOptions) Result {
	mask = rowMask(mask, rows)
	teacher = StopGradient(teacher)
	if t := o.Temperature; t != 0 && t != 1 {
		student, teacher = DivScalar(student, t), DivScalar(teacher, t)
	}
	s, q := logSoftmax(student), logSoftmax(teacher)
	var per *Node // [B, T]: the divergence at each predicting position
	switch o.Divergence {
	case KDReverse:
		per = klLog(s, q)
	case KDJSD:
		b := o.Beta
		// log m = logsumexp(q + log β, s + log(1-β)), by the max trick.
		a, c := AddScalar(q, math.Log(b)), AddScalar(s, math.Log1p(-b))
		mx := StopGradient(Max(a, c))
		m := Add(Log(Add(Exp(Sub(a, mx)), Exp(Sub(c, mx)))), mx)
		per = Add(MulScalar(klLog(q, m), b), MulScalar(klLog(s, m), 1-b))
	default:
		per = klLog(q, s)
	}
	per = shiftToTokens(per)
	on := active(mask)
	sum := ReduceAllSum(Where(on, Mul(per, mask), ZerosLike(per)))
	tokens := StopGradient(ReduceAllSum(mask))
	return Result{
		Loss:    Mean{Sum: sum, Count: tokens},
		Metrics: map[string]Mean{"kd": {Sum: StopGradient(sum), Count: tokens}},
	}
}

// logSoftmax over the last axis, stable by the max trick.
func logSoftmax(x *Node) *Node {
	mx := StopGradient(ReduceAndKeep(x, ReduceMax, -1))
	z := Sub(x, mx)
	return Sub(z, Log(ReduceAndKeep(Exp(z), ReduceSum, -1)))
}

// klLog is KL(e^a ‖ e^b) = Σ_v e^a (a - b) over the last axis, for
// log-distributions a and b.
func klLog(a, b *Node) *Node { return ReduceSum(Mul(Exp(a), Sub(a, b)), -1) }

// shiftToTokens moves a per-position value [B, T] to the token it
// predicts: out[t] = x[t-1] for t ≥ 1, out[0] = 0. A gather, not a slice:
// see TokenLogProbs.
func shiftToTokens(x *Node) *Node {
	g := x.Graph()
	d := x.Shape().Dimensions
	is := shapes.Make(dtypes.Int32, d[0], d[1])
	pos := Iota(g, is, 1)
	prev := MaxScalar(AddScalar(pos, -1), 0)
	out := Gather(x, Stack([]*Node{Iota(g, is, 0), prev}, -1))
	return Where(GreaterThan(pos, ZerosLike(pos)), out, ZerosLike(out))
}
