package cpu

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/toolbrain/toolbrain/core/backend/cpu/internal/gemm"
)

func init() { implemented[backends.OpTypeDotGeneral] = true }

// operandLayout reads a DotGeneral operand as a 3-D strided array
// [batch, cross, contract]: element (b, i, k) at base b·bStride + i·iStride
// + k·kStride, after an optional copy (transpose) into that order when its
// axes cannot be merged into three strides.
type operandLayout struct {
	bStride, iStride, kStride int
	transpose                 *view
}

// mergeStride returns the stride of axes of a dense s merged into one
// dimension, or false when they do not form one evenly strided run.
func mergeStride(s shapes.Shape, axes []int) (int, bool) {
	return mergeStrides(s.Dimensions, s.Strides(), axes)
}

// mergeStrides is mergeStride for an array of dims with any strides.
func mergeStrides(dims, st, axes []int) (int, bool) {
	var kept []int
	for _, a := range axes {
		if dims[a] != 1 {
			kept = append(kept, a)
		}
	}
	if len(kept) == 0 {
		return 0, true
	}
	for i := 0; i+1 < len(kept); i++ {
		if st[kept[i]] != st[kept[i+1]]*dims[kept[i+1]] {
			return 0, false
		}
	}
	return st[kept[len(kept)-1]], true
}

// slicedOperand reads an operand that is a Slice in place: when n is one
// whose view of its input still merges into [batch, cross, contract] with
// one stride each, it returns that layout over the input's storage, the
// offset of the operand's first element there, and the input. Attention
// over a prefix of a KV cache's slots then copies nothing.
func slicedOperand(n *node, batch, cross, contract []int) (operandLayout, int, *node, bool) {
	v, ok := n.attrs.(view)
	if n.op != backends.OpTypeSlice || !ok {
		return operandLayout{}, 0, nil, false
	}
	bs, ok1 := mergeStrides(v.dims, v.strides, batch)
	is, ok2 := mergeStrides(v.dims, v.strides, cross)
	ks, ok3 := mergeStrides(v.dims, v.strides, contract)
	if !ok1 || !ok2 || !ok3 {
		return operandLayout{}, 0, nil, false
	}
	return operandLayout{bStride: bs, iStride: is, kStride: ks}, v.base, n.inputs[0], true
}

func planOperand(s shapes.Shape, batch, cross, contract []int, crossFirst bool) operandLayout {
	bs, ok1 := mergeStride(s, batch)
	is, ok2 := mergeStride(s, cross)
	ks, ok3 := mergeStride(s, contract)
	if ok1 && ok2 && ok3 {
		return operandLayout{bStride: bs, iStride: is, kStride: ks}
	}
	// Copy into [batch…, cross…, contract…] (lhs) or [batch…, contract…,
	// cross…] (rhs), both dense.
	order := append(slices.Clone(batch), cross...)
	if crossFirst {
		order = append(order, contract...)
	} else {
		order = append(slices.Clone(batch), contract...)
		order = append(order, cross...)
	}
	st := s.Strides()
	v := &view{dims: make([]int, len(order)), strides: make([]int, len(order))}
	for i, a := range order {
		v.dims[i], v.strides[i] = s.Dimensions[a], st[a]
	}
	prod := func(axes []int) int {
		p := 1
		for _, a := range axes {
			p *= s.Dimensions[a]
		}
		return p
	}
	ni, nk := prod(cross), prod(contract)
	if crossFirst {
		return operandLayout{bStride: ni * nk, iStride: nk, kStride: 1, transpose: v}
	}
	return operandLayout{bStride: ni * nk, iStride: 1, kStride: ni, transpose: v}
}

func normAxes(rank int, axes []int) ([]int, error) {
	out := make([]int, len(axes))
	for i, a := range axes {
		if a < 0 {
			a += rank
		}
		if a < 0 || a >= rank || slices.Contains(out[:i], a) {
			return nil, fmt.Errorf("cpu backend: DotGeneral axis %d invalid for rank %d", axes[i], rank)
		}
		out[i] = a
	}
	return out, nil
}

// crossAxes are the axes in neither list, in order.
func crossAxes(rank int, batch, contract []int) []int {
	var c []int
	for a := range rank {
		if !slices.Contains(batch, a) && !slices.Contains(contract, a) {
			c = append(c, a)
		}
	}
	return c
}

// DotGeneral contracts lhs and rhs: output [batch…, lhs cross…, rhs
// cross…]. Float32 runs on the GEMM; other dtypes on a plain loop.
func (b *Builder) DotGeneral(lhsOp backends.Op, lhsContracting, lhsBatch []int, rhsOp backends.Op, rhsContracting, rhsBatch []int) (backends.Op, error) {
	op := backends.OpTypeDotGeneral
	ns, err := b.nodesOf(op, lhsOp, rhsOp)
	if err != nil {
		return nil, err
	}
	ls, rs := ns[0].shape, ns[1].shape
	if ls.DType != rs.DType {
		return nil, fmt.Errorf("cpu backend: DotGeneral of %s and %s: dtypes differ", ls, rs)
	}
	if len(lhsContracting) != len(rhsContracting) || len(lhsBatch) != len(rhsBatch) {
		return nil, fmt.Errorf("cpu backend: DotGeneral of %s and %s: %d/%d contracting and %d/%d batch axes",
			ls, rs, len(lhsContracting), len(rhsContracting), len(lhsBatch), len(rhsBatch))
	}
	var lc, lb, rc, rb []int
	for _, p := range []struct {
		dst  *[]int
		rank int
		axes []int
	}{{&lc, ls.Rank(), lhsContracting}, {&lb, ls.Rank(), lhsBatch}, {&rc, rs.Rank(), rhsContracting}, {&rb, rs.Rank(), rhsBatch}} {
		if *p.dst, err = normAxes(p.rank, p.axes); err != nil {
			return nil, err
		}
	}
	var batchDims []int
	nb, nk := 1, 1
	for i := range lb {
		if ls.Dimensions[lb[i]] != rs.Dimensions[rb[i]] {
			return nil, fmt.Errorf("cpu backend: DotGeneral of %s and %s: batch axes %d and %d differ", ls, rs, lb[i], rb[i])
		}
		batchDims = append(batchDims, ls.Dimensions[lb[i]])
		nb *= ls.Dimensions[lb[i]]
	}
	for i := range lc {
		if ls.Dimensions[lc[i]] != rs.Dimensions[rc[i]] {
			return nil, fmt.Errorf("cpu backend: DotGeneral of %s and %s: contracting axes %d and %d differ", ls, rs, lc[i], rc[i])
		}
		nk *= ls.Dimensions[lc[i]]
	}
	lx, rx := crossAxes(ls.Rank(), lb, lc), crossAxes(rs.Rank(), rb, rc)
	dims := slices.Clone(batchDims)
	nm, nn := 1, 1
	for _, a := range lx {
		dims = append(dims, ls.Dimensions[a])
		nm *= ls.Dimensions[a]
	}
	for _, a := range rx {
		dims = append(dims, rs.Dimensions[a])
		nn *= rs.Dimensions[a]
	}
	out := shapes.Make(ls.DType, dims...)
	d := dotPlan{
		batch: nb, m: nm, n: nn, k: nk,
		lhs: planOperand(ls, lb, lx, lc, true), rhs: planOperand(rs, rb, rx, rc, false),
		kernel: b.backend.kernel, workers: b.backend.workers, split: b.backend.tasks.split,
	}
	if src := b.matchCoded(ns[1]); src != nil && ls.DType == dtypes.Float32 && d.rhs.transpose == nil {
		return b.codedDot(out, d, ns[0], src), nil
	}
	// Operands that are slices are read where they lie.
	var base [2]int
	if lay, off, in, ok := slicedOperand(ns[0], lb, lx, lc); ok {
		d.lhs, base[0], ns[0] = lay, off, in
	}
	if lay, off, in, ok := slicedOperand(ns[1], rb, rx, rc); ok {
		d.rhs, base[1], ns[1] = lay, off, in
	}
	var run func(o, l, r any)
	switch ls.DType {
	case dtypes.Float32:
		run = func(o, l, r any) { d.float32(o.([]float32), l.([]float32), r.([]float32)) }
	case dtypes.Float64:
		run = func(o, l, r any) { dotLoop(d, o.([]float64), l.([]float64), r.([]float64)) }
	case dtypes.Int32:
		run = func(o, l, r any) { dotLoop(d, o.([]int32), l.([]int32), r.([]int32)) }
	case dtypes.Int64:
		run = func(o, l, r any) { dotLoop(d, o.([]int64), l.([]int64), r.([]int64)) }
	default:
		return nil, unsupportedDType(op, ls.DType)
	}
	return b.addSplitting(op, out, ns, func(args []*buffer) *buffer {
		l, r := args[0], args[1]
		if d.lhs.transpose != nil {
			l = b.backend.transposed(l, *d.lhs.transpose)
			defer b.backend.release(l)
		}
		if d.rhs.transpose != nil {
			r = b.backend.transposed(r, *d.rhs.transpose)
			defer b.backend.release(r)
		}
		o := b.backend.alloc(out)
		lf, rf := l.flat, r.flat
		if base[0] > 0 {
			lf = sliceAny(lf, base[0], l.shape.Size())
		}
		if base[1] > 0 {
			rf = sliceAny(rf, base[1], r.shape.Size())
		}
		run(o.flat, lf, rf)
		return o
	}), nil
}

// transposed copies view v of x into a new dense buffer.
func (b *Backend) transposed(x *buffer, v view) *buffer {
	t := b.alloc(x.shape)
	gatherView(rawBytes(t), rawBytes(x), x.shape.DType.Size(), v)
	return t
}

// dotPlan is a DotGeneral reduced to batch × (m×k · k×n).
type dotPlan struct {
	batch, m, n, k int
	lhs, rhs       operandLayout
	kernel         gemm.Kernel
	workers        int
	split          gemm.Splitter
}

// smallBatchFlops: batched products smaller than this each run on one
// goroutine, the batch spread over the workers (attention's per-head
// products); larger ones split inside the GEMM.
const smallBatchFlops = 1 << 18

func (d dotPlan) float32(out, lhs, rhs []float32) {
	d.each(func(bi, workers int) {
		b := gemm.Matrix{Data: rhs[bi*d.rhs.bStride:], RowStride: d.rhs.kStride, ColStride: d.rhs.iStride}
		d.kernel.Mul(out[bi*d.m*d.n:], d.n, d.lhsMatrix(lhs, bi), b, d.m, d.n, d.k, workers)
	})
}

// coded is float32 with the rhs decoded from src panel by panel.
func (d dotPlan) coded(out, lhs []float32, src gemm.Decoder) {
	d.each(func(bi, workers int) {
		b := gemm.Coded{Src: src, Offset: bi * d.rhs.bStride, RowStride: d.rhs.kStride, ColStride: d.rhs.iStride}
		d.kernel.MulCoded(out[bi*d.m*d.n:], d.n, d.lhsMatrix(lhs, bi), b, d.m, d.n, d.k, workers)
	})
}

// lhsMatrix is batch bi's lhs.
func (d dotPlan) lhsMatrix(lhs []float32, bi int) gemm.Matrix {
	return gemm.Matrix{Data: lhs[bi*d.lhs.bStride:], RowStride: d.lhs.iStride, ColStride: d.lhs.kStride}
}

// each runs one(bi, workers) for every batch index: one after another,
// each product split over the workers, or for small products the batch
// spread over the workers.
func (d dotPlan) each(one func(bi, workers int)) {
	if d.batch == 1 || d.m*d.n*d.k >= smallBatchFlops || d.workers == 1 {
		for bi := range d.batch {
			one(bi, d.workers)
		}
		return
	}
	d.split(min(d.workers, d.batch), d.batch, func(lo, hi int) {
		for bi := lo; bi < hi; bi++ {
			one(bi, 1)
		}
	})
}

func dotLoop[T number](d dotPlan, out, lhs, rhs []T) {
	for bi := range d.batch {
		for i := range d.m {
			for j := range d.n {
				var s T
				lo := bi*d.lhs.bStride + i*d.lhs.iStride
				ro := bi*d.rhs.bStride + j*d.rhs.iStride
				for p := range d.k {
					s += lhs[lo+p*d.lhs.kStride] * rhs[ro+p*d.rhs.kStride]
				}
				out[(bi*d.m+i)*d.n+j] = s
			}
		}
	}
}

func init() { implemented[backends.OpTypeDot] = true }

// Dot is the classic product: vector·vector, matrix·vector or
// matrix·matrix, contracting lhs's last axis with rhs's first.
func (b *Builder) Dot(lhs, rhs backends.Op) (backends.Op, error) {
	ns, err := b.nodesOf(backends.OpTypeDot, lhs, rhs)
	if err != nil {
		return nil, err
	}
	lr, rr := ns[0].shape.Rank(), ns[1].shape.Rank()
	if lr < 1 || lr > 2 || rr < 1 || rr > 2 {
		return nil, fmt.Errorf("cpu backend: Dot of %s and %s: want ranks 1 or 2", ns[0].shape, ns[1].shape)
	}
	return b.DotGeneral(lhs, []int{lr - 1}, nil, rhs, []int{0}, nil)
}
