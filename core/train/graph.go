package train

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train/loss"
)

// stepExec is a compiled step and the names of the metrics it returns.
type stepExec struct {
	exec    *graph.Exec
	metrics []string
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
	defer in.finalize()
	params := t.uploadParams()
	defer finalizeAll(params)
	args := make([]any, 0, len(t.base)+len(t.params)+8)
	for _, x := range t.base {
		args = append(args, x)
	}
	for _, x := range params {
		args = append(args, x)
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
// "model.layers.0.self_attn.q_proj" (lora.ModulePath). Paths come from a
// validated adapter; another one is a bug, reported as the graph's error.
func linearAt(w *model.Weights, path string) *model.Linear {
	f := strings.Split(path, ".")
	if len(f) == 5 {
		if layer, err := strconv.Atoi(f[2]); err == nil && layer >= 0 && layer < len(w.Layers) && lora.ModulePath(layer, f[4]) == path {
			if lin, ok := w.Layers[layer].Linear(f[4]); ok {
				return lin
			}
		}
	}
	panic(fmt.Errorf("train: no projection at %q", path))
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

// uploadParams wraps the trainable parameters' current values as the
// tensors a call takes; finalizeAll hands them back once it has run.
func (t *Trainer) uploadParams() []*tensors.Tensor {
	out := make([]*tensors.Tensor, len(t.params))
	for i, p := range t.params {
		out[i] = tensors.FromFlatDataAndDimensions(p.data, p.Shape...)
	}
	return out
}

func finalizeAll(xs []*tensors.Tensor) {
	for _, x := range xs {
		x.FinalizeAll()
	}
}
