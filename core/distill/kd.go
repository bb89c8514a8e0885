package distill

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/core/train/sft"
	"github.com/toolbrain/toolbrain/sdk"
)

// SameTokenizer checks that the teacher's ids mean what the student's do:
// the same vocabulary id for id, and the same BOS and EOS. It is the
// condition for training on a teacher's ids or logits; the error names
// the first difference.
func SameTokenizer(teacher, student *tokenizer.Tokenizer) error {
	if a, b := teacher.VocabSize(), student.VocabSize(); a != b {
		return fmt.Errorf("%w: the teacher's vocabulary has %d tokens, the student's %d (distil from text instead: a teacher endpoint, or a scripted teacher)", ErrTokenizer, a, b)
	}
	for id := range int32(teacher.VocabSize()) {
		if a, b := teacher.Token(id), student.Token(id); a != b {
			return fmt.Errorf("%w: id %d is %q for the teacher, %q for the student", ErrTokenizer, id, a, b)
		}
	}
	special := func(t *tokenizer.Tokenizer) [2]int32 {
		b, _ := t.BOS()
		e, _ := t.EOS()
		return [2]int32{b, e}
	}
	if a, b := special(teacher), special(student); a != b {
		return fmt.Errorf("%w: BOS/EOS ids %v for the teacher, %v for the student", ErrTokenizer, a, b)
	}
	return nil
}

// LogitModel is a teacher model that gives logits for every position
// (model.Model).
type LogitModel interface {
	Logits(ctx context.Context, ids [][]int32) ([][][]float32, error)
}

// OnPolicy draws each KD step's rows from the student's own samples, as
// GKD does: Executor rolls out the student (its policy set to the adapter
// being trained before every step), the teacher's logits score the
// sampled tokens.
type OnPolicy struct {
	Executor coach.Executor
	Tasks    []sdk.Task
	// Episodes per task (0: 1); each step takes Batch tasks in a fixed
	// walk over Tasks.
	Episodes int
	Seed     uint64
}

// KDOptions configure RunKD.
type KDOptions struct {
	// Batch is the rows (off-policy) or tasks (on-policy) per step; Steps
	// the steps of the run; Seed orders the rows (sft.Batch).
	Batch, Steps int
	Seed         int64
	// OnPolicy, when set, replaces the examples by the student's samples.
	OnPolicy *OnPolicy
	// Progress receives one line per step (nil: none).
	Progress io.Writer
}

// KDSummary is what RunKD did.
type KDSummary struct {
	Steps     int     `json:"steps"`
	FirstLoss float64 `json:"first_loss"`
	LastLoss  float64 `json:"last_loss"`
	// SkippedSteps had no generated token to train on (on-policy).
	SkippedSteps int `json:"skipped_steps,omitempty"`
}

// RunKD trains tr (built with train.LossKD) to match teacher's next-token
// distributions on the masked tokens of ex, o.Batch rows a step, or on the
// student's own samples when o.OnPolicy is set. The teacher must share the
// student's tokenizer (check with SameTokenizer first): the trainer
// refuses logits of another vocabulary size, but only the tokenizers can
// tell two vocabularies of one size apart.
func RunKD(ctx context.Context, tr *train.Trainer, teacher LogitModel, ex []train.Example, o KDOptions) (KDSummary, error) {
	var sum KDSummary
	if o.Batch < 1 || o.Steps < 1 {
		return sum, fmt.Errorf("%w: KD batch and steps must be positive", train.ErrConfig)
	}
	if tr.Config().Loss != train.LossKD {
		return sum, fmt.Errorf("%w: KD needs the trainer's %q loss, it has %q", train.ErrConfig, train.LossKD, tr.Config().Loss)
	}
	if o.OnPolicy == nil && len(ex) == 0 {
		return sum, ErrNoDemos
	}
	if p := o.OnPolicy; p != nil && (p.Executor == nil || len(p.Tasks) == 0 || tr.Config().Mode != train.ModeLoRA) {
		return sum, fmt.Errorf("%w: on-policy KD needs an executor, tasks and a LoRA trainer (the executor samples from the adapter)", train.ErrConfig)
	}
	for step := range o.Steps {
		var b train.Batch
		if o.OnPolicy != nil {
			var err error
			if b, err = o.OnPolicy.batch(ctx, tr, step, o.Batch); err != nil {
				return sum, fmt.Errorf("step %d: %w", step+1, err)
			}
			if len(b.IDs) == 0 {
				sum.SkippedSteps++
				continue
			}
		} else {
			b = train.SFTBatch(sft.Batch(ex, o.Batch, step, o.Seed))
		}
		logits, err := teacher.Logits(ctx, b.IDs)
		if err != nil {
			return sum, fmt.Errorf("step %d: teacher logits: %w", step+1, err)
		}
		b.TeacherLogits = logits
		m, err := tr.Step(ctx, b)
		if err != nil {
			return sum, fmt.Errorf("step %d: %w", step+1, err)
		}
		if sum.Steps == 0 {
			sum.FirstLoss = m.Loss
		}
		sum.Steps, sum.LastLoss = sum.Steps+1, m.Loss
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "kd step %d/%d loss %.4f\n", step+1, o.Steps, m.Loss)
		}
	}
	if sum.Steps == 0 {
		return sum, errors.New("distill: KD: no step had a generated token to train on")
	}
	return sum, nil
}

// batch samples the step's rows from the student with the adapter being
// trained.
func (p *OnPolicy) batch(ctx context.Context, tr *train.Trainer, step, n int) (train.Batch, error) {
	var b train.Batch
	if err := p.Executor.SetPolicy(ctx, tr.Adapter()); err != nil {
		return b, err
	}
	reqs := make([]coach.RolloutRequest, n)
	for i := range reqs {
		k := step*n + i
		reqs[i] = coach.RolloutRequest{Task: p.Tasks[k%len(p.Tasks)], Episodes: max(p.Episodes, 1), Seed: p.Seed + uint64(k)}
	}
	groups, err := p.Executor.Rollout(ctx, reqs)
	if err != nil {
		return b, err
	}
	var demos []Demo
	for i, g := range groups {
		for _, t := range g {
			demos = append(demos, Demo{Task: reqs[i].Task, Trace: t})
		}
	}
	ex, err := ExactExamples(demos)
	if errors.Is(err, ErrNoDemos) {
		return b, nil
	}
	return train.SFTBatch(ex), err
}
