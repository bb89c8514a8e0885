package dotgrad_test

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train/dotgrad"
)

const testdata = "../../../testdata/"

// lossRef is the part of losses/reference.json used here.
type lossRef struct {
	IDs  [][]int32   `json:"ids"`
	Mask [][]float32 `json:"mask"`
	SFT  struct {
		Loss float64                `json:"loss"`
		Grad map[string][][]float64 `json:"grad"`
	} `json:"sft"`
}

// sftLoss is the reference's SFT convention written directly: the mean
// over masked tokens t ≥ 1 of -log_softmax(logits[t-1])[ids[t]].
func sftLoss(cfg model.Config, w *model.Weights, ids, mask *Node) *Node {
	g := ids.Graph()
	d := ids.Shape().Dimensions
	b, t := d[0], d[1]
	logits := model.Forward(cfg, w, ids, model.Positions(g, b, t), model.CausalMask(g, b, t))
	lsm := LogSoftmax(SliceAxis(logits, 1, AxisRange(0, t-1)), -1) // [B, T-1, V]
	next := SliceAxis(ids, 1, AxisRange(1, t))
	hot := Equal(Iota(g, shapes.Make(dtypes.Int32, b, t-1, cfg.VocabSize), 2), InsertAxes(next, -1))
	logp := ReduceSum(Where(hot, lsm, ZerosLike(lsm)), -1) // [B, T-1]
	m := SliceAxis(mask, 1, AxisRange(1, t))
	return Div(ReduceAllSum(Mul(Neg(logp), m)), ReduceAllSum(m))
}

// linearAt returns the projection of w at a module path.
func linearAt(w *model.Weights, layer int, module string) *model.Linear {
	l := &w.Layers[layer]
	return map[string]*model.Linear{"q_proj": &l.Q, "k_proj": &l.K, "v_proj": &l.V, "o_proj": &l.O,
		"gate_proj": &l.Gate, "up_proj": &l.Up, "down_proj": &l.Down}[module]
}

// TestModel_LoRAGradients_Reference differentiates the SFT loss of
// llama-tiny with its LoRA adapter through core/model's forward and compares
// with PyTorch float64 autograd (losses/reference.json). The model runs in
// float32 (core/model's RoPE tables are float32), hence the tolerance:
// 1e-4 of each tensor's largest gradient.
func TestModel_LoRAGradients_Reference(t *testing.T) {
	var ref lossRef
	data, err := os.ReadFile(testdata + "losses/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(b, testdata+"models/llama-tiny", model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a, err := lora.Load(testdata + "models/llama-tiny-lora")
	if err != nil {
		t.Fatal(err)
	}
	_, base, build, err := m.GraphWeights()
	if err != nil {
		t.Fatal(err)
	}
	paths := a.Paths()
	var args []any
	for _, p := range paths {
		pair := a.Modules[p]
		args = append(args, tensors.FromFlatDataAndDimensions(pair.A.Data, pair.A.Shape...),
			tensors.FromFlatDataAndDimensions(pair.B.Data, pair.B.Shape...))
	}
	nl := len(args)
	for _, x := range base {
		args = append(args, x)
	}
	args = append(args, tensors.FromValue(ref.IDs), tensors.FromValue(ref.Mask))
	cfg := m.Config()
	before := dotgrad.Fallbacks()
	out, err := MustNewExec(b, func(in []*Node) []*Node {
		w := build(in[nl : len(in)-2])
		scale := Scalar(in[0].Graph(), dtypes.Float32, a.Scale())
		for i, p := range paths {
			var layer int
			var module string
			rest := strings.TrimPrefix(p, "model.layers.")
			li := strings.IndexByte(rest, '.')
			layer = int(mustAtoi(t, rest[:li]))
			module = rest[strings.LastIndexByte(rest, '.')+1:]
			lin := linearAt(w, layer, module)
			lin.LoRAA, lin.LoRAB, lin.LoRAScale = in[2*i], in[2*i+1], scale
		}
		l := sftLoss(cfg, w, in[len(in)-2], in[len(in)-1])
		return append([]*Node{l}, Gradient(l, in[:nl]...)...)
	}).Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	if n := dotgrad.Fallbacks() - before; n != 0 {
		t.Errorf("%d DotGeneral gradients fell back to gomlx's", n)
	}
	if got := float64(tensors.MustCopyFlatData[float32](out[0])[0]); math.Abs(got-ref.SFT.Loss) > 1e-4*ref.SFT.Loss {
		t.Errorf("SFT loss %.7g, reference %.7g", got, ref.SFT.Loss)
	}
	for i, p := range paths {
		for j, name := range []string{"lora_A", "lora_B"} {
			key := "base_model.model." + p + "." + name + ".weight"
			want := ref.SFT.Grad[key]
			if want == nil {
				t.Fatalf("reference has no gradient %s", key)
			}
			got := tensors.MustCopyFlatData[float32](out[1+2*i+j])
			scale := 0.0
			for _, row := range want {
				for _, v := range row {
					scale = max(scale, math.Abs(v))
				}
			}
			k := 0
			for r, row := range want {
				for c, v := range row {
					if d := math.Abs(float64(got[k]) - v); d > 1e-5*scale {
						t.Fatalf("%s[%d][%d] = %.6g, reference %.6g (max |grad| %.3g)", key, r, c, got[k], v, scale)
					}
					k++
				}
			}
		}
	}
}

// TestModel_FullGradients_MatchStock differentiates the same loss with
// respect to every base weight (embeddings, norms, projections, head)
// with dotgrad's VJPs and with gomlx's stock DotGeneral VJP, an independent
// derivation: they must agree to float32 rounding.
func TestModel_FullGradients_MatchStock(t *testing.T) {
	var ref lossRef
	data, err := os.ReadFile(testdata + "losses/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(b, testdata+"models/llama-tiny", model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	names, base, build, err := m.GraphWeights()
	if err != nil {
		t.Fatal(err)
	}
	var args []any
	for _, x := range base {
		args = append(args, x)
	}
	args = append(args, tensors.FromValue(ref.IDs), tensors.FromValue(ref.Mask))
	cfg := m.Config()
	run := func() []*tensors.Tensor {
		out, err := MustNewExec(b, func(in []*Node) []*Node {
			ws := in[:len(in)-2]
			return Gradient(sftLoss(cfg, build(ws), in[len(in)-2], in[len(in)-1]), ws...)
		}).Exec(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ours := run()
	prev := dotgrad.SetEnabled(false)
	stock := run()
	dotgrad.SetEnabled(prev)
	for i, name := range names {
		o, s := tensors.MustCopyFlatData[float32](ours[i]), tensors.MustCopyFlatData[float32](stock[i])
		scale := 0.0
		for _, v := range s {
			scale = max(scale, math.Abs(float64(v)))
		}
		if scale == 0 {
			t.Errorf("%s: zero gradient", name)
		}
		for j := range o {
			if d := math.Abs(float64(o[j] - s[j])); d > 1e-5*scale {
				t.Fatalf("%s element %d: ours %.7g, stock %.7g (max |grad| %.3g)", name, j, o[j], s[j], scale)
			}
		}
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("bad layer %q", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
