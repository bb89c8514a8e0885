package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/backend/cpu"
)

// Tolerance of the conformance suite, per element:
//
//	|cpu − simplego| ≤ absTol·max(1, max|simplego|) + relTol·|simplego|
//
// Sums are accumulated in another order (matmuls in blocks), so float32
// results differ by rounding, which cancellation makes large next to a
// small element of a large sum: hence the term scaled by the largest.
const (
	relTol = 1e-5
	absTol = 1e-5
)

// reference is gomlx's pure-Go backend, the behaviour this one must match.
func reference(t testing.TB) backends.Backend {
	t.Helper()
	b, err := simplego.New("ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}

// cpuBackends is one backend per GEMM kernel this CPU runs, so every op
// test also covers each CPU path (AVX-512, AVX2, generic), and the best
// kernel with each parallel schedule: independent ops in parallel, and
// every op handed to the worker pool (the small graphs here otherwise run
// in creation order).
func cpuBackends(t testing.TB) map[string]backends.Backend {
	t.Helper()
	out := map[string]backends.Backend{}
	for _, k := range []string{"avx512", "avx2", "generic", "interop=true", "interop=all"} {
		config := "kernel=" + k
		if strings.HasPrefix(k, "interop") {
			config = k
		}
		b, err := cpu.New(config)
		if err != nil {
			continue // not on this CPU
		}
		t.Cleanup(b.Finalize)
		out[k] = b
	}
	return out
}

// randomTensor fills shape with values suited to dtype: floats in
// [-2, 2), integers in [-5, 5) (or [0, 10) unsigned), random booleans.
func randomTensor(rng *rand.Rand, shape shapes.Shape) *tensors.Tensor {
	t := tensors.FromShape(shape)
	t.MustMutableFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			for i := range f {
				f[i] = rng.Float32()*4 - 2
			}
		case []float64:
			for i := range f {
				f[i] = rng.Float64()*4 - 2
			}
		case []int32:
			for i := range f {
				f[i] = int32(rng.IntN(10) - 5)
			}
		case []int64:
			for i := range f {
				f[i] = int64(rng.IntN(10) - 5)
			}
		case []uint8:
			for i := range f {
				f[i] = uint8(rng.IntN(10))
			}
		case []int8:
			for i := range f {
				f[i] = int8(rng.IntN(10) - 5)
			}
		case []bool:
			for i := range f {
				f[i] = rng.IntN(2) == 1
			}
		default:
			panic(fmt.Sprintf("randomTensor: %T", flat))
		}
	})
	return t
}

// run executes fn on backend b.
func run(b backends.Backend, fn func([]*Node) *Node, inputs []*tensors.Tensor) (*tensors.Tensor, error) {
	exec, err := NewExec(b, fn)
	if err != nil {
		return nil, err
	}
	args := make([]any, len(inputs))
	for i, x := range inputs {
		c, err := x.LocalClone() // a tensor stays with the first backend it meets
		if err != nil {
			return nil, err
		}
		args[i] = c
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// conform checks fn on every cpu kernel against the reference.
func conform(t *testing.T, fn func([]*Node) *Node, inputs ...*tensors.Tensor) {
	t.Helper()
	want, err := run(reference(t), fn, inputs)
	if err != nil {
		t.Skipf("the reference fails, nothing to compare: %v", err)
	}
	for name, b := range cpuBackends(t) {
		got, err := run(b, fn, inputs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := sameTensor(got, want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// sameTensor compares shapes exactly and values within the tolerance.
func sameTensor(got, want *tensors.Tensor) error {
	if !got.Shape().Equal(want.Shape()) {
		return fmt.Errorf("shape %s, want %s", got.Shape(), want.Shape())
	}
	g, w := toFloat64s(got), toFloat64s(want)
	scale := 1.0
	for _, v := range w {
		if !math.IsInf(v, 0) {
			scale = math.Max(scale, math.Abs(v))
		}
	}
	for i := range w {
		d := math.Abs(g[i] - w[i])
		if math.IsNaN(w[i]) && math.IsNaN(g[i]) || g[i] == w[i] {
			continue
		}
		if !(d <= absTol*scale+relTol*math.Abs(w[i])) {
			return fmt.Errorf("element %d (of %s) = %v, want %v", i, want.Shape(), g[i], w[i])
		}
	}
	return nil
}

func toFloat64s(t *tensors.Tensor) []float64 {
	var out []float64
	t.MustConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			out = widen(f)
		case []float64:
			out = widen(f)
		case []int32:
			out = widen(f)
		case []int64:
			out = widen(f)
		case []uint8:
			out = widen(f)
		case []int8:
			out = widen(f)
		case []bool:
			for _, v := range f {
				x := 0.0
				if v {
					x = 1
				}
				out = append(out, x)
			}
		default:
			panic(fmt.Sprintf("toFloat64s: %T", flat))
		}
	})
	return out
}

func widen[T float32 | float64 | int32 | int64 | uint8 | int8](f []T) []float64 {
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out
}

// opCase is one conformance case: a graph over inputs of the given shapes.
type opCase struct {
	name   string
	inputs []shapes.Shape
	fn     func([]*Node) *Node
}

func f32(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

func TestConformance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var cases []opCase
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.Int32, dtypes.Int64, dtypes.Uint8, dtypes.Int8} {
		s := func(dims ...int) shapes.Shape { return shapes.Make(dt, dims...) }
		binaries := map[string]func(a, b *Node) *Node{"Add": Add, "Sub": Sub, "Mul": Mul, "Max": Max, "Min": Min}
		for name, f := range binaries {
			cases = append(cases,
				opCase{name: fmt.Sprintf("%s/%s/same", name, dt), inputs: []shapes.Shape{s(3, 5), s(3, 5)}, fn: func(x []*Node) *Node { return f(x[0], x[1]) }},
				opCase{name: fmt.Sprintf("%s/%s/scalar", name, dt), inputs: []shapes.Shape{s(), s(4, 3)}, fn: func(x []*Node) *Node { return f(x[0], x[1]) }},
				opCase{name: fmt.Sprintf("%s/%s/broadcast", name, dt), inputs: []shapes.Shape{s(2, 1, 4), s(2, 3, 1)}, fn: func(x []*Node) *Node { return f(x[0], x[1]) }},
			)
		}
		comparisons := map[string]func(a, b *Node) *Node{"Equal": Equal, "LessThan": LessThan, "GreaterOrEqual": GreaterOrEqual, "NotEqual": NotEqual}
		for name, f := range comparisons {
			cases = append(cases, opCase{name: fmt.Sprintf("%s/%s", name, dt), inputs: []shapes.Shape{s(3, 5), s(3, 5)}, fn: func(x []*Node) *Node { return f(x[0], x[1]) }})
		}
		cases = append(cases,
			opCase{name: "ReduceSum/last/" + dt.String(), inputs: []shapes.Shape{s(3, 4, 5)}, fn: func(x []*Node) *Node { return ReduceSum(x[0], -1) }},
			opCase{name: "ReduceSum/first/" + dt.String(), inputs: []shapes.Shape{s(3, 4, 5)}, fn: func(x []*Node) *Node { return ReduceSum(x[0], 0, 1) }},
			opCase{name: "ReduceSum/split/" + dt.String(), inputs: []shapes.Shape{s(3, 4, 5)}, fn: func(x []*Node) *Node { return ReduceSum(x[0], 0, 2) }},
			opCase{name: "ReduceMax/" + dt.String(), inputs: []shapes.Shape{s(3, 4, 5)}, fn: func(x []*Node) *Node { return ReduceMax(x[0], 1) }},
			opCase{name: "ReduceMin/" + dt.String(), inputs: []shapes.Shape{s(3, 4, 5)}, fn: func(x []*Node) *Node { return ReduceMin(x[0], 0) }},
			opCase{name: "ArgMax/" + dt.String(), inputs: []shapes.Shape{s(3, 4, 5)}, fn: func(x []*Node) *Node { return ArgMax(x[0], 1) }},
			opCase{name: "Transpose/" + dt.String(), inputs: []shapes.Shape{s(2, 3, 4)}, fn: func(x []*Node) *Node { return TransposeAllDims(x[0], 2, 0, 1) }},
			opCase{name: "Reshape/" + dt.String(), inputs: []shapes.Shape{s(2, 3, 4)}, fn: func(x []*Node) *Node { return Reshape(x[0], 4, 6) }},
			opCase{name: "Broadcast/" + dt.String(), inputs: []shapes.Shape{s(1, 3)}, fn: func(x []*Node) *Node { return BroadcastToDims(x[0], 4, 3) }},
			opCase{name: "Slice/" + dt.String(), inputs: []shapes.Shape{s(5, 6)}, fn: func(x []*Node) *Node { return Slice(x[0], AxisRange(1, 4), AxisRange(0, 6).Stride(2)) }},
			opCase{name: "Concat/" + dt.String(), inputs: []shapes.Shape{s(2, 3), s(2, 4)}, fn: func(x []*Node) *Node { return Concatenate(x, 1) }},
			opCase{name: "Where/" + dt.String(), inputs: []shapes.Shape{s(3, 4), s(3, 4)}, fn: func(x []*Node) *Node { return Where(GreaterThan(x[0], x[1]), x[0], x[1]) }},
			opCase{name: "ConvertF32/" + dt.String(), inputs: []shapes.Shape{s(3, 4)}, fn: func(x []*Node) *Node { return ConvertDType(x[0], dtypes.Float32) }},
			opCase{name: "ConvertI32/" + dt.String(), inputs: []shapes.Shape{s(3, 4)}, fn: func(x []*Node) *Node { return ConvertDType(x[0], dtypes.Int32) }},
		)
		if dt == dtypes.Float32 || dt == dtypes.Float64 || dt == dtypes.Int32 || dt == dtypes.Int64 {
			cases = append(cases,
				opCase{name: "MatMul/" + dt.String(), inputs: []shapes.Shape{s(5, 7), s(7, 3)}, fn: func(x []*Node) *Node { return MatMul(x[0], x[1]) }},
				opCase{name: "Einsum/batched/" + dt.String(), inputs: []shapes.Shape{s(2, 5, 7), s(2, 3, 7)}, fn: func(x []*Node) *Node { return Einsum("bik,bjk->bij", x[0], x[1]) }},
				opCase{name: "Einsum/transposedbatch/" + dt.String(), inputs: []shapes.Shape{s(5, 2, 7), s(7, 3, 2)}, fn: func(x []*Node) *Node { return Einsum("ibk,kjb->bij", x[0], x[1]) }},
			)
		}
		if dt.IsFloat() {
			unaries := map[string]func(*Node) *Node{"Exp": Exp, "Log": func(x *Node) *Node { return Log(Abs(x)) }, "Tanh": Tanh,
				"Sigmoid": Sigmoid, "Sqrt": func(x *Node) *Node { return Sqrt(Abs(x)) }, "Rsqrt": func(x *Node) *Node { return Rsqrt(Abs(x)) },
				"Neg": Neg, "Abs": Abs, "Sign": Sign, "Erf": Erf, "Floor": Floor, "Round": Round, "Cos": Cos, "Log1p": func(x *Node) *Node { return Log1P(Abs(x)) },
				"Div": func(x *Node) *Node { return Div(x, AddScalar(Abs(x), 1)) }, "Pow": func(x *Node) *Node { return Pow(Abs(x), x) },
				"Expm1": Expm1, "Sin": Sin, "Ceil": Ceil, "Rem": func(x *Node) *Node { return Rem(x, AddScalar(Abs(x), 0.3)) },
				"IsFinite": func(x *Node) *Node { return ConvertDType(IsFinite(Log(x)), dt) },
				"IsNaN":    func(x *Node) *Node { return ConvertDType(IsNaN(Log(x)), dt) }}
			for name, f := range unaries {
				cases = append(cases, opCase{name: fmt.Sprintf("%s/%s", name, dt), inputs: []shapes.Shape{s(4, 5)}, fn: func(x []*Node) *Node { return f(x[0]) }})
			}
		}
	}
	cases = append(cases, opCasesFloat32()...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.inputs == nil {
				t.Skip("no inputs")
			}
			inputs := make([]*tensors.Tensor, len(c.inputs))
			for i, s := range c.inputs {
				inputs[i] = randomTensor(rng, s)
			}
			conform(t, c.fn, inputs...)
		})
	}
}

// opCasesFloat32 covers the ops the model's graphs use beyond plain
// elementwise ones: indexing, slicing, softmax, matmuls large enough to
// take several GEMM blocks, batched matmuls and gradients.
func opCasesFloat32() []opCase {
	idx := func(g *Graph, vals ...int32) *Node { return Const(g, vals) }
	return []opCase{
		{name: "Gather/rows", inputs: []shapes.Shape{f32(10, 6)}, fn: func(x []*Node) *Node {
			return Gather(x[0], Reshape(idx(x[0].Graph(), 3, 0, 9, 3), 2, 2, 1))
		}},
		{name: "Gather/gradient", inputs: []shapes.Shape{f32(10, 6)}, fn: func(x []*Node) *Node {
			y := Gather(x[0], Reshape(idx(x[0].Graph(), 3, 0, 9, 3), 4, 1))
			return Gradient(ReduceAllSum(Mul(y, y)), x[0])[0]
		}},
		{name: "ScatterSum", inputs: []shapes.Shape{f32(8, 3), f32(4, 3)}, fn: func(x []*Node) *Node {
			return ScatterSum(x[0], Reshape(idx(x[0].Graph(), 1, 7, 1, 0), 4, 1), x[1], false, false)
		}},
		{name: "GatherSlices", inputs: []shapes.Shape{f32(6, 7)}, fn: func(x []*Node) *Node {
			return GatherSlices(x[0], []int{1}, Reshape(idx(x[0].Graph(), 2, 5), 2, 1), []int{3}, false)
		}},
		{name: "Iota", inputs: []shapes.Shape{f32(3, 4)}, fn: func(x []*Node) *Node {
			return Add(x[0], Iota(x[0].Graph(), f32(3, 4), 1))
		}},
		{name: "Clamp", inputs: []shapes.Shape{f32(3, 4)}, fn: func(x []*Node) *Node {
			g := x[0].Graph()
			return Clamp(Scalar(g, dtypes.Float32, -0.5), x[0], Scalar(g, dtypes.Float32, 0.7))
		}},
		{name: "Where/scalars", inputs: []shapes.Shape{f32(3, 4)}, fn: func(x []*Node) *Node {
			g := x[0].Graph()
			return Where(GreaterThan(x[0], ZerosLike(x[0])), Scalar(g, dtypes.Float32, 1), Scalar(g, dtypes.Float32, -1))
		}},
		{name: "Logical", inputs: []shapes.Shape{f32(3, 4), f32(3, 4)}, fn: func(x []*Node) *Node {
			a, b := GreaterThan(x[0], x[1]), LessThan(x[0], ZerosLike(x[0]))
			return ConvertDType(LogicalOr(LogicalAnd(a, LogicalNot(b)), LogicalXor(a, b)), dtypes.Float32)
		}},
		{name: "Nibbles", inputs: []shapes.Shape{shapes.Make(dtypes.Uint8, 4, 5)}, fn: func(x []*Node) *Node {
			g := x[0].Graph()
			lo := BitwiseAnd(x[0], Scalar(g, dtypes.Uint8, 0x0f))
			hi := BitwiseOr(x[0], Scalar(g, dtypes.Uint8, 0x30))
			return Add(ConvertDType(lo, dtypes.Float32), ConvertDType(BitwiseXor(hi, lo), dtypes.Float32))
		}},
		{name: "Softmax", inputs: []shapes.Shape{f32(2, 3, 9)}, fn: func(x []*Node) *Node { return Softmax(x[0], -1) }},
		{name: "LogSoftmax/gradient", inputs: []shapes.Shape{f32(4, 9)}, fn: func(x []*Node) *Node {
			return Gradient(ReduceAllSum(Mul(LogSoftmax(x[0], -1), x[0])), x[0])[0]
		}},
		// A sliced operand is read in place: attention over a prefix (and
		// a middle run) of a KV cache's slots, keys [B, KV, S, hd] and
		// values [B, KV, hd, S]; a slice of the KV axis cannot merge with
		// the batch axis and is copied first.
		{name: "DotGeneral/slicedKeys", inputs: []shapes.Shape{f32(2, 3, 1, 2, 8), f32(2, 3, 10, 8)}, fn: func(x []*Node) *Node {
			return DotGeneral(x[0], []int{4}, []int{0, 1}, Slice(x[1], AxisRange(), AxisRange(), AxisRange(0, 6), AxisRange()), []int{3}, []int{0, 1})
		}},
		{name: "DotGeneral/slicedKeysMiddle", inputs: []shapes.Shape{f32(2, 3, 4, 2, 8), f32(2, 3, 10, 8)}, fn: func(x []*Node) *Node {
			return DotGeneral(x[0], []int{4}, []int{0, 1}, Slice(x[1], AxisRange(), AxisRange(), AxisRange(2, 9), AxisRange()), []int{3}, []int{0, 1})
		}},
		{name: "DotGeneral/slicedValues", inputs: []shapes.Shape{f32(2, 3, 1, 2, 6), f32(2, 3, 8, 10)}, fn: func(x []*Node) *Node {
			return DotGeneral(x[0], []int{4}, []int{0, 1}, Slice(x[1], AxisRange(), AxisRange(), AxisRange(), AxisRange(0, 6)), []int{3}, []int{0, 1})
		}},
		{name: "DotGeneral/slicedLhs", inputs: []shapes.Shape{f32(9, 7), f32(5, 7)}, fn: func(x []*Node) *Node {
			return DotGeneral(Slice(x[0], AxisRange(3, 8)), []int{1}, nil, x[1], []int{1}, nil)
		}},
		{name: "DotGeneral/slicedBatchCopied", inputs: []shapes.Shape{f32(2, 2, 1, 2, 8), f32(2, 3, 10, 8)}, fn: func(x []*Node) *Node {
			return DotGeneral(x[0], []int{4}, []int{0, 1}, Slice(x[1], AxisRange(), AxisRange(1, 3), AxisRange(0, 6), AxisRange()), []int{3}, []int{0, 1})
		}},
		{name: "DotGeneral/slicedStrided", inputs: []shapes.Shape{f32(4, 8), f32(12, 8)}, fn: func(x []*Node) *Node {
			return DotGeneral(x[0], []int{1}, nil, Slice(x[1], AxisRange(1, 12).Stride(3)), []int{1}, nil)
		}},
		{name: "MatMul/blocks", inputs: []shapes.Shape{f32(200, 300), f32(300, 70)}, fn: func(x []*Node) *Node { return MatMul(x[0], x[1]) }},
		{name: "MatMul/gradient", inputs: []shapes.Shape{f32(20, 30), f32(30, 7)}, fn: func(x []*Node) *Node {
			return Gradient(ReduceAllSum(Tanh(MatMul(x[0], x[1]))), x[1])[0]
		}},
		{name: "Einsum/heads", inputs: []shapes.Shape{f32(2, 9, 4, 8), f32(2, 9, 4, 8)}, fn: func(x []*Node) *Node {
			return Einsum("bqhd,bkhd->bhqk", x[0], x[1])
		}},
		{name: "Einsum/contract2", inputs: []shapes.Shape{f32(3, 4, 5), f32(4, 5, 6)}, fn: func(x []*Node) *Node {
			return Einsum("ijk,jkl->il", x[0], x[1])
		}},
		{name: "ReduceMultiply", inputs: []shapes.Shape{f32(3, 4)}, fn: func(x []*Node) *Node { return ReduceMultiply(x[0], 1) }},
		{name: "ArgMin", inputs: []shapes.Shape{f32(5, 4)}, fn: func(x []*Node) *Node { return ArgMin(x[0], 0) }},
		{name: "BitwiseNot", inputs: []shapes.Shape{shapes.Make(dtypes.Int32, 3, 4)}, fn: func(x []*Node) *Node { return BitwiseNot(x[0]) }},
		{name: "ReduceLogical", inputs: []shapes.Shape{f32(3, 4)}, fn: func(x []*Node) *Node {
			pos := GreaterThan(x[0], ZerosLike(x[0]))
			return ConvertDType(LogicalOr(ReduceLogicalAnd(pos, 1), ReduceLogicalOr(pos, 1)), dtypes.Int32)
		}},
		{name: "ConvertBool", inputs: []shapes.Shape{shapes.Make(dtypes.Bool, 3, 4)}, fn: func(x []*Node) *Node {
			return ConvertDType(x[0], dtypes.Float32)
		}},
	}
}
