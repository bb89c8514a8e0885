package cpu

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

func init() {
	for _, op := range []backends.OpType{
		backends.OpTypeNeg, backends.OpTypeAbs, backends.OpTypeSign, backends.OpTypeExp, backends.OpTypeExpm1,
		backends.OpTypeLog, backends.OpTypeLog1p, backends.OpTypeSqrt, backends.OpTypeRsqrt, backends.OpTypeTanh,
		backends.OpTypeLogistic, backends.OpTypeSin, backends.OpTypeCos, backends.OpTypeErf, backends.OpTypeFloor,
		backends.OpTypeCeil, backends.OpTypeRound, backends.OpTypeIsFinite, backends.OpTypeIsNaN,
		backends.OpTypeLogicalNot, backends.OpTypeBitwiseNot,
		backends.OpTypeWhere, backends.OpTypeClamp, backends.OpTypeConvertDType,
	} {
		implemented[op] = true
	}
}

// unary builds an elementwise op of one operand.
func (b *Builder) unary(op backends.OpType, x backends.Op) (backends.Op, error) {
	ns, err := b.nodesOf(op, x)
	if err != nil {
		return nil, err
	}
	in := ns[0].shape
	var out shapes.Shape
	if op == backends.OpTypeIsFinite || op == backends.OpTypeIsNaN {
		// Not among shapeinference's unary ops: float in, bool out.
		if !in.DType.IsFloat() {
			return nil, fmt.Errorf("cpu backend: %s of %s: want a float", op, in)
		}
		out = in.Clone()
		out.DType = dtypes.Bool
	} else if out, err = shapeinference.UnaryOp(op, in); err != nil {
		return nil, err
	}
	run := unaryKernel(op, in.DType)
	if run == nil {
		return nil, unsupportedDType(op, in.DType)
	}
	size := in.Size()
	return b.addSplitting(op, out, ns, func(ins []*buffer) *buffer {
		o := b.backend.alloc(out)
		b.backend.parallel(size, 1, func(lo, hi int) { run(sliceAny(o.flat, lo, hi), sliceAny(ins[0].flat, lo, hi)) })
		return o
	}), nil
}

func unaryKernel(op backends.OpType, dt dtypes.DType) func(out, in any) {
	switch dt {
	case dtypes.Float32:
		switch op {
		case backends.OpTypeExp:
			return func(out, in any) { expSlice(out.([]float32), in.([]float32)) }
		case backends.OpTypeLogistic:
			return func(out, in any) { logisticSlice(out.([]float32), in.([]float32)) }
		}
		return floatUnary[float32](op)
	case dtypes.Float64:
		return floatUnary[float64](op)
	case dtypes.Int8:
		return intUnary[int8](op)
	case dtypes.Int16:
		return intUnary[int16](op)
	case dtypes.Int32:
		return intUnary[int32](op)
	case dtypes.Int64:
		return intUnary[int64](op)
	case dtypes.Uint8:
		return intUnary[uint8](op)
	case dtypes.Uint16:
		return intUnary[uint16](op)
	case dtypes.Uint32:
		return intUnary[uint32](op)
	case dtypes.Uint64:
		return intUnary[uint64](op)
	case dtypes.Bool:
		if op == backends.OpTypeLogicalNot {
			return func(out, in any) {
				o := out.([]bool)
				for i, v := range in.([]bool) {
					o[i] = !v
				}
			}
		}
	}
	return nil
}

func mapSlice[T, R any](out []R, in []T, fn func(T) R) {
	out = out[:len(in)]
	for i, v := range in {
		out[i] = fn(v)
	}
}

func floatUnary[T float](op backends.OpType) func(out, in any) {
	switch op {
	case backends.OpTypeIsFinite:
		return func(out, in any) {
			mapSlice(out.([]bool), in.([]T), func(v T) bool { return !math.IsInf(float64(v), 0) && !math.IsNaN(float64(v)) })
		}
	case backends.OpTypeIsNaN:
		return func(out, in any) { mapSlice(out.([]bool), in.([]T), func(v T) bool { return v != v }) }
	case backends.OpTypeNeg:
		return func(out, in any) {
			o := out.([]T)
			for i, v := range in.([]T) {
				o[i] = -v
			}
		}
	case backends.OpTypeExp:
		return func(out, in any) {
			o := out.([]T)
			for i, v := range in.([]T) {
				o[i] = T(math.Exp(float64(v)))
			}
		}
	}
	var fn func(float64) float64
	switch op {
	case backends.OpTypeAbs:
		fn = math.Abs
	case backends.OpTypeSign:
		fn = func(x float64) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return x // ±0 and NaN stay
		}
	case backends.OpTypeExpm1:
		fn = math.Expm1
	case backends.OpTypeLog:
		fn = math.Log
	case backends.OpTypeLog1p:
		fn = math.Log1p
	case backends.OpTypeSqrt:
		fn = math.Sqrt
	case backends.OpTypeRsqrt:
		fn = func(x float64) float64 { return 1 / math.Sqrt(x) }
	case backends.OpTypeTanh:
		fn = math.Tanh
	case backends.OpTypeLogistic:
		fn = func(x float64) float64 {
			if x >= 0 {
				return 1 / (1 + math.Exp(-x))
			}
			e := math.Exp(x)
			return e / (1 + e)
		}
	case backends.OpTypeSin:
		fn = math.Sin
	case backends.OpTypeCos:
		fn = math.Cos
	case backends.OpTypeErf:
		fn = math.Erf
	case backends.OpTypeFloor:
		fn = math.Floor
	case backends.OpTypeCeil:
		fn = math.Ceil
	case backends.OpTypeRound:
		fn = math.Round
	default:
		return nil
	}
	return func(out, in any) { mapSlice(out.([]T), in.([]T), func(v T) T { return T(fn(float64(v))) }) }
}

func intUnary[T integer](op backends.OpType) func(out, in any) {
	var fn func(T) T
	switch op {
	case backends.OpTypeNeg:
		fn = func(v T) T { return -v }
	case backends.OpTypeAbs:
		fn = func(v T) T {
			if v < 0 {
				return -v
			}
			return v
		}
	case backends.OpTypeSign:
		fn = func(v T) T {
			switch {
			case v > 0:
				return 1
			case v < 0:
				return ^T(0) // -1: only signed types get here
			}
			return 0
		}
	case backends.OpTypeBitwiseNot:
		fn = func(v T) T { return ^v }
	default:
		return nil
	}
	return func(out, in any) { mapSlice(out.([]T), in.([]T), fn) }
}

func (b *Builder) Neg(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeNeg, x) }
func (b *Builder) Abs(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeAbs, x) }
func (b *Builder) Sign(x backends.Op) (backends.Op, error)  { return b.unary(backends.OpTypeSign, x) }
func (b *Builder) Exp(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeExp, x) }
func (b *Builder) Expm1(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeExpm1, x) }
func (b *Builder) Log(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeLog, x) }
func (b *Builder) Log1p(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeLog1p, x) }
func (b *Builder) Sqrt(x backends.Op) (backends.Op, error)  { return b.unary(backends.OpTypeSqrt, x) }
func (b *Builder) Rsqrt(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeRsqrt, x) }
func (b *Builder) Tanh(x backends.Op) (backends.Op, error)  { return b.unary(backends.OpTypeTanh, x) }
func (b *Builder) Logistic(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeLogistic, x)
}
func (b *Builder) Sin(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeSin, x) }
func (b *Builder) Cos(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeCos, x) }
func (b *Builder) Erf(x backends.Op) (backends.Op, error)   { return b.unary(backends.OpTypeErf, x) }
func (b *Builder) Floor(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeFloor, x) }
func (b *Builder) Ceil(x backends.Op) (backends.Op, error)  { return b.unary(backends.OpTypeCeil, x) }
func (b *Builder) Round(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeRound, x) }
func (b *Builder) IsFinite(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeIsFinite, x)
}
func (b *Builder) IsNaN(x backends.Op) (backends.Op, error) { return b.unary(backends.OpTypeIsNaN, x) }
func (b *Builder) LogicalNot(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeLogicalNot, x)
}
func (b *Builder) BitwiseNot(x backends.Op) (backends.Op, error) {
	return b.unary(backends.OpTypeBitwiseNot, x)
}

// Where picks onTrue or onFalse per element; each may be a scalar.
func (b *Builder) Where(condition, onTrue, onFalse backends.Op) (backends.Op, error) {
	op := backends.OpTypeWhere
	ns, err := b.nodesOf(op, condition, onTrue, onFalse)
	if err != nil {
		return nil, err
	}
	out, err := shapeinference.WhereOp(ns[0].shape, ns[1].shape, ns[2].shape)
	if err != nil {
		return nil, err
	}
	cs, ts, fs := ns[0].shape.IsScalar(), ns[1].shape.IsScalar(), ns[2].shape.IsScalar()
	esize := out.DType.Size()
	return b.addSplitting(op, out, ns, func(ins []*buffer) *buffer {
		o := b.backend.alloc(out)
		c := ins[0].flat.([]bool)
		dst, t, f := rawBytes(o), rawBytes(ins[1]), rawBytes(ins[2])
		b.backend.parallel(out.Size(), 1, func(lo, hi int) {
			switch esize {
			case 1:
				where(c, dst, t, f, cs, ts, fs, lo, hi)
			case 2:
				where(c, asElems[uint16](dst), asElems[uint16](t), asElems[uint16](f), cs, ts, fs, lo, hi)
			case 4:
				where(c, asElems[uint32](dst), asElems[uint32](t), asElems[uint32](f), cs, ts, fs, lo, hi)
			default:
				where(c, asElems[uint64](dst), asElems[uint64](t), asElems[uint64](f), cs, ts, fs, lo, hi)
			}
		})
		return o
	}), nil
}

// where fills dst[lo:hi]; a scalar operand (cs, ts, fs) is read at 0.
func where[E any](c []bool, dst, t, f []E, cs, ts, fs bool, lo, hi int) {
	at := func(scalar bool, i int) int {
		if scalar {
			return 0
		}
		return i
	}
	if !cs && !ts && !fs {
		c, t, f := c[lo:hi], t[lo:hi], f[lo:hi]
		for i, d := range dst[lo:hi] {
			d = f[i]
			if c[i] {
				d = t[i]
			}
			dst[lo+i] = d
		}
		return
	}
	for i := lo; i < hi; i++ {
		if c[at(cs, i)] {
			dst[i] = t[at(ts, i)]
		} else {
			dst[i] = f[at(fs, i)]
		}
	}
}

// Clamp limits x to [lo, hi]; lo and hi may be scalars.
func (b *Builder) Clamp(lo, x, hi backends.Op) (backends.Op, error) {
	op := backends.OpTypeClamp
	ns, err := b.nodesOf(op, lo, x, hi)
	if err != nil {
		return nil, err
	}
	lowered, err := b.Max(ns[1], ns[0])
	if err != nil {
		return nil, err
	}
	return b.Min(lowered, ns[2])
}

// ConvertDType converts every element as Go's conversion does; booleans
// become 0 or 1 and numbers become true when non-zero.
func (b *Builder) ConvertDType(x backends.Op, dtype dtypes.DType) (backends.Op, error) {
	op := backends.OpTypeConvertDType
	ns, err := b.nodesOf(op, x)
	if err != nil {
		return nil, err
	}
	from := ns[0].shape.DType
	if !supportedDTypes[from] || !supportedDTypes[dtype] {
		return nil, unsupportedDType(op, dtype)
	}
	out := ns[0].shape.Clone()
	out.DType = dtype
	return b.add(op, out, ns, func(ins []*buffer) *buffer {
		o := b.backend.alloc(out)
		convert(o.flat, ins[0].flat)
		return o
	}), nil
}

func convert(dst, src any) {
	switch s := src.(type) {
	case []bool:
		convertFromBool(dst, s)
	case []float32:
		convertTo(dst, s)
	case []float64:
		convertTo(dst, s)
	case []int8:
		convertTo(dst, s)
	case []int16:
		convertTo(dst, s)
	case []int32:
		convertTo(dst, s)
	case []int64:
		convertTo(dst, s)
	case []uint8:
		convertTo(dst, s)
	case []uint16:
		convertTo(dst, s)
	case []uint32:
		convertTo(dst, s)
	case []uint64:
		convertTo(dst, s)
	}
}

func convertTo[S number](dst any, src []S) {
	switch d := dst.(type) {
	case []bool:
		mapSlice(d, src, func(v S) bool { return v != 0 })
	case []float32:
		mapSlice(d, src, func(v S) float32 { return float32(v) })
	case []float64:
		mapSlice(d, src, func(v S) float64 { return float64(v) })
	case []int8:
		mapSlice(d, src, func(v S) int8 { return int8(v) })
	case []int16:
		mapSlice(d, src, func(v S) int16 { return int16(v) })
	case []int32:
		mapSlice(d, src, func(v S) int32 { return int32(v) })
	case []int64:
		mapSlice(d, src, func(v S) int64 { return int64(v) })
	case []uint8:
		mapSlice(d, src, func(v S) uint8 { return uint8(v) })
	case []uint16:
		mapSlice(d, src, func(v S) uint16 { return uint16(v) })
	case []uint32:
		mapSlice(d, src, func(v S) uint32 { return uint32(v) })
	case []uint64:
		mapSlice(d, src, func(v S) uint64 { return uint64(v) })
	}
}

func convertFromBool(dst any, src []bool) {
	ones := make([]uint8, len(src))
	for i, v := range src {
		if v {
			ones[i] = 1
		}
	}
	if d, ok := dst.([]bool); ok {
		copy(d, src)
		return
	}
	convertTo(dst, ones)
}
