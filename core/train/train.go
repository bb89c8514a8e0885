// Package train turns batches of token ids into weight updates for the
// decoder of core/model: LoRA (and QLoRA, with an NF4 base) or full
// fine-tuning, with the SFT, GRPO, DPO and KD (logit distillation) losses
// of core/train/loss and the AdamW optimizer of core/train/optim.
//
// # Shape of a step
//
// Step splits a batch into micro-batches of Config.MicroBatch rows. For
// each, one compiled gomlx graph runs the forward pass with the trainable
// tensors as plain inputs, the loss as a Sum and a Count (see package
// loss), and the gradients of the Sum by reverse-mode autodiff. The host
// adds Sums, Counts and gradients over the micro-batches, divides once (so
// accumulation equals the large batch exactly), clips the global norm and
// applies AdamW with the scheduled learning rate.
//
// Only trainable tensors (the adapter's A and B, or every weight under full
// fine-tuning) have gradients and optimizer state. The frozen base stays on
// the device, in the model, in whatever format it was loaded (float32, int8
// or NF4 dequantized inside the graph: QLoRA is a Model loaded with
// model.LoadOptions{Quant: model.QuantNF4} and a LoRA Trainer on it).
//
// # Reference policy
//
// GRPO's KL term and DPO compare with the reference policy, the same base
// with adapters switched off. It is computed in the same graph from the
// same device weights with no LoRA term (no second copy of the model),
// unless the batch supplies RefLogProbs (computed once per rollout batch
// with LogProbs(ctx, ids, false)). Under full fine-tuning the reference is
// the model's own weights, which training never changes: the trainable
// copy lives in the Trainer.
package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train/loss"
	"github.com/toolbrain/toolbrain/core/train/optim"

	// Efficient DotGeneral gradients, and the Slice and Rsqrt gradients
	// that gomlx v0.26's pure-Go backend lacks: the model needs them.
	_ "github.com/toolbrain/toolbrain/core/train/dotgrad"
)

// Sentinel errors, wrapped with the field or row at fault.
var (
	// ErrConfig marks an invalid trainer configuration.
	ErrConfig = errors.New("train: invalid config")
	// ErrBatch marks a batch that does not fit the loss or the model.
	ErrBatch = errors.New("train: invalid batch")
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

// Batch is one optimizer step's worth of rows. Rows may differ in length;
// they are right-padded internally.
type Batch struct {
	// IDs are the token ids of each row, prompt and completion together.
	IDs [][]int32
	// Mask has one weight per token, 1 on tokens the loss covers (the
	// model-generated ones), 0 elsewhere.
	Mask [][]float32
	// Segments, optional, packs several sequences into a row: tokens
	// attend only to earlier tokens of the same segment id, and positions
	// restart at 0 with each segment. nil means one sequence per row.
	Segments [][]int32
	// Advantages has one value per row (GRPO).
	Advantages []float32
	// OldLogProbs are the rollout policy's logprobs in the loss package's
	// convention (GRPO). nil means the current policy, detached (ratio 1),
	// which is right for the first pass over a rollout batch; later passes
	// must pass the rollout's values.
	OldLogProbs [][]float32
	// RefLogProbs are the reference policy's logprobs (GRPO with beta > 0,
	// DPO). nil computes them in the step, adapters off.
	RefLogProbs [][]float32
	// TeacherLogits are a teacher's logits (LossKD): one vector of the
	// model's vocabulary size per token of each row, from a model on the
	// same tokenizer (model.Model.Logits gives them in this layout).
	TeacherLogits [][][]float32
}

// Metrics describe one step (or one Gradients call).
type Metrics struct {
	// Step counts optimizer steps taken, this one included.
	Step int
	// Loss is the batch loss before the update.
	Loss float64
	// GradNorm is the global gradient norm before clipping.
	GradNorm float64
	// LR is the learning rate this step used.
	LR float64
	// Tokens is the number of masked tokens (their total weight).
	Tokens float64
	// Extra holds the loss's metrics (see package loss).
	Extra map[string]float64
}

// Param describes one trainable tensor.
type Param struct {
	// Name is the PEFT key (base_model.model.….lora_A.weight) for an
	// adapter, or the Hugging Face weight name under full fine-tuning.
	Name  string
	Shape []int
}

type param struct {
	Param
	data []float32
	path string // adapted module path (LoRA)
	isB  bool
}

// Trainer trains one model. Its methods must not be called concurrently
// (they are serialised by a mutex).
type Trainer struct {
	mu    sync.Mutex
	m     *model.Model
	mcfg  model.Config
	cfg   Config
	base  []*tensors.Tensor
	build func([]*graph.Node) *model.Weights
	// baseIndex maps a Hugging Face name to its base input (full mode).
	baseIndex map[string]int
	params    []*param
	opt       *optim.State
	step      int
	execs     map[string]*stepExec
}

// stepExec is a compiled step and the names of the metrics it returns.
type stepExec struct {
	exec    *graph.Exec
	metrics []string
}

// NewTrainer prepares training of m. The model's weights stay where they
// are; the Trainer keeps the trainable tensors on the host. Under LoRA any
// adapter set on the model with SetAdapter is ignored (the Trainer's own
// adapter is applied); call m.SetAdapter(t.Adapter()) to run inference
// with what was trained.
func NewTrainer(m *model.Model, cfg Config) (*Trainer, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil model", ErrConfig)
	}
	mcfg := m.Config()
	cfg, err := cfg.withDefaults(mcfg)
	if err != nil {
		return nil, err
	}
	names, base, build, err := m.GraphWeights()
	if err != nil {
		return nil, err
	}
	t := &Trainer{m: m, mcfg: mcfg, cfg: cfg, base: base, build: build, baseIndex: map[string]int{}, execs: map[string]*stepExec{}}
	for i, n := range names {
		t.baseIndex[n] = i
	}
	if cfg.Mode == ModeFull {
		if err := t.initFull(names); err != nil {
			return nil, err
		}
	} else if err := t.initLoRA(); err != nil {
		return nil, err
	}
	sizes := make([]int, len(t.params))
	for i, p := range t.params {
		sizes[i] = len(p.data)
	}
	t.opt = optim.NewState(sizes)
	return t, nil
}

func (t *Trainer) initLoRA() error {
	a := t.cfg.Adapter
	if a == nil {
		var err error
		if a, err = lora.New(t.cfg.LoRA, t.mcfg.NumHiddenLayers, t.mcfg.ModuleShape, t.cfg.Seed); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	} else if err := t.m.CheckAdapter(a); err != nil {
		return fmt.Errorf("%w: adapter does not fit the model: %w", ErrConfig, err)
	}
	for _, path := range a.Paths() {
		pr := a.Modules[path]
		for _, ab := range []struct {
			which string
			t     lora.Tensor
		}{{"A", pr.A}, {"B", pr.B}} {
			t.params = append(t.params, &param{
				Param: Param{Name: "base_model.model." + path + ".lora_" + ab.which + ".weight", Shape: slices.Clone(ab.t.Shape)},
				data:  slices.Clone(ab.t.Data), path: path, isB: ab.which == "B",
			})
		}
	}
	return nil
}

func (t *Trainer) initFull(names []string) error {
	host, err := t.m.HostWeights()
	if err != nil {
		return fmt.Errorf("full fine-tuning: %w", err)
	}
	for _, n := range names {
		if strings.Contains(n, "#") {
			return fmt.Errorf("%w: full fine-tuning needs a float32 base; %s is quantized (load without LoadOptions.Quant)", ErrConfig, strings.Split(n, "#")[0])
		}
		h, ok := host[n]
		if !ok {
			return fmt.Errorf("full fine-tuning: weight %s missing from the model", n)
		}
		t.params = append(t.params, &param{Param: Param{Name: n, Shape: slices.Clone(h.Shape)}, data: slices.Clone(h.Data)})
	}
	return nil
}

// Params lists the trainable tensors in a fixed order.
func (t *Trainer) Params() []Param {
	out := make([]Param, len(t.params))
	for i, p := range t.params {
		out[i] = Param{Name: p.Name, Shape: slices.Clone(p.Shape)}
	}
	return out
}

// NumTrainable is the number of trainable scalars.
func (t *Trainer) NumTrainable() int64 {
	var n int64
	for _, p := range t.params {
		n += int64(len(p.data))
	}
	return n
}

// OptimizerBytes is the memory of the optimizer state (two float32
// moments per trainable scalar).
func (t *Trainer) OptimizerBytes() int64 { return t.opt.Bytes() }

// StepCount is the number of optimizer steps taken.
func (t *Trainer) StepCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.step
}

// Config returns the configuration with defaults filled in.
func (t *Trainer) Config() Config { return t.cfg }

// Adapter returns a copy of the adapter being trained (nil under full
// fine-tuning), for lora.Save or model.SetAdapter.
func (t *Trainer) Adapter() *lora.Adapter {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg.Mode != ModeLoRA {
		return nil
	}
	a := &lora.Adapter{Config: t.cfg.LoRA, Modules: map[string]lora.Pair{}}
	for _, p := range t.params {
		pr := a.Modules[p.path]
		ts := lora.Tensor{Shape: slices.Clone(p.Shape), Data: slices.Clone(p.data)}
		if p.isB {
			pr.B = ts
		} else {
			pr.A = ts
		}
		a.Modules[p.path] = pr
	}
	return a
}

// SaveAdapter writes the adapter as a PEFT directory (lora.Save).
func (t *Trainer) SaveAdapter(dir string) error {
	a := t.Adapter()
	if a == nil {
		return fmt.Errorf("%w: no adapter under full fine-tuning (use Weights and model.Save)", ErrConfig)
	}
	return lora.Save(dir, a)
}

// Weights returns the trained weights under full fine-tuning, by Hugging
// Face name, for model.Save; nil under LoRA.
func (t *Trainer) Weights() map[string]model.HostTensor {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg.Mode != ModeFull {
		return nil
	}
	w := map[string]model.HostTensor{}
	for _, p := range t.params {
		w[p.Name] = model.HostTensor{Shape: slices.Clone(p.Shape), Data: slices.Clone(p.data)}
	}
	return w
}

// Step runs forward and backward over the batch (in micro-batches),
// clips, and applies one AdamW update. It returns the loss before the
// update. ctx is checked before each micro-batch; on cancellation, or any
// error, the parameters and optimizer state are unchanged.
func (t *Trainer) Step(ctx context.Context, b Batch) (Metrics, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	met, grads, err := t.gradients(ctx, b)
	if err != nil {
		return met, err
	}
	met.GradNorm = optim.ClipGradNorm(grads, t.cfg.MaxGradNorm)
	met.LR = t.cfg.Optimizer.LR * t.cfg.Schedule.Factor(t.step)
	data := make([][]float32, len(t.params))
	for i, p := range t.params {
		data[i] = p.data
	}
	if err := t.cfg.Optimizer.Update(data, grads, t.opt, met.LR); err != nil {
		return met, fmt.Errorf("train: step %d: %w", t.step+1, err)
	}
	t.step++
	met.Step = t.step
	return met, nil
}

// Gradients returns the batch's loss and the gradient of the loss with
// respect to every trainable tensor (in Params order), without updating
// anything.
func (t *Trainer) Gradients(ctx context.Context, b Batch) (Metrics, [][]float32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	met, g, err := t.gradients(ctx, b)
	met.GradNorm = optim.GlobalNorm(g)
	return met, g, err
}

func (t *Trainer) gradients(ctx context.Context, b Batch) (Metrics, [][]float32, error) {
	met := Metrics{Step: t.step}
	if err := t.checkBatch(b); err != nil {
		return met, nil, err
	}
	n := len(b.IDs)
	micro := t.cfg.MicroBatch
	if micro == 0 || micro > n {
		micro = n
	}
	sums := make([][]float64, len(t.params))
	for i, p := range t.params {
		sums[i] = make([]float64, len(p.data))
	}
	var lossSum, lossCount float64
	extraSum, extraCount := map[string]float64{}, map[string]float64{}
	for start := 0; start < n; start += micro {
		if err := ctx.Err(); err != nil {
			return met, nil, err
		}
		end := min(start+micro, n)
		out, err := t.runMicro(b, start, end, micro)
		if err != nil {
			return met, nil, err
		}
		lossSum += out.sum
		lossCount += out.count
		for k, v := range out.extra {
			extraSum[k] += v[0]
			extraCount[k] += v[1]
		}
		for i, g := range out.grads {
			for j, x := range g {
				sums[i][j] += float64(x)
			}
		}
	}
	den := math.Max(lossCount, 1)
	grads := make([][]float32, len(sums))
	for i, s := range sums {
		grads[i] = make([]float32, len(s))
		for j, x := range s {
			grads[i][j] = float32(x / den)
		}
	}
	met.Loss = lossSum / den
	met.Extra = map[string]float64{}
	for k, s := range extraSum {
		met.Extra[k] = s / math.Max(extraCount[k], 1)
	}
	for _, row := range b.Mask {
		for _, x := range row {
			met.Tokens += float64(x)
		}
	}
	return met, grads, nil
}

func (t *Trainer) checkBatch(b Batch) error {
	n := len(b.IDs)
	if n == 0 {
		return fmt.Errorf("%w: no rows", ErrBatch)
	}
	if len(b.Mask) != n {
		return fmt.Errorf("%w: %d rows of ids but %d of mask", ErrBatch, n, len(b.Mask))
	}
	if b.Segments != nil && len(b.Segments) != n {
		return fmt.Errorf("%w: %d rows of ids but %d of segments", ErrBatch, n, len(b.Segments))
	}
	for i, row := range b.IDs {
		if len(row) == 0 {
			return fmt.Errorf("%w: row %d is empty", ErrBatch, i)
		}
		if max := t.mcfg.MaxPositionEmbeddings; max > 0 && len(row) > max {
			return fmt.Errorf("%w: row %d has %d tokens, longer than the model's context (%d)", ErrBatch, i, len(row), max)
		}
		if len(b.Mask[i]) != len(row) {
			return fmt.Errorf("%w: row %d has %d ids but %d mask values", ErrBatch, i, len(row), len(b.Mask[i]))
		}
		if b.Segments != nil && len(b.Segments[i]) != len(row) {
			return fmt.Errorf("%w: row %d has %d ids but %d segment ids", ErrBatch, i, len(row), len(b.Segments[i]))
		}
		for j, id := range row {
			if id < 0 || int(id) >= t.mcfg.VocabSize {
				return fmt.Errorf("%w: row %d position %d: token id %d outside [0, %d)", ErrBatch, i, j, id, t.mcfg.VocabSize)
			}
			if m := b.Mask[i][j]; !(m >= 0) || math.IsInf(float64(m), 0) {
				return fmt.Errorf("%w: row %d position %d: mask %v must be finite and ≥ 0", ErrBatch, i, j, m)
			}
		}
	}
	checkLP := func(name string, lp [][]float32) error {
		if lp == nil {
			return nil
		}
		if len(lp) != n {
			return fmt.Errorf("%w: %d rows of ids but %d of %s", ErrBatch, n, len(lp), name)
		}
		for i := range lp {
			if len(lp[i]) != len(b.IDs[i]) {
				return fmt.Errorf("%w: row %d has %d ids but %d %s", ErrBatch, i, len(b.IDs[i]), len(lp[i]), name)
			}
		}
		return nil
	}
	switch t.cfg.Loss {
	case LossGRPO:
		if len(b.Advantages) != n {
			return fmt.Errorf("%w: GRPO needs one advantage per row: %d rows, %d advantages", ErrBatch, n, len(b.Advantages))
		}
		for i, a := range b.Advantages {
			if math.IsNaN(float64(a)) || math.IsInf(float64(a), 0) {
				return fmt.Errorf("%w: advantage %d is %v", ErrBatch, i, a)
			}
		}
		if err := checkLP("old logprobs", b.OldLogProbs); err != nil {
			return err
		}
		if err := checkLP("reference logprobs", b.RefLogProbs); err != nil {
			return err
		}
	case LossDPO:
		if n%2 != 0 {
			return fmt.Errorf("%w: DPO rows come in (chosen, rejected) pairs; got %d rows", ErrBatch, n)
		}
		if err := checkLP("reference logprobs", b.RefLogProbs); err != nil {
			return err
		}
	case LossKD:
		return t.checkTeacher(b)
	}
	return nil
}

// checkTeacher checks a KD batch's teacher logits against its ids and
// the student's vocabulary.
func (t *Trainer) checkTeacher(b Batch) error {
	if len(b.TeacherLogits) != len(b.IDs) {
		return fmt.Errorf("%w: KD needs the teacher's logits of every row: %d rows, %d of teacher logits", ErrBatch, len(b.IDs), len(b.TeacherLogits))
	}
	for i, row := range b.TeacherLogits {
		if len(row) != len(b.IDs[i]) {
			return fmt.Errorf("%w: row %d has %d ids but %d teacher logit vectors", ErrBatch, i, len(b.IDs[i]), len(row))
		}
		for j, v := range row {
			if len(v) != t.mcfg.VocabSize {
				return fmt.Errorf("%w: row %d position %d: %d teacher logits, the student's vocabulary has %d (teacher and student must share a tokenizer)", ErrBatch, i, j, len(v), t.mcfg.VocabSize)
			}
			for _, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return fmt.Errorf("%w: row %d position %d: teacher logit %v", ErrBatch, i, j, x)
				}
			}
		}
	}
	return nil
}

// microOut is one micro-batch's contribution.
type microOut struct {
	sum, count float64
	extra      map[string][2]float64
	grads      [][]float32
}

// variant names the graph a batch needs.
func (t *Trainer) variant(b Batch) string {
	v := t.cfg.Loss
	if b.OldLogProbs != nil {
		v += "+old"
	}
	if b.RefLogProbs != nil {
		v += "+ref"
	}
	return v
}

// needRef reports whether the loss reads reference logprobs.
func (t *Trainer) needRef() bool {
	return t.cfg.Loss == LossDPO || (t.cfg.Loss == LossGRPO && t.cfg.GRPO.Beta != 0)
}

func (t *Trainer) runMicro(b Batch, start, end, rowsPad int) (out microOut, err error) {
	defer func() {
		// gomlx reports graph and backend failures by panicking.
		if r := recover(); r != nil {
			err = fmt.Errorf("train: step graph: %v", r)
		}
	}()
	v := t.variant(b)
	se, err := t.stepExec(v, b.OldLogProbs != nil, b.RefLogProbs != nil)
	if err != nil {
		return out, err
	}
	in := t.packInputs(b, start, end, rowsPad)
	args := make([]any, 0, len(t.base)+len(t.params)+8)
	for _, x := range t.base {
		args = append(args, x)
	}
	for _, p := range t.params {
		args = append(args, tensors.FromFlatDataAndDimensions(p.data, p.Shape...))
	}
	args = append(args, in.common()...)
	if t.dropoutOn() {
		seed := t.cfg.Seed ^ int64(uint64(t.step+1)*0x9e3779b97f4a7c15) ^ int64(start)*0x632be59bd9b4e019
		st, err := graph.RNGStateFromSeed(seed)
		if err != nil {
			return out, err
		}
		args = append(args, st)
	}
	switch t.cfg.Loss {
	case LossGRPO:
		args = append(args, in.adv)
		if in.old != nil {
			args = append(args, in.old)
		}
		if in.ref != nil {
			args = append(args, in.ref)
		}
	case LossDPO:
		if in.ref != nil {
			args = append(args, in.ref)
		}
	case LossKD:
		args = append(args, in.teacher)
	}
	res, err := se.exec.Exec(args...)
	if err != nil {
		return out, fmt.Errorf("train: step graph: %w", err)
	}
	defer func() {
		for _, r := range res {
			_ = r.FinalizeAll()
		}
	}()
	out.sum = float64(tensors.ToScalar[float32](res[0]))
	out.count = float64(tensors.ToScalar[float32](res[1]))
	out.extra = map[string][2]float64{}
	k := 2
	for _, name := range se.metrics {
		out.extra[name] = [2]float64{float64(tensors.ToScalar[float32](res[k])), float64(tensors.ToScalar[float32](res[k+1]))}
		k += 2
	}
	for range t.params {
		g, err := tensors.CopyFlatData[float32](res[k])
		if err != nil {
			return out, err
		}
		out.grads = append(out.grads, g)
		k++
	}
	return out, nil
}

func (t *Trainer) dropoutOn() bool { return t.cfg.Mode == ModeLoRA && t.cfg.LoRA.Dropout > 0 }

// packed holds a micro-batch as host tensors.
type packed struct {
	ids, mask, rows, pos, attn *tensors.Tensor
	adv, old, ref              *tensors.Tensor
	teacher                    *tensors.Tensor // [B, T, V] (KD)
}

func (p packed) common() []any { return []any{p.ids, p.mask, p.rows, p.pos, p.attn} }

// packInputs right-pads rows start..end-1 to rowsPad rows of a bucketed
// length, and builds positions and the attention mask.
func (t *Trainer) packInputs(b Batch, start, end, rowsPad int) packed {
	maxT := 0
	for _, r := range b.IDs[start:end] {
		maxT = max(maxT, len(r))
	}
	T := model.Bucket(maxT)
	B := rowsPad
	ids := make([]int32, B*T)
	mask := make([]float32, B*T)
	rows := make([]float32, B)
	pos := make([]int32, B*T)
	attn := make([]bool, B*T*T)
	var adv []float32
	var old, ref []float32
	if b.Advantages != nil {
		adv = make([]float32, B)
	}
	if b.OldLogProbs != nil {
		old = make([]float32, B*T)
	}
	if b.RefLogProbs != nil {
		ref = make([]float32, B*T)
	}
	var teacher []float32
	V := t.mcfg.VocabSize
	if b.TeacherLogits != nil {
		teacher = make([]float32, B*T*V)
	}
	for i := 0; i < B; i++ {
		var seg []int32
		n := 0
		if r := start + i; r < end {
			rows[i] = 1
			n = len(b.IDs[r])
			copy(ids[i*T:], b.IDs[r])
			copy(mask[i*T:], b.Mask[r])
			if b.Segments != nil {
				seg = b.Segments[r]
			}
			if adv != nil {
				adv[i] = b.Advantages[r]
			}
			if old != nil {
				copy(old[i*T:], b.OldLogProbs[r])
			}
			if ref != nil {
				copy(ref[i*T:], b.RefLogProbs[r])
			}
			if teacher != nil {
				for s, v := range b.TeacherLogits[r] {
					copy(teacher[(i*T+s)*V:], v)
				}
			}
		}
		segAt := func(s int) int32 {
			if s < n && seg != nil {
				return seg[s]
			}
			if s < n {
				return 0
			}
			return -1 - int32(s) // each padding token alone
		}
		segStart := 0
		for s := 0; s < T; s++ {
			if s > 0 && segAt(s) != segAt(s-1) {
				segStart = s
			}
			pos[i*T+s] = int32(s - segStart)
			for k := 0; k <= s; k++ {
				attn[(i*T+s)*T+k] = segAt(k) == segAt(s)
			}
		}
	}
	p := packed{
		ids:  tensors.FromFlatDataAndDimensions(ids, B, T),
		mask: tensors.FromFlatDataAndDimensions(mask, B, T),
		rows: tensors.FromFlatDataAndDimensions(rows, B),
		pos:  tensors.FromFlatDataAndDimensions(pos, B, T),
		attn: tensors.FromFlatDataAndDimensions(attn, B, T, T),
	}
	if adv != nil {
		p.adv = tensors.FromFlatDataAndDimensions(adv, B)
	}
	if old != nil {
		p.old = tensors.FromFlatDataAndDimensions(old, B, T)
	}
	if ref != nil {
		p.ref = tensors.FromFlatDataAndDimensions(ref, B, T)
	}
	if teacher != nil {
		p.teacher = tensors.FromFlatDataAndDimensions(teacher, B, T, V)
	}
	return p
}

// policyWeights builds the trained policy's weights from the base inputs
// and the trainable inputs.
func (t *Trainer) policyWeights(base, ps []*graph.Node, rng **graph.Node, dropout bool) *model.Weights {
	if t.cfg.Mode == ModeFull {
		return t.build(ps)
	}
	w := t.build(base)
	g := base[0].Graph()
	scale := graph.Scalar(g, dtypes.Float32, t.cfg.LoRA.Scale())
	var drop func(x *graph.Node) *graph.Node
	if dropout && t.dropoutOn() {
		p := t.cfg.LoRA.Dropout
		drop = func(x *graph.Node) *graph.Node {
			var u *graph.Node
			*rng, u = graph.RandomUniform(*rng, x.Shape())
			keep := graph.GreaterOrEqual(u, graph.Scalar(g, x.DType(), p))
			return graph.Where(keep, graph.DivScalar(x, 1-p), graph.ZerosLike(x))
		}
	}
	for i := 0; i+1 < len(t.params); i += 2 {
		lin := linearAt(w, t.params[i].path)
		lin.LoRAA, lin.LoRAB, lin.LoRAScale, lin.LoRADropout = ps[i], ps[i+1], scale, drop
	}
	return w
}

// linearAt returns the projection at a module path such as
// "model.layers.0.self_attn.q_proj". Paths come from a validated adapter.
func linearAt(w *model.Weights, path string) *model.Linear {
	f := strings.Split(path, ".")
	layer, _ := strconv.Atoi(f[2])
	l := &w.Layers[layer]
	switch f[4] {
	case "q_proj":
		return &l.Q
	case "k_proj":
		return &l.K
	case "v_proj":
		return &l.V
	case "o_proj":
		return &l.O
	case "gate_proj":
		return &l.Gate
	case "up_proj":
		return &l.Up
	}
	return &l.Down
}

// stepExec returns the compiled step for a variant.
func (t *Trainer) stepExec(v string, hasOld, hasRef bool) (*stepExec, error) {
	if se, ok := t.execs[v]; ok {
		return se, nil
	}
	se := &stepExec{}
	nb, np := len(t.base), len(t.params)
	e, err := graph.NewExec(t.m.Backend(), func(in []*graph.Node) []*graph.Node {
		base, ps, rest := in[:nb], in[nb:nb+np], in[nb+np:]
		ids, mask, rows, pos, attn := rest[0], rest[1], rest[2], rest[3], rest[4]
		rest = rest[5:]
		var rng *graph.Node
		if t.dropoutOn() {
			rng, rest = rest[0], rest[1:]
		}
		logits := model.Forward(t.mcfg, t.policyWeights(base, ps, &rng, true), ids, pos, attn)
		logp := loss.TokenLogProbs(logits, ids)
		ref := func() *graph.Node {
			if hasRef {
				r := rest[len(rest)-1]
				return r
			}
			return graph.StopGradient(loss.TokenLogProbs(model.Forward(t.mcfg, t.build(base), ids, pos, attn), ids))
		}
		var res loss.Result
		switch t.cfg.Loss {
		case LossGRPO:
			adv := rest[0]
			old := graph.StopGradient(logp)
			if hasOld {
				old = rest[1]
			}
			var r *graph.Node
			if t.needRef() {
				r = ref()
			}
			res = loss.GRPO(logp, old, r, mask, adv, rows, t.cfg.GRPO)
		case LossDPO:
			res = loss.DPO(logp, ref(), mask, rows, t.cfg.DPO)
		case LossKD:
			res = loss.KD(logits, rest[0], mask, rows, t.cfg.KD)
		default:
			res = loss.SFT(logp, mask, rows)
		}
		outs := []*graph.Node{res.Loss.Sum, res.Loss.Count}
		se.metrics = se.metrics[:0]
		for name := range res.Metrics {
			se.metrics = append(se.metrics, name)
		}
		sort.Strings(se.metrics)
		for _, name := range se.metrics {
			outs = append(outs, res.Metrics[name].Sum, res.Metrics[name].Count)
		}
		return append(outs, graph.Gradient(res.Loss.Sum, ps...)...)
	})
	if err != nil {
		return nil, fmt.Errorf("train: build step graph: %w", err)
	}
	e.SetMaxCache(64)
	se.exec = e
	t.execs[v] = se
	return se, nil
}

// LogProbs returns logp[i][t] (the loss package's convention: log-prob of
// ids[i][t] given the tokens before it, 0 at t = 0) under the policy being
// trained (adapters true) or the reference policy (adapters false: the
// base without adapters, or the untouched model weights under full
// fine-tuning). GRPO callers record these once per rollout batch as
// OldLogProbs and RefLogProbs.
func (t *Trainer) LogProbs(ctx context.Context, ids [][]int32, adapters bool) (out [][]float32, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mask := make([][]float32, len(ids))
	for i := range ids {
		mask[i] = make([]float32, len(ids[i]))
	}
	b := Batch{IDs: ids, Mask: mask}
	if err := (&Trainer{mcfg: t.mcfg, cfg: Config{Loss: LossSFT}}).checkBatch(b); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("train: logprobs graph: %v", r)
		}
	}()
	key := "logp-ref"
	if adapters {
		key = "logp-policy"
	}
	se, ok := t.execs[key]
	if !ok {
		nb, np := len(t.base), len(t.params)
		e, err := graph.NewExec(t.m.Backend(), func(in []*graph.Node) *graph.Node {
			base, ps, rest := in[:nb], in[nb:nb+np], in[nb+np:]
			ids, pos, attn := rest[0], rest[3], rest[4]
			w := t.build(base)
			if adapters {
				w = t.policyWeights(base, ps, nil, false) // no dropout at evaluation
			}
			return loss.TokenLogProbs(model.Forward(t.mcfg, w, ids, pos, attn), ids)
		})
		if err != nil {
			return nil, fmt.Errorf("train: build logprobs graph: %w", err)
		}
		e.SetMaxCache(64)
		se = &stepExec{exec: e}
		t.execs[key] = se
	}
	out = make([][]float32, len(ids))
	for start := 0; start < len(ids); start += 8 {
		end := min(start+8, len(ids))
		in := t.packInputs(b, start, end, model.Bucket(end-start))
		args := make([]any, 0, len(t.base)+len(t.params)+5)
		for _, x := range t.base {
			args = append(args, x)
		}
		for _, p := range t.params {
			args = append(args, tensors.FromFlatDataAndDimensions(p.data, p.Shape...))
		}
		args = append(args, in.common()...)
		res, err := se.exec.Exec(args...)
		if err != nil {
			return nil, fmt.Errorf("train: logprobs: %w", err)
		}
		flat, err := tensors.CopyFlatData[float32](res[0])
		_ = res[0].FinalizeAll()
		if err != nil {
			return nil, err
		}
		T := in.ids.Shape().Dimensions[1]
		for i := start; i < end; i++ {
			out[i] = slices.Clone(flat[(i-start)*T : (i-start)*T+len(ids[i])])
		}
	}
	return out, nil
}
