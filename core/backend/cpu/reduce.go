package cpu

import (
	"math"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

func init() {
	for _, op := range []backends.OpType{
		backends.OpTypeReduceSum, backends.OpTypeReduceProduct, backends.OpTypeReduceMax, backends.OpTypeReduceMin,
		backends.OpTypeReduceLogicalAnd, backends.OpTypeReduceLogicalOr, backends.OpTypeArgMinMax,
	} {
		implemented[op] = true
	}
}

// reduction says how to combine a dtype's elements.
type reduction[T any] struct {
	init T
	fn   func(acc, v T) T
}

func (b *Builder) ReduceSum(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceSum, x, axes)
}
func (b *Builder) ReduceProduct(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceProduct, x, axes)
}
func (b *Builder) ReduceMax(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceMax, x, axes)
}
func (b *Builder) ReduceMin(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceMin, x, axes)
}
func (b *Builder) ReduceLogicalAnd(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceLogicalAnd, x, axes)
}
func (b *Builder) ReduceLogicalOr(x backends.Op, axes ...int) (backends.Op, error) {
	return b.reduce(backends.OpTypeReduceLogicalOr, x, axes)
}

// reduceLayout is a reduction rewritten on a 3-D view [outer, red, inner]
// of the (possibly transposed) operand: out[o, i] = ⊕_r in[o, r, i].
type reduceLayout struct {
	outer, red, inner int
	transpose         *view // non-nil: copy the operand to this view first
}

func planReduce(in shapes.Shape, axes []int) reduceLayout {
	rank := in.Rank()
	reduced := make([]bool, rank)
	for _, a := range axes {
		reduced[a] = true
	}
	// Contiguous run of reduced axes [lo, hi)?
	lo, hi := rank, 0
	for a, r := range reduced {
		if r {
			lo, hi = min(lo, a), max(hi, a+1)
		}
	}
	prod := func(ds []int) int {
		p := 1
		for _, d := range ds {
			p *= d
		}
		return p
	}
	if len(axes) == 0 {
		return reduceLayout{outer: in.Size(), red: 1, inner: 1}
	}
	contiguous := true
	for a := lo; a < hi; a++ {
		contiguous = contiguous && reduced[a]
	}
	if contiguous {
		return reduceLayout{outer: prod(in.Dimensions[:lo]), red: prod(in.Dimensions[lo:hi]), inner: prod(in.Dimensions[hi:])}
	}
	// Move the reduced axes last.
	var perm []int
	for a := range rank {
		if !reduced[a] {
			perm = append(perm, a)
		}
	}
	kept := len(perm)
	for a := range rank {
		if reduced[a] {
			perm = append(perm, a)
		}
	}
	st := in.Strides()
	v := &view{dims: make([]int, rank), strides: make([]int, rank)}
	for i, p := range perm {
		v.dims[i], v.strides[i] = in.Dimensions[p], st[p]
	}
	return reduceLayout{outer: prod(v.dims[:kept]), red: prod(v.dims[kept:]), inner: 1, transpose: v}
}

func (b *Builder) reduce(op backends.OpType, x backends.Op, axes []int) (backends.Op, error) {
	ns, err := b.nodesOf(op, x)
	if err != nil {
		return nil, err
	}
	in := ns[0].shape
	if len(axes) == 0 { // no axes: the whole array
		for a := range in.Rank() {
			axes = append(axes, a)
		}
	}
	out, err := shapeinference.ReduceOp(in, axes)
	if err != nil {
		return nil, err
	}
	axes = slices.Clone(axes)
	slices.Sort(axes)
	axes = slices.Compact(axes)
	layout := planReduce(in, axes)
	run := reduceKernel(op, in.DType, layout)
	if run == nil {
		return nil, unsupportedDType(op, in.DType)
	}
	esize := in.DType.Size()
	return b.add(op, out, ns, func(args []*buffer) *buffer {
		src := args[0]
		o := b.backend.alloc(out)
		if layout.transpose != nil {
			t := b.backend.alloc(in)
			gatherView(rawBytes(t), rawBytes(src), esize, *layout.transpose)
			run(o.flat, t.flat)
			b.backend.release(t)
			return o
		}
		run(o.flat, src.flat)
		return o
	}), nil
}

func reduceKernel(op backends.OpType, dt dtypes.DType, l reduceLayout) func(out, in any) {
	switch dt {
	case dtypes.Float32:
		return numberReduce(op, l, float32(math.Inf(-1)), float32(math.Inf(1)))
	case dtypes.Float64:
		return numberReduce(op, l, math.Inf(-1), math.Inf(1))
	case dtypes.Int8:
		return numberReduce[int8](op, l, math.MinInt8, math.MaxInt8)
	case dtypes.Int16:
		return numberReduce[int16](op, l, math.MinInt16, math.MaxInt16)
	case dtypes.Int32:
		return numberReduce[int32](op, l, math.MinInt32, math.MaxInt32)
	case dtypes.Int64:
		return numberReduce[int64](op, l, math.MinInt64, math.MaxInt64)
	case dtypes.Uint8:
		return numberReduce[uint8](op, l, 0, math.MaxUint8)
	case dtypes.Uint16:
		return numberReduce[uint16](op, l, 0, math.MaxUint16)
	case dtypes.Uint32:
		return numberReduce[uint32](op, l, 0, math.MaxUint32)
	case dtypes.Uint64:
		return numberReduce[uint64](op, l, 0, math.MaxUint64)
	case dtypes.Bool:
		switch op {
		case backends.OpTypeReduceLogicalAnd:
			return reduceWith(l, reduction[bool]{init: true, fn: func(a, v bool) bool { return a && v }})
		case backends.OpTypeReduceLogicalOr:
			return reduceWith(l, reduction[bool]{init: false, fn: func(a, v bool) bool { return a || v }})
		}
	}
	return nil
}

func numberReduce[T number](op backends.OpType, l reduceLayout, lowest, highest T) func(out, in any) {
	switch op {
	case backends.OpTypeReduceSum:
		var zero T
		switch any(zero).(type) {
		case float32, float64:
			// Float sums accumulate in float64: reductions over a whole
			// batch of tokens then barely depend on how it is split.
			return func(out, in any) { sumLayout[T, float64](out.([]T), in.([]T), l) }
		}
		return func(out, in any) { sumLayout[T, T](out.([]T), in.([]T), l) }
	case backends.OpTypeReduceProduct:
		return reduceWith(l, reduction[T]{init: 1, fn: func(a, v T) T { return a * v }})
	case backends.OpTypeReduceMax:
		return reduceWith(l, reduction[T]{init: lowest, fn: func(a, v T) T { return max(a, v) }})
	case backends.OpTypeReduceMin:
		return reduceWith(l, reduction[T]{init: highest, fn: func(a, v T) T { return min(a, v) }})
	}
	return nil
}

// sumLayout sums over the layout's reduced axis, accumulating in A.
func sumLayout[T, A number](out, in []T, l reduceLayout) {
	if l.inner == 1 {
		for o := range out {
			var s A
			for _, v := range in[o*l.red : o*l.red+l.red] {
				s += A(v)
			}
			out[o] = T(s)
		}
		return
	}
	acc := make([]A, l.inner)
	for o := range l.outer {
		clear(acc)
		for k := range l.red {
			src := in[(o*l.red+k)*l.inner : (o*l.red+k+1)*l.inner]
			for i, v := range src[:len(acc)] {
				acc[i] += A(v)
			}
		}
		dst := out[o*l.inner : (o+1)*l.inner]
		for i, v := range acc {
			dst[i] = T(v)
		}
	}
}

func reduceWith[T any](l reduceLayout, r reduction[T]) func(out, in any) {
	return func(outAny, inAny any) {
		out, in := outAny.([]T), inAny.([]T)
		for i := range out {
			out[i] = r.init
		}
		for o := range l.outer {
			dst := out[o*l.inner : (o+1)*l.inner]
			for k := range l.red {
				src := in[(o*l.red+k)*l.inner : (o*l.red+k+1)*l.inner]
				for i, v := range src {
					dst[i] = r.fn(dst[i], v)
				}
			}
		}
	}
}

// ArgMinMax returns the index of the first smallest (isMin) or largest
// element along axis.
func (b *Builder) ArgMinMax(x backends.Op, axis int, outputDType dtypes.DType, isMin bool) (backends.Op, error) {
	op := backends.OpTypeArgMinMax
	ns, err := b.nodesOf(op, x)
	if err != nil {
		return nil, err
	}
	in := ns[0].shape
	out, err := shapeinference.ArgMinMaxOp(in, axis, outputDType)
	if err != nil {
		return nil, err
	}
	if !outputDType.IsInt() || !supportedDTypes[outputDType] {
		return nil, unsupportedDType(op, outputDType)
	}
	l := planReduce(in, []int{axis})
	var run func(in any) []int64
	switch in.DType {
	case dtypes.Float32:
		run = func(in any) []int64 { return argBest(in.([]float32), l, isMin) }
	case dtypes.Float64:
		run = func(in any) []int64 { return argBest(in.([]float64), l, isMin) }
	case dtypes.Int8:
		run = func(in any) []int64 { return argBest(in.([]int8), l, isMin) }
	case dtypes.Int16:
		run = func(in any) []int64 { return argBest(in.([]int16), l, isMin) }
	case dtypes.Int32:
		run = func(in any) []int64 { return argBest(in.([]int32), l, isMin) }
	case dtypes.Int64:
		run = func(in any) []int64 { return argBest(in.([]int64), l, isMin) }
	case dtypes.Uint8:
		run = func(in any) []int64 { return argBest(in.([]uint8), l, isMin) }
	case dtypes.Uint16:
		run = func(in any) []int64 { return argBest(in.([]uint16), l, isMin) }
	case dtypes.Uint32:
		run = func(in any) []int64 { return argBest(in.([]uint32), l, isMin) }
	case dtypes.Uint64:
		run = func(in any) []int64 { return argBest(in.([]uint64), l, isMin) }
	default:
		return nil, unsupportedDType(op, in.DType)
	}
	return b.add(op, out, ns, func(args []*buffer) *buffer {
		o := b.backend.alloc(out)
		convert(o.flat, run(args[0].flat))
		return o
	}), nil
}

// argBest: NaN counts as the best value (as in XLA), first one wins.
func argBest[T number](in []T, l reduceLayout, isMin bool) []int64 {
	res := make([]int64, l.outer*l.inner)
	for o := range l.outer {
		for i := range l.inner {
			best, bi := in[o*l.red*l.inner+i], 0
			for k := 1; k < l.red; k++ {
				v := in[(o*l.red+k)*l.inner+i]
				if best != best {
					break
				}
				if v != v || (isMin && v < best) || (!isMin && v > best) {
					best, bi = v, k
				}
			}
			res[o*l.inner+i] = int64(bi)
		}
	}
	return res
}
