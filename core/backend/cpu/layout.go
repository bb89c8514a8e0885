package cpu

import (
	"fmt"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

func init() {
	for _, op := range []backends.OpType{
		backends.OpTypeReshape, backends.OpTypeTranspose, backends.OpTypeBroadcastInDim, backends.OpTypeSlice,
		backends.OpTypeConcatenate, backends.OpTypeIota,
	} {
		implemented[op] = true
	}
}

// view is a strided read of a buffer: output element at index (i0, i1, …)
// of dims comes from element base + Σ i_d·strides[d] of the source.
type view struct {
	dims    []int
	strides []int
	base    int
}

// gatherView copies v of src into dst (dense, row-major over v.dims),
// moving whole elements of esize bytes.
func gatherView(dst, src []byte, esize int, v view) {
	switch esize {
	case 1:
		copyView(dst, src, v)
	case 2:
		copyView(asElems[uint16](dst), asElems[uint16](src), v)
	case 4:
		copyView(asElems[uint32](dst), asElems[uint32](src), v)
	case 8:
		copyView(asElems[uint64](dst), asElems[uint64](src), v)
	default:
		panic(fmt.Sprintf("cpu backend: element size %d", esize))
	}
}

func asElems[E uint16 | uint32 | uint64](b []byte) []E {
	var e E
	n := len(b) / int(unsafe.Sizeof(e))
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*E)(unsafe.Pointer(&b[0])), n)
}

// copyView walks dst in order, the last axis in an inner loop.
func copyView[E any](dst, src []E, v view) {
	rank := len(v.dims)
	if rank == 0 {
		if len(dst) > 0 {
			dst[0] = src[v.base]
		}
		return
	}
	total := 1
	for _, d := range v.dims {
		total *= d
	}
	if total == 0 {
		return
	}
	n, s := v.dims[rank-1], v.strides[rank-1]
	idx := make([]int, rank-1)
	off := v.base
	for o := 0; o < total; o += n {
		row := dst[o : o+n]
		if s == 1 {
			copy(row, src[off:off+n])
		} else {
			for j := range row {
				row[j] = src[off+j*s]
			}
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

// viewNode adds a node whose output is view v of its single input.
func (b *Builder) viewNode(op backends.OpType, out shapes.Shape, in *node, v view) *node {
	esize := out.DType.Size()
	return b.add(op, out, []*node{in}, func(ins []*buffer) *buffer {
		o := b.backend.alloc(out)
		gatherView(rawBytes(o), rawBytes(ins[0]), esize, v)
		return o
	})
}

func (b *Builder) Reshape(x backends.Op, dims ...int) (backends.Op, error) {
	op := backends.OpTypeReshape
	ns, err := b.nodesOf(op, x)
	if err != nil {
		return nil, err
	}
	out, err := shapeinference.ReshapeOp(ns[0].shape, dims)
	if err != nil {
		return nil, err
	}
	n := b.add(op, out, ns, func(ins []*buffer) *buffer {
		return &buffer{shape: out, flat: ins[0].flat}
	})
	n.alias = true
	return n, nil
}

func (b *Builder) Transpose(x backends.Op, perm ...int) (backends.Op, error) {
	op := backends.OpTypeTranspose
	ns, err := b.nodesOf(op, x)
	if err != nil {
		return nil, err
	}
	in := ns[0].shape
	out, err := shapeinference.TransposeOp(in, perm)
	if err != nil {
		return nil, err
	}
	st := in.Strides()
	v := view{dims: out.Dimensions, strides: make([]int, len(perm))}
	for i, p := range perm {
		v.strides[i] = st[p]
	}
	return b.viewNode(op, out, ns[0], v), nil
}

func (b *Builder) BroadcastInDim(x backends.Op, outShape shapes.Shape, axes []int) (backends.Op, error) {
	op := backends.OpTypeBroadcastInDim
	ns, err := b.nodesOf(op, x)
	if err != nil {
		return nil, err
	}
	in := ns[0].shape
	if err := shapeinference.BroadcastInDimOp(in, outShape, axes); err != nil {
		return nil, err
	}
	st := in.Strides()
	v := view{dims: outShape.Dimensions, strides: make([]int, outShape.Rank())}
	for i, a := range axes {
		if in.Dimensions[i] != 1 {
			v.strides[a] = st[i]
		}
	}
	n := b.viewNode(op, outShape, ns[0], v)
	n.attrs = v
	return n, nil
}

func (b *Builder) Slice(x backends.Op, starts, limits, strides []int) (backends.Op, error) {
	op := backends.OpTypeSlice
	ns, err := b.nodesOf(op, x)
	if err != nil {
		return nil, err
	}
	in := ns[0].shape
	out, err := shapeinference.SliceOp(in, starts, limits, strides)
	if err != nil {
		return nil, err
	}
	st := in.Strides()
	v := view{dims: out.Dimensions, strides: make([]int, in.Rank())}
	for a := range st {
		v.base += starts[a] * st[a]
		v.strides[a] = st[a] * strides[a]
	}
	n := b.viewNode(op, out, ns[0], v)
	n.attrs = v // DotGeneral reads a slice in place (slicedOperand)
	return n, nil
}

func (b *Builder) Concatenate(axis int, operands ...backends.Op) (backends.Op, error) {
	op := backends.OpTypeConcatenate
	ns, err := b.nodesOf(op, operands...)
	if err != nil {
		return nil, err
	}
	ins := make([]shapes.Shape, len(ns))
	for i, n := range ns {
		ins[i] = n.shape
	}
	out, err := shapeinference.ConcatenateOp(ins, axis)
	if err != nil {
		return nil, err
	}
	esize := out.DType.Size()
	outer := 1
	for _, d := range out.Dimensions[:axis] {
		outer *= d
	}
	chunks := make([]int, len(ins)) // bytes per outer index, per operand
	for i, s := range ins {
		chunks[i] = esize
		for _, d := range s.Dimensions[axis:] {
			chunks[i] *= d
		}
	}
	return b.add(op, out, ns, func(args []*buffer) *buffer {
		o := b.backend.alloc(out)
		dst := rawBytes(o)
		pos := 0
		for r := range outer {
			for i, a := range args {
				c := chunks[i]
				copy(dst[pos:pos+c], rawBytes(a)[r*c:(r+1)*c])
				pos += c
			}
		}
		return o
	}), nil
}

// Iota fills shape with the index along axis.
func (b *Builder) Iota(shape shapes.Shape, axis int) (backends.Op, error) {
	op := backends.OpTypeIota
	if axis < 0 || axis >= shape.Rank() {
		return nil, fmt.Errorf("cpu backend: Iota axis %d of %s", axis, shape)
	}
	if !supportedDTypes[shape.DType] || shape.DType == dtypes.Bool {
		return nil, unsupportedDType(op, shape.DType)
	}
	inner := 1
	for _, d := range shape.Dimensions[axis+1:] {
		inner *= d
	}
	dim := shape.Dimensions[axis]
	return b.add(op, shape, nil, func([]*buffer) *buffer {
		idx := make([]int64, shape.Size())
		for i := range idx {
			idx[i] = int64(i / inner % dim)
		}
		o := b.backend.alloc(shape)
		convert(o.flat, idx)
		return o
	}), nil
}
