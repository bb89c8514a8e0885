package dotgrad

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/backend"
)

func goBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goBackendNoT is one shared backend for helpers without a testing.TB.
var goBackendNoT = sync.OnceValue(func() backends.Backend {
	b, err := backend.New("go")
	if err != nil {
		panic(err)
	}
	return b
})

// dotCase is one DotGeneral layout.
type dotCase struct {
	name     string
	lhs, rhs []int
	ax       Axes
}

// dotCases covers the layouts core/model builds (matmulT, its split form,
// LoRA, attention with GQA) and general ones: batch axes out of order and
// not leading, several contracting axes paired out of order, no contracting
// axis, full contraction.
var dotCases = []dotCase{
	{"matmul", []int{5, 4}, []int{4, 3}, Axes{LHSContracting: []int{1}, RHSContracting: []int{0}}},
	{"matmulT", []int{2, 3, 6}, []int{5, 6}, Axes{LHSContracting: []int{2}, RHSContracting: []int{1}}},
	{"matmulT_split", []int{4, 3, 6}, []int{4, 2, 6}, Axes{LHSContracting: []int{2}, LHSBatch: []int{0}, RHSContracting: []int{2}, RHSBatch: []int{0}}},
	{"lora_A", []int{2, 3, 6}, []int{2, 6}, Axes{LHSContracting: []int{2}, RHSContracting: []int{1}}},
	// attend: q [B, KV, T, grp, hd] · k [B, KV, S, hd] and
	// probs [B, KV, T, grp, S] · v [B, KV, hd, S], 4 heads over 2 KV heads.
	{"attention_scores_gqa", []int{2, 2, 3, 2, 4}, []int{2, 2, 3, 4}, Axes{LHSContracting: []int{4}, LHSBatch: []int{0, 1}, RHSContracting: []int{3}, RHSBatch: []int{0, 1}}},
	{"attention_values_gqa", []int{2, 2, 3, 2, 3}, []int{2, 2, 4, 3}, Axes{LHSContracting: []int{4}, LHSBatch: []int{0, 1}, RHSContracting: []int{3}, RHSBatch: []int{0, 1}}},
	{"batch_swapped", []int{2, 3, 4}, []int{3, 2, 5, 4}, Axes{LHSContracting: []int{2}, LHSBatch: []int{1, 0}, RHSContracting: []int{3}, RHSBatch: []int{0, 1}}},
	{"contract_permuted", []int{4, 3, 5, 2}, []int{2, 6, 3, 4}, Axes{LHSContracting: []int{3, 0}, LHSBatch: []int{1}, RHSContracting: []int{0, 3}, RHSBatch: []int{2}}},
	{"rhs_first_free", []int{3, 4}, []int{5, 3}, Axes{LHSContracting: []int{0}, RHSContracting: []int{1}}},
	{"outer", []int{3}, []int{4}, Axes{}},
	{"full_contraction", []int{3, 4}, []int{3, 4}, Axes{LHSContracting: []int{0, 1}, RHSContracting: []int{0, 1}}},
	{"matrix_vector", []int{5, 4}, []int{4}, Axes{LHSContracting: []int{1}, RHSContracting: []int{0}}},
}

func randTensor(rng *rand.Rand, dims []int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float64, n)
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

func flat(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	d, err := tensors.CopyFlatData[float64](x)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// outDims is the DotGeneral output shape of c.
func (c dotCase) outDims() []int {
	var out []int
	for i, a := range c.ax.LHSBatch {
		_ = i
		out = append(out, c.lhs[a])
	}
	for _, a := range freeAxes(len(c.lhs), c.ax.LHSContracting, c.ax.LHSBatch) {
		out = append(out, c.lhs[a])
	}
	for _, a := range freeAxes(len(c.rhs), c.ax.RHSContracting, c.ax.RHSBatch) {
		out = append(out, c.rhs[a])
	}
	return out
}

// checkGrad compares analytic gradients with central finite differences of
// loss, all in float64. loss takes the inputs and returns a scalar; grads
// returns loss's gradients wrt every input.
func checkGrad(t *testing.T, b backends.Backend, inputs []*tensors.Tensor, loss func(in []*Node) *Node, tol float64) {
	t.Helper()
	lossExec := MustNewExec(b, func(in []*Node) *Node { return loss(in) })
	gradExec := MustNewExec(b, func(in []*Node) []*Node { return Gradient(loss(in), in...) })
	defer lossExec.Finalize()
	defer gradExec.Finalize()
	args := func(ts []*tensors.Tensor) []any {
		out := make([]any, len(ts))
		for i, x := range ts {
			out[i] = x
		}
		return out
	}
	grads, err := gradExec.Exec(args(inputs)...)
	if err != nil {
		t.Fatal(err)
	}
	eval := func(ts []*tensors.Tensor) float64 {
		out, err := lossExec.Exec(args(ts)...)
		if err != nil {
			t.Fatal(err)
		}
		return flat(t, out[0])[0]
	}
	const h = 1e-5
	for i, x := range inputs {
		dims := x.Shape().Dimensions
		base := flat(t, x)
		got := flat(t, grads[i])
		if len(got) != len(base) {
			t.Fatalf("input %d: gradient has %d values, want %d", i, len(got), len(base))
		}
		scale := 0.0
		fd := make([]float64, len(base))
		for j := range base {
			at := func(delta float64) float64 {
				p := slices.Clone(base)
				p[j] += delta
				ts := slices.Clone(inputs)
				ts[i] = tensors.FromFlatDataAndDimensions(p, dims...)
				return eval(ts)
			}
			fd[j] = (at(h) - at(-h)) / (2 * h)
			scale = max(scale, math.Abs(fd[j]))
		}
		for j := range fd {
			if d := math.Abs(got[j] - fd[j]); d > tol*max(scale, 1) {
				t.Fatalf("input %d %v element %d: gradient %.10g, finite difference %.10g (|diff| %.3g)", i, dims, j, got[j], fd[j], d)
			}
		}
	}
}

// TestGrads_FiniteDifferences checks both operand gradients of every layout
// against central differences in float64. The loss weights the product by
// a random tensor so the output gradient is not uniform.
func TestGrads_FiniteDifferences(t *testing.T) {
	b := goBackend(t)
	for _, c := range dotCases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(c.name))))
			w := randTensor(rng, c.outDims())
			before := Fallbacks()
			checkGrad(t, b, []*tensors.Tensor{randTensor(rng, c.lhs), randTensor(rng, c.rhs)}, func(in []*Node) *Node {
				out := DotGeneral(in[0], c.ax.LHSContracting, c.ax.LHSBatch, in[1], c.ax.RHSContracting, c.ax.RHSBatch)
				return ReduceAllSum(Mul(out, ConstCachedTensor(in[0].Graph(), w)))
			}, 1e-8)
			if n := Fallbacks() - before; n != 0 {
				t.Errorf("%d gradients fell back to the stock VJP", n)
			}
		})
	}
}

// TestGrads_MatchStock compares with gomlx's own VJP, exactly in float64 up
// to summation order.
func TestGrads_MatchStock(t *testing.T) {
	b := goBackend(t)
	for _, c := range dotCases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, uint64(len(c.name))))
			l, r, w := randTensor(rng, c.lhs), randTensor(rng, c.rhs), randTensor(rng, c.outDims())
			fn := func(lhs, rhs *Node) []*Node {
				out := DotGeneral(lhs, c.ax.LHSContracting, c.ax.LHSBatch, rhs, c.ax.RHSContracting, c.ax.RHSBatch)
				return Gradient(ReduceAllSum(Mul(out, ConstCachedTensor(lhs.Graph(), w))), lhs, rhs)
			}
			ours, err := MustNewExec(b, fn).Exec(l, r)
			if err != nil {
				t.Fatal(err)
			}
			prev := SetEnabled(false)
			stockOut, err := MustNewExec(b, fn).Exec(l, r)
			SetEnabled(prev)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ours {
				a, s := flat(t, ours[i]), flat(t, stockOut[i])
				for j := range a {
					if math.Abs(a[j]-s[j]) > 1e-12*max(1, math.Abs(s[j])) {
						t.Fatalf("operand %d element %d: ours %.15g, stock %.15g", i, j, a[j], s[j])
					}
				}
			}
		})
	}
}

// TestAttention_FiniteDifferences checks the whole grouped-query attention
// block as core/model writes it (scaled q·kᵀ, causal Where, Softmax, p·v,
// transposes), in float64, with respect to q, k and v.
func TestAttention_FiniteDifferences(t *testing.T) {
	b := goBackend(t)
	const bs, tt, h, kv, hd = 2, 3, 4, 2, 4
	grp := h / kv
	rng := rand.New(rand.NewPCG(3, 4))
	w := randTensor(rng, []int{bs, tt, h * hd})
	inputs := []*tensors.Tensor{
		randTensor(rng, []int{bs, tt, h, hd}),  // q
		randTensor(rng, []int{bs, tt, kv, hd}), // k
		randTensor(rng, []int{bs, tt, kv, hd}), // v
	}
	checkGrad(t, b, inputs, func(in []*Node) *Node {
		g := in[0].Graph()
		q, k, v := in[0], in[1], in[2]
		keys := TransposeAllAxes(k, 0, 2, 1, 3)   // [B, KV, S, hd]
		values := TransposeAllAxes(v, 0, 2, 3, 1) // [B, KV, hd, S]
		q = Reshape(MulScalar(q, 1/math.Sqrt(hd)), bs, tt, kv, grp, hd)
		q = TransposeAllAxes(q, 0, 2, 1, 3, 4)
		scores := DotGeneral(q, []int{4}, []int{0, 1}, keys, []int{3}, []int{0, 1})
		s := Iota(g, shapes.Make(dtypesInt32(), scores.Shape().Dimensions...), 4)
		tpos := Iota(g, shapes.Make(dtypesInt32(), scores.Shape().Dimensions...), 2)
		scores = Where(LessOrEqual(s, tpos), scores, Infinity(g, scores.DType(), -1))
		probs := Softmax(scores, -1)
		out := DotGeneral(probs, []int{4}, []int{0, 1}, values, []int{3}, []int{0, 1})
		out = Reshape(TransposeAllAxes(out, 0, 2, 1, 3, 4), bs, tt, h*hd)
		return ReduceAllSum(Mul(out, ConstCachedTensor(g, w)))
	}, 1e-7)
}

// TestGradient_NoBroadcastProduct is the failure mode seen from the
// graph: the stock gradient of [512, 256]·[256, 256] builds a
// [512, 256, 256] tensor; ours builds nothing larger than an operand.
func TestGradient_NoBroadcastProduct(t *testing.T) {
	b := goBackend(t)
	largest := func(enabled bool) int {
		prev := SetEnabled(enabled)
		defer SetEnabled(prev)
		g := NewGraph(b, "probe")
		defer g.Finalize()
		x := Parameter(g, "x", shapesF32(512, 256))
		w := Parameter(g, "w", shapesF32(256, 256))
		y := DotGeneral(x, []int{1}, nil, w, []int{1}, nil)
		Gradient(ReduceAllSum(Square(y)), x, w)
		n := 0
		for _, node := range g.Nodes() {
			if node.NumOutputs() == 1 {
				n = max(n, node.Shape().Size())
			}
		}
		return n
	}
	if got := largest(true); got > 512*256 {
		t.Errorf("efficient gradient builds a tensor of %d elements, want ≤ %d", got, 512*256)
	}
	if got := largest(false); got < 512*256*256 {
		t.Errorf("stock gradient's largest tensor is %d elements; the probe no longer shows the broadcast product", got)
	}
}

func TestReadAxes(t *testing.T) {
	b := goBackend(t)
	for _, c := range dotCases {
		t.Run(c.name, func(t *testing.T) {
			g := NewGraph(b, "axes")
			defer g.Finalize()
			l := Parameter(g, "l", shapesF32(c.lhs...))
			r := Parameter(g, "r", shapesF32(c.rhs...))
			// Negative axes are normalised by gomlx; ReadAxes sees them
			// non-negative.
			neg := func(axes []int, rank int) []int {
				out := slices.Clone(axes)
				for i := range out {
					out[i] -= rank
				}
				return out
			}
			node := DotGeneral(l, neg(c.ax.LHSContracting, len(c.lhs)), c.ax.LHSBatch, r, c.ax.RHSContracting, neg(c.ax.RHSBatch, len(c.rhs)))
			got, err := ReadAxes(node)
			if err != nil {
				t.Fatal(err)
			}
			want := c.ax
			if !eqAxes(got, want) {
				t.Errorf("ReadAxes = %+v, want %+v", got, want)
			}
			for name, read := range map[string]func(*Node) (Axes, error){"reflection": readByReflection, "string": readByString} {
				ax, err := read(node)
				if err != nil || !eqAxes(ax, want) {
					t.Errorf("%s: %+v, %v; want %+v", name, ax, err, want)
				}
			}
		})
	}
}

func eqAxes(a, b Axes) bool {
	eq := func(x, y []int) bool { return len(x) == len(y) && (len(x) == 0 || slices.Equal(x, y)) }
	return eq(a.LHSContracting, b.LHSContracting) && eq(a.LHSBatch, b.LHSBatch) &&
		eq(a.RHSContracting, b.RHSContracting) && eq(a.RHSBatch, b.RHSBatch)
}

func TestReadAxes_Errors(t *testing.T) {
	b := goBackend(t)
	g := NewGraph(b, "errors")
	defer g.Finalize()
	x := Parameter(g, "x", shapesF32(2, 3))
	y := DotGeneral(x, []int{1}, nil, x, []int{1}, nil)
	tests := []struct {
		name string
		node *Node
		want error
	}{
		{"nil", nil, ErrNotDotGeneral},
		{"add", Add(x, x), ErrNotDotGeneral},
		{"parameter", x, ErrNotDotGeneral},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadAxes(tc.node); !errors.Is(err, tc.want) {
				t.Errorf("ReadAxes: %v, want %v", err, tc.want)
			}
		})
	}
	// check rejects readings inconsistent with the node's shapes, which is
	// what sends an unknown gomlx layout to the fallback.
	bad := []Axes{
		{LHSContracting: []int{0}, RHSContracting: []int{0}},                                         // output would be [3, 3], contract 2≠2 ok but shape differs
		{LHSContracting: []int{1}, RHSContracting: []int{1, 0}},                                      // unpaired
		{LHSContracting: []int{2}, RHSContracting: []int{1}},                                         // out of range
		{LHSContracting: []int{1}, LHSBatch: []int{1}, RHSContracting: []int{1}, RHSBatch: []int{0}}, // repeated
	}
	for i, ax := range bad {
		if err := check(y, x.Shape(), x.Shape(), ax); err == nil {
			t.Errorf("bad axes %d (%+v) accepted", i, ax)
		}
	}
	if err := check(y, x.Shape(), x.Shape(), Axes{LHSContracting: []int{1}, RHSContracting: []int{1}}); err != nil {
		t.Errorf("true axes rejected: %v", err)
	}
}

func shapesF32(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

func dtypesInt32() dtypes.DType { return dtypes.Int32 }

// TestMissingVJPs_FiniteDifferences checks the gradients registered for
// ops gomlx leaves undifferentiable on the pure-Go backend (Rsqrt, Clamp,
// and Slice, whose stock gradient needs Pad), in float64, in the forms the
// model uses them: RMSNorm, rotate-half RoPE and next-token slicing.
func TestMissingVJPs_FiniteDifferences(t *testing.T) {
	b := goBackend(t)
	tests := []struct {
		name   string
		inputs [][]int
		loss   func(in []*Node) *Node
	}{
		{"rmsnorm", [][]int{{2, 3, 8}, {8}}, func(in []*Node) *Node {
			x, w := in[0], in[1]
			ms := ReduceAndKeep(Square(x), ReduceMean, -1)
			return Mul(Mul(x, Rsqrt(AddScalar(ms, 1e-6))), ExpandLeftToRank(w, 3))
		}},
		{"rotate_half", [][]int{{2, 3, 4, 6}}, func(in []*Node) *Node {
			x := in[0]
			lo := SliceAxis(x, 3, AxisRange(0, 3))
			hi := SliceAxis(x, 3, AxisRange(3, 6))
			return Mul(x, Concatenate([]*Node{Neg(hi), lo}, 3))
		}},
		{"slice_several_axes", [][]int{{5, 6, 4}}, func(in []*Node) *Node {
			return Slice(in[0], AxisRange(1, 4), AxisRange(0, 6), AxisRange(2, 3))
		}},
		{"next_tokens", [][]int{{2, 7, 5}}, func(in []*Node) *Node {
			return LogSoftmax(SliceAxis(in[0], 1, AxisRange(0, 6)), -1)
		}},
		{"clamp_scalar_bounds", [][]int{{4, 5}}, func(in []*Node) *Node {
			x := in[0]
			return Clip(x, Scalar(x.Graph(), x.DType(), -0.5), Scalar(x.Graph(), x.DType(), 0.7))
		}},
		{"clamp_tensor_bounds", [][]int{{4, 5}, {4, 5}, {4, 5}}, func(in []*Node) *Node {
			lo := SubScalar(in[1], 0.5)
			return Clip(in[0], lo, Add(lo, AddScalar(Square(in[2]), 0.3)))
		}},
		{"clamp_crossed_bounds", [][]int{{4, 5}, {4, 5}, {4, 5}}, func(in []*Node) *Node {
			// min > max somewhere: the result is max there.
			return Clip(in[0], in[1], in[2])
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, uint64(len(tc.name))))
			var ins []*tensors.Tensor
			for _, d := range tc.inputs {
				ins = append(ins, randTensor(rng, d))
			}
			probe := NewGraph(b, "probe")
			var params []*Node
			for i, d := range tc.inputs {
				params = append(params, Parameter(probe, "p"+string(rune('a'+i)), shapes.Make(dtypes.Float64, d...)))
			}
			w := randTensor(rng, tc.loss(params).Shape().Dimensions)
			probe.Finalize()
			before := Fallbacks()
			checkGrad(t, b, ins, func(in []*Node) *Node {
				return ReduceAllSum(Mul(tc.loss(in), ConstCachedTensor(in[0].Graph(), w)))
			}, 1e-7)
			if n := Fallbacks() - before; n != 0 {
				t.Errorf("%d gradients fell back", n)
			}
		})
	}
}

func TestSliceBounds(t *testing.T) {
	b := goBackend(t)
	g := NewGraph(b, "slice")
	defer g.Finalize()
	x := Parameter(g, "x", shapesF32(5, 6))
	starts, limits, err := sliceBounds(Slice(x, AxisRange(1, 4), AxisRange(2, 6)))
	if err != nil || !slices.Equal(starts, []int{1, 2}) || !slices.Equal(limits, []int{4, 6}) {
		t.Errorf("sliceBounds = %v, %v, %v; want [1 2], [4 6]", starts, limits, err)
	}
	starts, limits, err = sliceBounds(Slice(x, AxisRange(0, 5).Stride(2), AxisRange()))
	if err != nil || starts != nil || limits != nil {
		t.Errorf("strided: sliceBounds = %v, %v, %v; want nil (left to gomlx)", starts, limits, err)
	}
}
