package quant

import (
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The benchmark weight is Qwen2.5-0.5B's MLP down/up projection shape.
const benchRows, benchCols = 896, 4864

func BenchmarkQuantizeNF4(b *testing.B) {
	w := randWeights(1, benchRows*benchCols, 0.02)
	for _, bc := range []struct {
		name string
		opts NF4Options
	}{{"plain", NF4Options{}}, {"double_quant", NF4Options{DoubleQuant: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(4 * len(w)))
			for b.Loop() {
				if _, err := QuantizeNF4(w, []int{benchRows, benchCols}, bc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkQuantizeInt8(b *testing.B) {
	w := randWeights(1, benchRows*benchCols, 0.02)
	b.SetBytes(int64(4 * len(w)))
	for b.Loop() {
		if _, err := QuantizeInt8(w, benchRows, benchCols); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDequantizeNF4(b *testing.B) {
	q, err := QuantizeNF4(randWeights(1, benchRows*benchCols, 0.02), []int{benchRows, benchCols}, NF4Options{DoubleQuant: true})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(4 * benchRows * benchCols))
	for b.Loop() {
		_ = q.Dequantize()
	}
}

// BenchmarkLinear compares y = x·Wᵀ (x [8, 4864], W [896, 4864]) on the
// simplego backend with W as float32, as NF4 dequantized in the graph, and
// as int8 dequantized in the graph; the weights are graph parameters.
func BenchmarkLinear(b *testing.B) {
	const batch = 8
	w := randWeights(1, benchRows*benchCols, 0.02)
	x := tensors.FromFlatDataAndDimensions(randWeights(2, batch*benchCols, 1), batch, benchCols)
	nf4, err := QuantizeNF4(w, []int{benchRows, benchCols}, NF4Options{})
	if err != nil {
		b.Fatal(err)
	}
	i8, err := QuantizeInt8(w, benchRows, benchCols)
	if err != nil {
		b.Fatal(err)
	}
	linear := func(x, w *Node) *Node { return Einsum("bi,oi->bo", x, w) }
	cases := []struct {
		name string
		fn   any
		args []any
	}{
		{"float32", func(x, w *Node) *Node { return linear(x, w) },
			[]any{x, tensors.FromFlatDataAndDimensions(w, benchRows, benchCols)}},
		{"nf4", func(x, p, a *Node) *Node {
			return linear(x, DequantizeNF4Graph(p, a, []int{benchRows, benchCols}, DefaultNF4BlockSize))
		}, []any{x, tensors.FromFlatDataAndDimensions(nf4.Packed, len(nf4.Packed), 1),
			tensors.FromFlatDataAndDimensions(nf4.Absmax, len(nf4.Absmax))}},
		{"int8", func(x, q, s *Node) *Node { return linear(x, DequantizeInt8Graph(q, s)) },
			[]any{x, tensors.FromFlatDataAndDimensions(i8.Q, benchRows, benchCols),
				tensors.FromFlatDataAndDimensions(i8.SCB, benchRows)}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			exec, err := NewExecAny(backendOrSkip(b), bc.fn)
			if err != nil {
				b.Fatal(err)
			}
			defer exec.Finalize()
			if _, err := exec.Exec(bc.args...); err != nil { // compile outside the timing
				b.Fatal(err)
			}
			for b.Loop() {
				out, err := exec.Exec(bc.args...)
				if err != nil {
					b.Fatal(err)
				}
				out[0].FinalizeAll()
			}
		})
	}
}
