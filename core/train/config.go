package train

import (
	"fmt"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train/loss"
	"github.com/toolbrain/toolbrain/core/train/optim"
)

// Losses.
const (
	LossSFT  = "sft"
	LossGRPO = "grpo"
	LossDPO  = "dpo"
	// LossKD is logit-level distillation (loss.KD): the batch carries the
	// teacher's logits (Batch.TeacherLogits).
	LossKD = "kd"
)

// Modes.
const (
	ModeLoRA = "lora"
	ModeFull = "full"
)

// Config configures a Trainer. The zero value trains a fresh LoRA adapter
// (r 8, alpha 16 on q_proj and v_proj) with SFT and torch's default AdamW.
type Config struct {
	// Mode is ModeLoRA (default when empty) or ModeFull. Full fine-tuning
	// needs a float32 base (not quantized) and keeps a trainable copy of
	// every weight plus two moments each: for small models.
	Mode string
	// LoRA configures a fresh adapter (PEFT initialisation, lora.New) when
	// Adapter is nil. Zero R means 8, zero Alpha means 2·R, no targets
	// means q_proj and v_proj. Dropout applies PEFT's lora_dropout to the
	// LoRA branch's input during training; UseRSLoRA scales by alpha/√r.
	LoRA lora.Config
	// Adapter continues training an existing adapter (lora.Load); it is
	// copied, not modified.
	Adapter *lora.Adapter
	// Seed drives the adapter initialisation and dropout.
	Seed int64

	// Loss is LossSFT (default when empty), LossGRPO, LossDPO or LossKD.
	Loss string
	// GRPO and DPO configure those losses. Zero GRPO.EpsLow means 0.2;
	// zero DPO.Beta means 0.1.
	GRPO loss.GRPOOptions
	DPO  loss.DPOOptions
	// KD configures LossKD; its zero value is the forward KL at
	// temperature 1.
	KD loss.KDOptions

	// Optimizer is AdamW; the zero value means optim.DefaultAdamW().
	Optimizer optim.AdamW
	// Schedule scales Optimizer.LR per optimizer step.
	Schedule optim.Schedule
	// MaxGradNorm clips the global gradient norm; 0 disables clipping.
	MaxGradNorm float64
	// MicroBatch is the number of rows per forward/backward pass (even for
	// DPO, whose rows are pairs); 0 runs each batch in one pass. Gradients
	// of the micro-batches are accumulated into one optimizer step.
	MicroBatch int
}

// withDefaults fills the zero fields and validates.
func (c Config) withDefaults(cfg model.Config) (Config, error) {
	if c.Mode == "" {
		c.Mode = ModeLoRA
	}
	if c.Loss == "" {
		c.Loss = LossSFT
	}
	if c.Optimizer == (optim.AdamW{}) {
		c.Optimizer = optim.DefaultAdamW()
	}
	if c.GRPO.EpsLow == 0 {
		c.GRPO.EpsLow = 0.2
	}
	if c.DPO.Beta == 0 {
		c.DPO.Beta = 0.1
	}
	if c.Adapter == nil {
		if c.LoRA.R == 0 {
			c.LoRA.R = 8
		}
		if c.LoRA.Alpha == 0 {
			c.LoRA.Alpha = 2 * float64(c.LoRA.R)
		}
		if len(c.LoRA.TargetModules) == 0 {
			c.LoRA.TargetModules = []string{"q_proj", "v_proj"}
		}
	} else {
		c.LoRA = c.Adapter.Config
	}
	switch {
	case c.Mode != ModeLoRA && c.Mode != ModeFull:
		return c, fmt.Errorf("%w: mode %q (want %q or %q)", ErrConfig, c.Mode, ModeLoRA, ModeFull)
	case c.Mode == ModeFull && c.Adapter != nil:
		return c, fmt.Errorf("%w: an adapter was given for full fine-tuning", ErrConfig)
	case c.MicroBatch < 0:
		return c, fmt.Errorf("%w: micro-batch %d < 0", ErrConfig, c.MicroBatch)
	case c.Loss == LossDPO && c.MicroBatch%2 != 0:
		return c, fmt.Errorf("%w: DPO micro-batch %d must be even (rows are chosen/rejected pairs)", ErrConfig, c.MicroBatch)
	case !(c.MaxGradNorm >= 0):
		return c, fmt.Errorf("%w: max grad norm %v < 0", ErrConfig, c.MaxGradNorm)
	case !(c.LoRA.Dropout >= 0 && c.LoRA.Dropout < 1):
		return c, fmt.Errorf("%w: LoRA dropout %v must be in [0, 1)", ErrConfig, c.LoRA.Dropout)
	}
	if c.Mode == ModeLoRA {
		if err := c.LoRA.Validate(); err != nil {
			return c, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	switch c.Loss {
	case LossSFT:
	case LossGRPO:
		if err := c.GRPO.Validate(); err != nil {
			return c, err
		}
	case LossDPO:
		if err := c.DPO.Validate(); err != nil {
			return c, err
		}
	case LossKD:
		if err := c.KD.Validate(); err != nil {
			return c, err
		}
	default:
		return c, fmt.Errorf("%w: loss %q (want %q, %q, %q or %q)", ErrConfig, c.Loss, LossSFT, LossGRPO, LossDPO, LossKD)
	}
	if err := c.Optimizer.Validate(); err != nil {
		return c, err
	}
	if err := c.Schedule.Validate(); err != nil {
		return c, err
	}
	return c, nil
}
