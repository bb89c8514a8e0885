package quant

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // gomlx graph code reads best with the dot import.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The graph functions below follow gomlx conventions: they panic on shape
// errors (with an error wrapping ErrShape), which are programmer errors once the
// tensors have passed ReadNF4/ReadInt8 or come from QuantizeNF4/Int8; gomlx
// turns such panics into errors at Exec time.
//
// # Why a 256-entry lookup table for NF4
//
// The pure-Go backend has no shift ops. Instead of splitting nibbles with
// Div/BitwiseAnd and gathering twice, every byte value is mapped to its two
// dequantized codes at once: Gather on a [256, 2] table built from the
// 16-entry map. One Gather with uint8 indices, then one multiply by the
// block absmax; the same two roundings as the Go code, so the results are
// bit-identical.

// DequantizeInt8Graph dequantizes an int8 weight inside the graph: q is Int8
// [rows, cols], scb is Float32 [rows]; the result is Float32 [rows, cols]
// equal bit for bit to [Int8.Dequantize].
func DequantizeInt8Graph(q, scb *Node) *Node {
	if q.DType() != dtypes.Int8 || q.Rank() != 2 {
		panicf("quant.DequantizeInt8Graph: q must be Int8 [rows, cols], got %s", q.Shape())
	}
	rows, cols := q.Shape().Dimensions[0], q.Shape().Dimensions[1]
	if scb.DType() != dtypes.Float32 || scb.Rank() != 1 || scb.Shape().Dimensions[0] != rows {
		panicf("quant.DequantizeInt8Graph: scb must be Float32 [%d], got %s", rows, scb.Shape())
	}
	scale := BroadcastToDims(Reshape(scb, rows, 1), rows, cols)
	w := Mul(ConvertDType(q, dtypes.Float32), scale)
	return Mul(w, Scalar(q.Graph(), dtypes.Float32, int8Recip))
}

// Int8RowScaleGraph returns the per-output-row factor of an int8 weight,
// SCB/127, so that x·Wᵀ = (x·float(q)ᵀ)·scale row by row: multiplying the
// [rows, out] product instead of the [out, in] weight saves a pass over the
// whole weight per call. The result differs from DequantizeInt8Graph's
// weights by float32 rounding only.
func Int8RowScaleGraph(scb *Node) *Node {
	if scb.DType() != dtypes.Float32 || scb.Rank() != 1 {
		panicf("quant.Int8RowScaleGraph: scb must be Float32 [rows], got %s", scb.Shape())
	}
	return Mul(scb, Scalar(scb.Graph(), dtypes.Float32, int8Recip))
}

// DequantizeGraph adds q's codes and scales to g as constants and returns the
// dequantized Float32 [Rows, Cols] weight.
func (q *Int8) DequantizeGraph(g *Graph) *Node {
	return DequantizeInt8Graph(
		Const(g, tensors.FromFlatDataAndDimensions(q.Q, q.Rows, q.Cols)),
		Const(g, tensors.FromFlatDataAndDimensions(q.SCB, q.Rows)))
}

// DequantizeNF4Graph dequantizes NF4 codes inside the graph with the standard
// [NF4Code] table: packed is Uint8 with ceil(n/2) elements (any shape, e.g.
// bitsandbytes' [ceil(n/2), 1]), absmax is Float32 with ceil(n/blockSize)
// elements, where n is the product of shape. The result is Float32 of the
// given shape, equal bit for bit to [NF4.Dequantize].
func DequantizeNF4Graph(packed, absmax *Node, shape []int, blockSize int) *Node {
	return DequantizeNF4GraphWithMap(packed, absmax, Const(packed.Graph(), NF4Code[:]), shape, blockSize)
}

// DequantizeNF4GraphWithMap is [DequantizeNF4Graph] with the 4-bit code table
// given as a Float32 [16] node (a checkpoint's weight.quant_map).
func DequantizeNF4GraphWithMap(packed, absmax, quantMap *Node, shape []int, blockSize int) *Node {
	n, err := numElements(shape)
	if err != nil {
		panicf("quant.DequantizeNF4Graph: %v", err)
	}
	if blockSize <= 0 {
		panicf("quant.DequantizeNF4Graph: block size %d", blockSize)
	}
	if packed.DType() != dtypes.Uint8 || packed.Shape().Size() != (n+1)/2 {
		panicf("quant.DequantizeNF4Graph: packed must be Uint8 with %d elements for shape %v, got %s",
			(n+1)/2, shape, packed.Shape())
	}
	if quantMap.DType() != dtypes.Float32 || quantMap.Shape().Size() != 16 {
		panicf("quant.DequantizeNF4Graph: quantMap must be Float32 [16], got %s", quantMap.Shape())
	}
	g := packed.Graph()
	// lut[b] = (map[b>>4], map[b&15]) for every byte value b.
	idx := make([][][]int32, 256)
	for b := range idx {
		idx[b] = [][]int32{{int32(b >> 4)}, {int32(b & 15)}}
	}
	// quantMap as [16, 1]: simplego wants the index vector axis to be an
	// axis of the operand too.
	lut := Reshape(Gather(Reshape(quantMap, 16, 1), Const(g, idx)), 256, 2)
	m := (n + 1) / 2
	codes := Reshape(Gather(lut, Reshape(packed, m, 1)), 2*m) // [2m]
	return Reshape(scaleBlocks(codes, absmax, n, blockSize, "DequantizeNF4Graph"), shape...)
}

// scaleBlocks returns the first n values of x (at least n long), each
// multiplied by absmax[i/blockSize].
func scaleBlocks(x, absmax *Node, n, blockSize int, who string) *Node {
	nb := (n + blockSize - 1) / blockSize
	if absmax.DType() != dtypes.Float32 || absmax.Shape().Size() != nb {
		panicf("quant.%s: absmax must be Float32 with %d elements, got %s", who, nb, absmax.Shape())
	}
	g := x.Graph()
	size := x.Shape().Size()
	switch {
	case size > nb*blockSize:
		x = Slice(x, AxisRange(0, nb*blockSize))
	case size < nb*blockSize:
		// The partial last block: pad with zeros so the blocks reshape evenly.
		x = Concatenate([]*Node{x, Zeros(g, shapes.Make(x.DType(), nb*blockSize-size))}, 0)
	}
	scaled := Mul(Reshape(x, nb, blockSize), BroadcastToDims(Reshape(absmax, nb, 1), nb, blockSize))
	scaled = Reshape(scaled, nb*blockSize)
	if nb*blockSize != n {
		scaled = Slice(scaled, AxisRange(0, n))
	}
	return scaled
}

// DequantizeNestedAbsmaxGraph dequantizes double-quantized block absmax values
// inside the graph: q is Uint8 [nb] (weight.absmax), nestedAbsmax Float32
// [ceil(nb/nestedBlockSize)], code Float32 [256] (weight.nested_quant_map).
// The result, Float32 [nb], is float32(code[q]*nestedAbsmax) + offset, equal
// bit for bit to [NestedAbsmax.Values].
func DequantizeNestedAbsmaxGraph(q, nestedAbsmax, code *Node, offset float32, nestedBlockSize int) *Node {
	if q.DType() != dtypes.Uint8 {
		panicf("quant.DequantizeNestedAbsmaxGraph: q must be Uint8, got %s", q.Shape())
	}
	if code.DType() != dtypes.Float32 || code.Shape().Size() != 256 {
		panicf("quant.DequantizeNestedAbsmaxGraph: code must be Float32 [256], got %s", code.Shape())
	}
	if nestedBlockSize <= 0 {
		panicf("quant.DequantizeNestedAbsmaxGraph: block size %d", nestedBlockSize)
	}
	nb := q.Shape().Size()
	vals := Gather(Reshape(code, 256, 1), Reshape(q, nb, 1)) // [nb, 1]
	vals = scaleBlocks(Reshape(vals, nb), nestedAbsmax, nb, nestedBlockSize, "DequantizeNestedAbsmaxGraph")
	return Add(vals, Scalar(q.Graph(), dtypes.Float32, offset))
}

// DequantizeGraph adds q's tensors to g as constants (packed uint8 codes,
// absmax or nested absmax, code tables) and returns the dequantized Float32
// weight of shape q.Shape.
func (q *NF4) DequantizeGraph(g *Graph) *Node {
	packed := Const(g, tensors.FromFlatDataAndDimensions(q.Packed, len(q.Packed)))
	var absmax *Node
	if a := q.Nested; a != nil {
		absmax = DequantizeNestedAbsmaxGraph(
			Const(g, tensors.FromFlatDataAndDimensions(a.Q, len(a.Q))),
			Const(g, tensors.FromFlatDataAndDimensions(a.Absmax, len(a.Absmax))),
			Const(g, tensors.FromFlatDataAndDimensions(a.Code, len(a.Code))),
			a.Offset, a.BlockSize)
	} else {
		absmax = Const(g, tensors.FromFlatDataAndDimensions(q.Absmax, len(q.Absmax)))
	}
	return DequantizeNF4GraphWithMap(packed, absmax, Const(g, q.QuantMap[:]), q.Shape, q.BlockSize)
}

// panicf panics with an error wrapping ErrShape, the way gomlx graph
// builders report misuse.
func panicf(format string, args ...any) {
	panic(fmt.Errorf(format+": %w", append(args, ErrShape)...))
}
