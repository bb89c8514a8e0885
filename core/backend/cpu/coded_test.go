package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/backend/cpu"
	"github.com/toolbrain/toolbrain/core/quant"
	// The matmul gradients training uses: dY·W is a DotGeneral on W.
	_ "github.com/toolbrain/toolbrain/core/train/dotgrad"
)

// xWT is x·Wᵀ over x's last axis, as core/model's Linear computes it.
func xWT(x, w *Node) *Node { return DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{1}, nil) }

// splitXWT is x·Wᵀ with W viewed as [2, out/2, in] and x broadcast to a
// batch of 2, the split core/model uses for decode-sized products.
func splitXWT(x, w *Node) *Node {
	out, in := w.Shape().Dimensions[0], w.Shape().Dimensions[1]
	rows := x.Shape().Size() / in
	xs := BroadcastToDims(Reshape(x, 1, rows, in), 2, rows, in)
	y := DotGeneral(xs, []int{2}, []int{0}, Reshape(w, 2, out/2, in), []int{2}, []int{0})
	return Reshape(TransposeAllAxes(y, 1, 0, 2), rows, out)
}

// TestCodedDot: products with int8 and NF4 weights dequantised by
// core/quant's graph functions run on the codes (counted), agree bit for
// bit with the same kernel dequantising first (fusequant=false), and with
// the pure-Go backend within the conformance tolerance; on every CPU path.
func TestCodedDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	weights := func(out, in int) []float32 {
		w := make([]float32, out*in)
		for i := range w {
			w[i] = rng.Float32()*2 - 1
		}
		return w
	}
	nf4 := func(out, in int, opts quant.NF4Options) *quant.NF4 {
		q, err := quant.QuantizeNF4(weights(out, in), []int{out, in}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	q4 := nf4(64, 96, quant.NF4Options{})
	q4big := nf4(130, 320, quant.NF4Options{BlockSize: 32})
	q4nested := nf4(32, 128, quant.NF4Options{DoubleQuant: true})
	q4partial := nf4(3, 50, quant.NF4Options{}) // 150 values: a partial last block
	q8, err := quant.QuantizeInt8(weights(48, 80), 48, 80)
	if err != nil {
		t.Fatal(err)
	}
	nf4In := func(q *quant.NF4) []*tensors.Tensor {
		return []*tensors.Tensor{
			tensors.FromFlatDataAndDimensions(q.Packed, len(q.Packed), 1),
			tensors.FromFlatDataAndDimensions(q.Absmax, len(q.Absmax)),
		}
	}
	dequant4 := func(q *quant.NF4) func(in []*Node) *Node {
		return func(in []*Node) *Node { return quant.DequantizeNF4Graph(in[1], in[2], q.Shape, q.BlockSize) }
	}
	x := func(dims ...int) *tensors.Tensor { return randomTensor(rng, f32(dims...)) }
	tests := []struct {
		name   string
		fn     func(in []*Node) *Node
		inputs []*tensors.Tensor
		fused  int64 // products run on the codes
	}{
		{name: "nf4/decode x·Wᵀ", fn: func(in []*Node) *Node { return xWT(in[0], dequant4(q4)(in)) },
			inputs: append([]*tensors.Tensor{x(4, 1, 96)}, nf4In(q4)...), fused: 1},
		{name: "nf4/prefill x·Wᵀ", fn: func(in []*Node) *Node { return xWT(in[0], dequant4(q4big)(in)) },
			inputs: append([]*tensors.Tensor{x(3, 17, 320)}, nf4In(q4big)...), fused: 1},
		{name: "nf4/split x·Wᵀ", fn: func(in []*Node) *Node { return splitXWT(in[0], dequant4(q4)(in)) },
			inputs: append([]*tensors.Tensor{x(5, 96)}, nf4In(q4)...), fused: 1},
		{name: "nf4/backward dY·W", fn: func(in []*Node) *Node {
			return DotGeneral(in[0], []int{2}, nil, dequant4(q4big)(in), []int{0}, nil)
		}, inputs: append([]*tensors.Tensor{x(2, 9, 130)}, nf4In(q4big)...), fused: 1},
		{name: "nf4/double quant (constants)", fn: func(in []*Node) *Node {
			return xWT(in[0], q4nested.DequantizeGraph(in[0].Graph()))
		}, inputs: []*tensors.Tensor{x(6, 128)}, fused: 1},
		{name: "nf4/partial block runs as written", fn: func(in []*Node) *Node { return xWT(in[0], dequant4(q4partial)(in)) },
			inputs: append([]*tensors.Tensor{x(7, 50)}, nf4In(q4partial)...), fused: 0},
		{name: "nf4/weight as lhs runs as written", fn: func(in []*Node) *Node {
			return DotGeneral(dequant4(q4)(in), []int{1}, nil, in[0], []int{1}, nil)
		}, inputs: append([]*tensors.Tensor{x(5, 96)}, nf4In(q4)...), fused: 0},
		{name: "int8/x·Wᵀ·scale", fn: func(in []*Node) *Node {
			y := xWT(in[0], ConvertDType(in[1], dtypes.Float32))
			return Mul(y, ExpandLeftToRank(quant.Int8RowScaleGraph(in[2]), y.Rank()))
		}, inputs: []*tensors.Tensor{x(8, 80), tensors.FromFlatDataAndDimensions(q8.Q, 48, 80), tensors.FromFlatDataAndDimensions(q8.SCB, 48)}, fused: 1},
		{name: "int8/backward dY·W", fn: func(in []*Node) *Node {
			return DotGeneral(in[0], []int{1}, nil, ConvertDType(in[1], dtypes.Float32), []int{0}, nil)
		}, inputs: []*tensors.Tensor{x(33, 48), tensors.FromFlatDataAndDimensions(q8.Q, 48, 80)}, fused: 1},
		{name: "nf4/gradient through x", fn: func(in []*Node) *Node {
			w := dequant4(q4)(in)
			y := xWT(in[0], w)
			return Gradient(ReduceAllSum(Mul(y, y)), in[0])[0]
		}, inputs: append([]*tensors.Tensor{x(12, 96)}, nf4In(q4)...), fused: 2},
	}
	want := reference(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, err := run(want, tt.fn, tt.inputs)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"avx512", "avx2", "generic"} {
				fused, err1 := cpu.New("kernel=" + k)
				plain, err2 := cpu.New("kernel=" + k + ",fusequant=false")
				if err1 != nil || err2 != nil {
					continue // not on this CPU
				}
				got := runOn(t, fused, tt.fn, tt.inputs)
				if n := fused.CodedDots(); n != tt.fused {
					t.Errorf("%s: %d products on codes, want %d", k, n, tt.fused)
				}
				same := runOn(t, plain, tt.fn, tt.inputs)
				if n := plain.CodedDots(); n != 0 {
					t.Errorf("%s: fusequant=false ran %d products on codes", k, n)
				}
				if err := sameBits(got, same); err != nil {
					t.Errorf("%s: fused vs dequantised first: %v", k, err)
				}
				if err := sameTensor(got, ref); err != nil {
					t.Errorf("%s: vs simplego: %v", k, err)
				}
			}
		})
	}
}

func runOn(t *testing.T, b backends.Backend, fn func([]*Node) *Node, inputs []*tensors.Tensor) *tensors.Tensor {
	t.Helper()
	t.Cleanup(b.Finalize)
	out, err := run(b, fn, inputs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameBits(got, want *tensors.Tensor) error {
	g, w := tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)
	if !got.Shape().Equal(want.Shape()) {
		return fmt.Errorf("shape %s, want %s", got.Shape(), want.Shape())
	}
	for i := range w {
		if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
			return fmt.Errorf("element %d = %v, want %v", i, g[i], w[i])
		}
	}
	return nil
}
