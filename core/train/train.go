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
	"strings"
	"sync"

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
	if micro < n {
		unit := 1
		if t.cfg.Loss == LossDPO {
			unit = 2
		}
		b = b.byLength(unit)
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
		params := t.uploadParams()
		args := make([]any, 0, len(t.base)+len(t.params)+5)
		for _, x := range t.base {
			args = append(args, x)
		}
		for _, x := range params {
			args = append(args, x)
		}
		args = append(args, in.common()...)
		T := in.ids.Shape().Dimensions[1]
		res, err := se.exec.Exec(args...)
		in.finalize()
		finalizeAll(params)
		if err != nil {
			return nil, fmt.Errorf("train: logprobs: %w", err)
		}
		flat, err := tensors.CopyFlatData[float32](res[0])
		_ = res[0].FinalizeAll()
		if err != nil {
			return nil, err
		}
		for i := start; i < end; i++ {
			out[i] = slices.Clone(flat[(i-start)*T : (i-start)*T+len(ids[i])])
		}
	}
	return out, nil
}
