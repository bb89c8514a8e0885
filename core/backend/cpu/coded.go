package cpu

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/toolbrain/toolbrain/core/backend/cpu/internal/gemm"
)

// # Why quantised weights are recognised in the graph
//
// core/quant dequantises int8 and NF4 weights with ordinary graph ops
// (ConvertDType; a Gather on a 256-entry pair table, a multiply by the
// broadcast block absmax) so the same graph runs on every backend. Run
// as written, each such weight exists in float32 next to its matmul, and a
// training graph keeps it until the backward pass reuses it: a QLoRA step
// then held more memory than a LoRA one. gomlx v0.26's backend interface
// has a fixed op set (no custom call), so DotGeneral recognises a float32
// rhs built by exactly those ops, through any Reshapes, and multiplies
// with the stored codes directly: the GEMM decodes them panel by panel
// (internal/gemm.Coded). The dequantising nodes then have no reader left
// and are not run. Anything that does not match exactly (a partial NF4
// block padded with Concatenate, a weight as lhs, a layout needing a
// transposed copy) runs as written. Option fusequant=false turns the
// recognition off.

// codedWeight is a float32 weight the graph dequantises from codes.
type codedWeight struct {
	kind string // "int8" or "nf4"
	// inputs: int8: the Int8 codes; nf4: the Uint8 packed codes, the
	// Float32 [256, 2] pair table and the Float32 block absmax.
	inputs    []*node
	blockSize int // nf4
}

// decoder builds the weight's decoder from its inputs' buffers.
func (c *codedWeight) decoder(in []*buffer) gemm.Decoder {
	if c.kind == "int8" {
		return gemm.Int8Codes(in[0].flat.([]int8))
	}
	return gemm.NewNF4Codes(in[0].flat.([]uint8), in[1].flat.([]float32), in[2].flat.([]float32), c.blockSize)
}

// skipReshapes returns the node a chain of Reshapes starts from.
func skipReshapes(n *node) *node {
	for n.op == backends.OpTypeReshape {
		n = n.inputs[0]
	}
	return n
}

// matchCoded returns how w is dequantised, or nil when it is not a weight
// core/quant's graph functions dequantise.
func (b *Builder) matchCoded(w *node) *codedWeight {
	if b.backend.noFuseQuant || w.shape.DType != dtypes.Float32 {
		return nil
	}
	n := skipReshapes(w)
	switch n.op {
	case backends.OpTypeConvertDType:
		if q := n.inputs[0]; q.shape.DType == dtypes.Int8 {
			return &codedWeight{kind: "int8", inputs: []*node{q}}
		}
	case backends.OpTypeMul:
		x, y := n.inputs[0], n.inputs[1]
		if c := matchNF4(x, y, n.shape); c != nil {
			return c
		}
		return matchNF4(y, x, n.shape)
	}
	return nil
}

// matchNF4 matches codes·scale of shape out [nb, bs] where scale
// broadcasts nb block absmax values along the block and codes reshapes a
// Gather of one row of a [256, 2] pair table per Uint8 packed byte:
// value i is pairs[packed[i/2], i%2]·absmax[i/bs].
func matchNF4(codes, scale *node, out shapes.Shape) *codedWeight {
	if out.Rank() != 2 || out.DType != dtypes.Float32 || scale.op != backends.OpTypeBroadcastInDim {
		return nil
	}
	nb, bs := out.Dimensions[0], out.Dimensions[1]
	v, ok := scale.attrs.(view)
	absmax := scale.inputs[0]
	if !ok || absmax.shape.Size() != nb || absmax.shape.DType != dtypes.Float32 ||
		!slices.Equal(v.dims, out.Dimensions) || v.strides[1] != 0 || nb > 1 && v.strides[0] != 1 {
		return nil
	}
	g := skipReshapes(codes)
	ga, ok := g.attrs.(*gatherAttrs)
	if !ok || g.op != backends.OpTypeGather {
		return nil
	}
	pairs, idx := g.inputs[0], g.inputs[1]
	is := idx.shape
	vectorLen := 1 // the index vector axis may be implicit (= rank)
	if ga.indexVectorAxis < is.Rank() {
		vectorLen = is.Dimensions[ga.indexVectorAxis]
	}
	gr := g.shape.Rank()
	if !pairs.shape.Equal(shapes.Make(dtypes.Float32, 256, 2)) || is.DType != dtypes.Uint8 || vectorLen != 1 ||
		ga.indexVectorAxis < is.Rank()-1 || 2*is.Size() != nb*bs || g.shape.Size() != nb*bs ||
		!slices.Equal(ga.sliceSizes, []int{1, 2}) || !slices.Equal(ga.startIndexMap, []int{0}) ||
		!slices.Equal(ga.collapsedSliceAxes, []int{0}) || !slices.Equal(ga.offsetOutputAxes, []int{gr - 1}) {
		return nil
	}
	return &codedWeight{kind: "nf4", inputs: []*node{idx, pairs, absmax}, blockSize: bs}
}

// codedDot adds the DotGeneral of lhs and the coded weight w planned as d.
func (b *Builder) codedDot(out shapes.Shape, d dotPlan, lhs *node, w *codedWeight) *node {
	n := b.addSplitting(backends.OpTypeDotGeneral, out, append([]*node{lhs}, w.inputs...), func(args []*buffer) *buffer {
		l := args[0]
		if d.lhs.transpose != nil {
			l = b.backend.transposed(l, *d.lhs.transpose)
			defer b.backend.release(l)
		}
		o := b.backend.alloc(out)
		d.coded(o.flat.([]float32), l.flat.([]float32), w.decoder(args[1:]))
		return o
	})
	n.attrs = w
	b.backend.codedDots.Add(1)
	return n
}
