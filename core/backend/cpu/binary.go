package cpu

import (
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

func init() {
	for _, op := range []backends.OpType{
		backends.OpTypeAdd, backends.OpTypeSub, backends.OpTypeMul, backends.OpTypeDiv,
		backends.OpTypeMax, backends.OpTypeMin, backends.OpTypePow, backends.OpTypeRem,
		backends.OpTypeBitwiseAnd, backends.OpTypeBitwiseOr, backends.OpTypeBitwiseXor,
		backends.OpTypeLogicalAnd, backends.OpTypeLogicalOr, backends.OpTypeLogicalXor,
		backends.OpTypeEqual, backends.OpTypeNotEqual, backends.OpTypeLessThan, backends.OpTypeLessOrEqual,
		backends.OpTypeGreaterThan, backends.OpTypeGreaterOrEqual,
	} {
		implemented[op] = true
	}
}

// binary builds an elementwise op of two operands.
func (b *Builder) binary(op backends.OpType, lhs, rhs backends.Op) (backends.Op, error) {
	ns, err := b.nodesOf(op, lhs, rhs)
	if err != nil {
		return nil, err
	}
	l, r := ns[0].shape, ns[1].shape
	var out shapes.Shape
	if isComparison(op) {
		out, err = shapeinference.ComparisonOp(op, l, r)
	} else {
		out, err = shapeinference.BinaryOp(op, l, r)
	}
	if err != nil {
		return nil, err
	}
	plan := newPlan(out, l, r)
	run := binaryKernel(op, l.DType, plan, b.backend.parallel)
	if run == nil {
		return nil, unsupportedDType(op, l.DType)
	}
	return b.addSplitting(op, out, ns, func(ins []*buffer) *buffer {
		o := b.backend.alloc(out)
		run(o.flat, ins[0].flat, ins[1].flat)
		return o
	}), nil
}

func isComparison(op backends.OpType) bool {
	switch op {
	case backends.OpTypeEqual, backends.OpTypeNotEqual, backends.OpTypeLessThan, backends.OpTypeLessOrEqual,
		backends.OpTypeGreaterThan, backends.OpTypeGreaterOrEqual:
		return true
	}
	return false
}

// binaryKernel returns the loop for op on dtype dt, or nil.
func binaryKernel(op backends.OpType, dt dtypes.DType, p *bplan, par parFn) func(out, a, b any) {
	switch dt {
	case dtypes.Float32:
		return numberKernel[float32](op, p, par, floatFns[float32](op))
	case dtypes.Float64:
		return numberKernel[float64](op, p, par, floatFns[float64](op))
	case dtypes.Int8:
		return numberKernel[int8](op, p, par, intFns[int8](op))
	case dtypes.Int16:
		return numberKernel[int16](op, p, par, intFns[int16](op))
	case dtypes.Int32:
		return numberKernel[int32](op, p, par, intFns[int32](op))
	case dtypes.Int64:
		return numberKernel[int64](op, p, par, intFns[int64](op))
	case dtypes.Uint8:
		return numberKernel[uint8](op, p, par, intFns[uint8](op))
	case dtypes.Uint16:
		return numberKernel[uint16](op, p, par, intFns[uint16](op))
	case dtypes.Uint32:
		return numberKernel[uint32](op, p, par, intFns[uint32](op))
	case dtypes.Uint64:
		return numberKernel[uint64](op, p, par, intFns[uint64](op))
	case dtypes.Bool:
		return boolKernel(op, p, par)
	}
	return nil
}

// numberKernel: arithmetic with direct loops, comparisons, and other ops
// through fn (nil when op does not apply to T).
func numberKernel[T number](op backends.OpType, p *bplan, par parFn, fn func(a, b T) T) func(out, a, b any) {
	switch op {
	case backends.OpTypeAdd, backends.OpTypeSub, backends.OpTypeMul, backends.OpTypeMax, backends.OpTypeMin:
		return func(out, a, b any) { arith(op, p, par, out.([]T), a.([]T), b.([]T)) }
	case backends.OpTypeEqual, backends.OpTypeNotEqual, backends.OpTypeLessThan, backends.OpTypeLessOrEqual,
		backends.OpTypeGreaterThan, backends.OpTypeGreaterOrEqual:
		cmp := compareFn[T](op)
		return func(out, a, b any) { apply2(p, par, out.([]bool), a.([]T), b.([]T), cmp) }
	}
	if fn == nil {
		return nil
	}
	return func(out, a, b any) { apply2(p, par, out.([]T), a.([]T), b.([]T), fn) }
}

// arith runs the five hot arithmetic ops with the op switch outside the
// loops, split over rows, or over one long row's elements.
func arith[T number](op backends.OpType, p *bplan, par parFn, out, a, b []T) {
	n := p.n
	sa, sb := p.step[0], p.step[1]
	seg := func(r, lo, hi int) {
		if hi <= lo {
			return
		}
		ia, ib := p.offset(0, r)+lo*sa, p.offset(1, r)+lo*sb
		arithSeg(op, out[r*n+lo:r*n+hi], a[ia:ia+(hi-lo-1)*sa+1], b[ib:ib+(hi-lo-1)*sb+1], sa, sb)
	}
	if p.rows == 1 {
		par(n, 1, func(lo, hi int) { seg(0, lo, hi) })
		return
	}
	par(p.rows, n, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			seg(r, 0, n)
		}
	})
}

// arithSeg computes z = x op y where x and y step by sx, sy ∈ {0, 1}.
func arithSeg[T number](op backends.OpType, z, x, y []T, sx, sy int) {
	if len(z) == 0 {
		return
	}
	switch {
	case sx == 1 && sy == 1:
		x, y = x[:len(z)], y[:len(z)]
		switch op {
		case backends.OpTypeAdd:
			for j := range z {
				z[j] = x[j] + y[j]
			}
		case backends.OpTypeSub:
			for j := range z {
				z[j] = x[j] - y[j]
			}
		case backends.OpTypeMul:
			for j := range z {
				z[j] = x[j] * y[j]
			}
		case backends.OpTypeMax:
			for j := range z {
				z[j] = max(x[j], y[j])
			}
		case backends.OpTypeMin:
			for j := range z {
				z[j] = min(x[j], y[j])
			}
		}
	case sx == 0 && sy == 1:
		s, y := x[0], y[:len(z)]
		switch op {
		case backends.OpTypeAdd:
			for j := range z {
				z[j] = s + y[j]
			}
		case backends.OpTypeSub:
			for j := range z {
				z[j] = s - y[j]
			}
		case backends.OpTypeMul:
			for j := range z {
				z[j] = s * y[j]
			}
		case backends.OpTypeMax:
			for j := range z {
				z[j] = max(s, y[j])
			}
		case backends.OpTypeMin:
			for j := range z {
				z[j] = min(s, y[j])
			}
		}
	case sx == 1 && sy == 0:
		x, s := x[:len(z)], y[0]
		switch op {
		case backends.OpTypeAdd:
			for j := range z {
				z[j] = x[j] + s
			}
		case backends.OpTypeSub:
			for j := range z {
				z[j] = x[j] - s
			}
		case backends.OpTypeMul:
			for j := range z {
				z[j] = x[j] * s
			}
		case backends.OpTypeMax:
			for j := range z {
				z[j] = max(x[j], s)
			}
		case backends.OpTypeMin:
			for j := range z {
				z[j] = min(x[j], s)
			}
		}
	default:
		var v T
		switch op {
		case backends.OpTypeAdd:
			v = x[0] + y[0]
		case backends.OpTypeSub:
			v = x[0] - y[0]
		case backends.OpTypeMul:
			v = x[0] * y[0]
		case backends.OpTypeMax:
			v = max(x[0], y[0])
		case backends.OpTypeMin:
			v = min(x[0], y[0])
		}
		for j := range z {
			z[j] = v
		}
	}
}

// apply2 runs fn over the plan.
func apply2[T, R any](p *bplan, par parFn, out []R, a, b []T, fn func(x, y T) R) {
	n := p.n
	sa, sb := p.step[0], p.step[1]
	seg := func(r, lo, hi int) {
		ia, ib := p.offset(0, r), p.offset(1, r)
		for j := lo; j < hi; j++ {
			out[r*n+j] = fn(a[ia+j*sa], b[ib+j*sb])
		}
	}
	if p.rows == 1 {
		par(n, 1, func(lo, hi int) { seg(0, lo, hi) })
		return
	}
	par(p.rows, n, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			seg(r, 0, n)
		}
	})
}

func compareFn[T number](op backends.OpType) func(a, b T) bool {
	switch op {
	case backends.OpTypeEqual:
		return func(a, b T) bool { return a == b }
	case backends.OpTypeNotEqual:
		return func(a, b T) bool { return a != b }
	case backends.OpTypeLessThan:
		return func(a, b T) bool { return a < b }
	case backends.OpTypeLessOrEqual:
		return func(a, b T) bool { return a <= b }
	case backends.OpTypeGreaterThan:
		return func(a, b T) bool { return a > b }
	default: // GreaterOrEqual
		return func(a, b T) bool { return a >= b }
	}
}

func floatFns[T float](op backends.OpType) func(a, b T) T {
	switch op {
	case backends.OpTypeDiv:
		return func(a, b T) T { return a / b }
	case backends.OpTypePow:
		return func(a, b T) T { return T(math.Pow(float64(a), float64(b))) }
	case backends.OpTypeRem:
		return func(a, b T) T { return T(math.Mod(float64(a), float64(b))) }
	}
	return nil
}

// intFns: integer division and remainder by zero give 0 instead of a Go
// panic.
func intFns[T integer](op backends.OpType) func(a, b T) T {
	switch op {
	case backends.OpTypeDiv:
		return func(a, b T) T {
			if b == 0 {
				return 0
			}
			return a / b
		}
	case backends.OpTypeRem:
		return func(a, b T) T {
			if b == 0 {
				return 0
			}
			return a % b
		}
	case backends.OpTypePow:
		return func(a, b T) T {
			r := T(1)
			for ; b > 0; b-- {
				r *= a
			}
			return r
		}
	case backends.OpTypeBitwiseAnd:
		return func(a, b T) T { return a & b }
	case backends.OpTypeBitwiseOr:
		return func(a, b T) T { return a | b }
	case backends.OpTypeBitwiseXor:
		return func(a, b T) T { return a ^ b }
	}
	return nil
}

func boolKernel(op backends.OpType, p *bplan, par parFn) func(out, a, b any) {
	var fn func(x, y bool) bool
	switch op {
	case backends.OpTypeLogicalAnd:
		fn = func(x, y bool) bool { return x && y }
	case backends.OpTypeLogicalOr:
		fn = func(x, y bool) bool { return x || y }
	case backends.OpTypeLogicalXor, backends.OpTypeNotEqual:
		fn = func(x, y bool) bool { return x != y }
	case backends.OpTypeEqual:
		fn = func(x, y bool) bool { return x == y }
	default:
		return nil
	}
	return func(out, a, b any) { apply2(p, par, out.([]bool), a.([]bool), b.([]bool), fn) }
}

func (b *Builder) Add(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeAdd, x, y)
}
func (b *Builder) Sub(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeSub, x, y)
}
func (b *Builder) Mul(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeMul, x, y)
}
func (b *Builder) Div(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeDiv, x, y)
}
func (b *Builder) Max(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeMax, x, y)
}
func (b *Builder) Min(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeMin, x, y)
}
func (b *Builder) Pow(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypePow, x, y)
}
func (b *Builder) Rem(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeRem, x, y)
}
func (b *Builder) BitwiseAnd(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeBitwiseAnd, x, y)
}
func (b *Builder) BitwiseOr(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeBitwiseOr, x, y)
}
func (b *Builder) BitwiseXor(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeBitwiseXor, x, y)
}
func (b *Builder) LogicalAnd(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLogicalAnd, x, y)
}
func (b *Builder) LogicalOr(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLogicalOr, x, y)
}
func (b *Builder) LogicalXor(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLogicalXor, x, y)
}
func (b *Builder) Equal(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeEqual, x, y)
}
func (b *Builder) NotEqual(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeNotEqual, x, y)
}
func (b *Builder) LessThan(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLessThan, x, y)
}
func (b *Builder) LessOrEqual(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeLessOrEqual, x, y)
}
func (b *Builder) GreaterThan(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeGreaterThan, x, y)
}
func (b *Builder) GreaterOrEqual(x, y backends.Op) (backends.Op, error) {
	return b.binary(backends.OpTypeGreaterOrEqual, x, y)
}
