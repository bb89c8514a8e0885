package cpu

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

func init() {
	implemented[backends.OpTypeGather] = true
	implemented[backends.OpTypeScatterSum] = true
}

// indexVectors reads an indices tensor as a list of index vectors: the
// vector axis holds each vector (an axis equal to the rank means vectors
// of length one); the other axes, in order, enumerate them.
type indexVectors struct {
	count, length int
	view          view // [count…, length] over the indices
}

func planIndices(s shapes.Shape, vectorAxis int) indexVectors {
	st := s.Strides()
	v := view{}
	length, lstride := 1, 0
	for a, d := range s.Dimensions {
		if a == vectorAxis {
			length, lstride = d, st[a]
			continue
		}
		v.dims = append(v.dims, d)
		v.strides = append(v.strides, st[a])
	}
	count := 1
	for _, d := range v.dims {
		count *= d
	}
	v.dims = append(v.dims, length)
	v.strides = append(v.strides, lstride)
	return indexVectors{count: count, length: length, view: v}
}

// read returns the index vectors as ints, one vector after another.
func (p indexVectors) read(b *buffer) []int {
	n := p.count * p.length
	dense := newBuffer(shapes.Make(b.shape.DType, n))
	gatherView(rawBytes(dense), rawBytes(b), b.shape.DType.Size(), p.view)
	idx := make([]int64, n)
	convert(idx, dense.flat)
	out := make([]int, n)
	for i, v := range idx {
		out[i] = int(v)
	}
	return out
}

// Gather copies one slice of operand per index vector, as XLA's Gather:
// start indices are clamped so that each slice fits.
func (b *Builder) Gather(operand, startIndices backends.Op, indexVectorAxis int, offsetOutputAxes, collapsedSliceAxes,
	startIndexMap, sliceSizes []int, indicesAreSorted bool) (backends.Op, error) {
	op := backends.OpTypeGather
	ns, err := b.nodesOf(op, operand, startIndices)
	if err != nil {
		return nil, err
	}
	in, is := ns[0].shape, ns[1].shape
	out, err := shapeinference.Gather(in, is, indexVectorAxis, offsetOutputAxes, collapsedSliceAxes, startIndexMap, sliceSizes, indicesAreSorted)
	if err != nil {
		return nil, err
	}
	if !is.DType.IsInt() {
		return nil, unsupportedDType(op, is.DType)
	}
	iv := planIndices(is, indexVectorAxis)
	startIndexMap, sliceSizes = slices.Clone(startIndexMap), slices.Clone(sliceSizes)
	st := in.Strides()
	esize := in.DType.Size()
	block := 1
	for _, d := range sliceSizes {
		block *= d
	}
	// The slices are gathered as [vectors…, slice…]; fix the axis order
	// when the output interleaves them differently.
	nBatch := out.Rank() - len(offsetOutputAxes)
	var batchDims, offsetDims []int
	perm := make([]int, out.Rank())
	bi := 0
	for o := range out.Rank() {
		if j := slices.Index(offsetOutputAxes, o); j >= 0 {
			perm[o] = nBatch + j
			offsetDims = append(offsetDims, out.Dimensions[o])
		} else {
			perm[o] = bi
			batchDims = append(batchDims, out.Dimensions[o])
			bi++
		}
	}
	tmpShape := shapes.Make(out.DType, append(batchDims, offsetDims...)...)
	inOrder := true
	for o, p := range perm {
		inOrder = inOrder && o == p
	}
	var fix view
	if !inOrder {
		tst := tmpShape.Strides()
		fix = view{dims: out.Dimensions, strides: make([]int, out.Rank())}
		for o, p := range perm {
			fix.strides[o] = tst[p]
		}
	}
	n := b.add(op, out, ns, func(args []*buffer) *buffer {
		idx := iv.read(args[1])
		tmp := b.backend.alloc(tmpShape)
		dst, src := rawBytes(tmp), rawBytes(args[0])
		v := view{dims: sliceSizes, strides: st}
		for g := range iv.count {
			v.base = 0
			for k, a := range startIndexMap {
				s := max(0, min(idx[g*iv.length+k], in.Dimensions[a]-sliceSizes[a]))
				v.base += s * st[a]
			}
			gatherView(dst[g*block*esize:(g+1)*block*esize], src, esize, v)
		}
		if inOrder {
			return &buffer{shape: out, flat: tmp.flat}
		}
		o := b.backend.alloc(out)
		gatherView(rawBytes(o), dst, esize, fix)
		b.backend.release(tmp)
		return o
	})
	n.attrs = &gatherAttrs{indexVectorAxis: indexVectorAxis, offsetOutputAxes: slices.Clone(offsetOutputAxes),
		collapsedSliceAxes: slices.Clone(collapsedSliceAxes), startIndexMap: startIndexMap, sliceSizes: sliceSizes}
	return n, nil
}

// gatherAttrs are a Gather's parameters.
type gatherAttrs struct {
	indexVectorAxis                      int
	offsetOutputAxes, collapsedSliceAxes []int
	startIndexMap, sliceSizes            []int
}

// ScatterSum adds each window of updates into a copy of operand at its
// index vector, as XLA's Scatter with addition; windows that do not fit
// are skipped.
func (b *Builder) ScatterSum(operand, scatterIndices, updates backends.Op, indexVectorAxis int,
	updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes []int, indicesAreSorted, uniqueIndices bool) (backends.Op, error) {
	op := backends.OpTypeScatterSum
	ns, err := b.nodesOf(op, operand, scatterIndices, updates)
	if err != nil {
		return nil, err
	}
	in, is, us := ns[0].shape, ns[1].shape, ns[2].shape
	out, err := shapeinference.ScatterOp(in, is, us, indexVectorAxis, updateWindowAxes, insertedWindowAxes, scatterAxesToOperandAxes)
	if err != nil {
		return nil, err
	}
	if !is.DType.IsInt() {
		return nil, unsupportedDType(op, is.DType)
	}
	add := scatterAdder(in.DType)
	if add == nil {
		return nil, unsupportedDType(op, in.DType)
	}
	iv := planIndices(is, indexVectorAxis)
	// Updates as [scatter…, window…].
	ust := us.Strides()
	var order []int
	for a := range us.Rank() {
		if !slices.Contains(updateWindowAxes, a) {
			order = append(order, a)
		}
	}
	order = append(order, updateWindowAxes...)
	uview := view{dims: make([]int, us.Rank()), strides: make([]int, us.Rank())}
	for i, a := range order {
		uview.dims[i], uview.strides[i] = us.Dimensions[a], ust[a]
	}
	// The window in operand space: inserted axes have size 1.
	window := make([]int, in.Rank())
	wi := 0
	for a := range window {
		if slices.Contains(insertedWindowAxes, a) {
			window[a] = 1
			continue
		}
		window[a] = us.Dimensions[updateWindowAxes[wi]]
		wi++
	}
	block := 1
	for _, d := range window {
		block *= d
	}
	st := in.Strides()
	axesMap := slices.Clone(scatterAxesToOperandAxes)
	esize := us.DType.Size()
	// scatter adds the updates into o, which holds the operand's values.
	scatter := func(args []*buffer, o *buffer) {
		idx := iv.read(args[1])
		upd := b.backend.alloc(us)
		defer b.backend.release(upd)
		gatherView(rawBytes(upd), rawBytes(args[2]), esize, uview)
		v := view{dims: window, strides: st}
	vectors:
		for g := range iv.count {
			v.base = 0
			for k, a := range axesMap {
				s := idx[g*iv.length+k]
				if s < 0 || s+window[a] > in.Dimensions[a] {
					continue vectors
				}
				v.base += s * st[a]
			}
			add(o.flat, upd.flat, g*block, block, v)
		}
	}
	n := b.add(op, out, ns, func(args []*buffer) *buffer {
		o := b.backend.alloc(out)
		copy(rawBytes(o), rawBytes(args[0]))
		scatter(args, o)
		return o
	})
	// A KV-cache step scatters a few rows into a cache of hundreds of MB:
	// copying the operand dominated decoding. When the executor finds the
	// operand's storage dead after this op, the rows are added in place.
	n.inPlace = func(args []*buffer) *buffer {
		o := &buffer{shape: out, flat: args[0].flat}
		scatter(args, o)
		return o
	}
	return n, nil
}

// scatterAdder returns dst[v] += src[from : from+n] for dtype dt.
func scatterAdder(dt dtypes.DType) func(dst, src any, from, n int, v view) {
	switch dt {
	case dtypes.Float32:
		return addView[float32]
	case dtypes.Float64:
		return addView[float64]
	case dtypes.Int32:
		return addView[int32]
	case dtypes.Int64:
		return addView[int64]
	}
	return nil
}

func addView[T number](dstAny, srcAny any, from, n int, v view) {
	dst, src := dstAny.([]T), srcAny.([]T)[from:from+n]
	rank := len(v.dims)
	if rank == 0 {
		dst[v.base] += src[0]
		return
	}
	if n == 0 {
		return
	}
	last, s := v.dims[rank-1], v.strides[rank-1]
	idx := make([]int, rank-1)
	off := v.base
	for o := 0; o < n; o += last {
		for j, x := range src[o : o+last] {
			dst[off+j*s] += x
		}
		for a := rank - 2; a >= 0; a-- {
			idx[a]++
			off += v.strides[a]
			if idx[a] < v.dims[a] {
				break
			}
			off -= idx[a] * v.strides[a]
			idx[a] = 0
		}
	}
}
