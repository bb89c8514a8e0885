package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// nativeLE: on little-endian hosts F32 data can be read straight into a []float32.
var nativeLE = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

// BF16ToFloat32 widens a bfloat16 bit pattern; exact for every value, NaN included.
func BF16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// Float32ToBF16 rounds to the nearest bfloat16, ties to even, as PyTorch does.
// Every NaN becomes the canonical quiet NaN 0x7FC0, as in PyTorch (c10::BFloat16),
// so that a NaN is never rounded into infinity.
func Float32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return 0x7fc0
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// F16ToFloat32 widens an IEEE 754 binary16 bit pattern; exact for every value.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf or NaN, payload kept
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal half: value = man × 2^-24, exactly representable as a float32.
	v := float32(man) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// f16Table maps every F16 pattern to its float32 value: 256 KiB, built on first
// use; a lookup beats F16ToFloat32's branches by several times on bulk data.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = F16ToFloat32(uint16(i))
	}
	return &t
})

// Float32ToF16 rounds to the nearest binary16, ties to even; overflow gives ±Inf,
// NaNs stay NaN.
func Float32ToF16(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	exp := int32(u>>23) & 0xff
	man := u & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00 | uint16(man>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal or zero in half precision: shift the full significand (with
		// its implicit 1) right and round to nearest even.
		if e < -10 {
			return sign
		}
		m := man | 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := m >> shift
		rem := m & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, up to Inf: that is the correct rounding
	}
	return sign | uint16(r)
}

// EncodeF32 returns v as little-endian F32 bytes.
func EncodeF32(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// EncodeBF16 returns v rounded to BF16 (nearest even) as little-endian bytes.
func EncodeBF16(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], Float32ToBF16(x))
	}
	return b
}

// EncodeF16 returns v rounded to F16 (nearest even) as little-endian bytes.
func EncodeF16(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], Float32ToF16(x))
	}
	return b
}

// DecodeFloat32 converts raw little-endian data of a floating dtype (F32, F16,
// BF16, F64) to float32. F64 values are rounded to nearest.
func DecodeFloat32(dt DType, raw []byte) ([]float32, error) {
	size := dt.Size()
	if !isFloat(dt) {
		return nil, fmt.Errorf("%w: cannot convert %s to float32", ErrUnsupportedDType, dt)
	}
	if len(raw)%size != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of %s elements", ErrInvalidTensor, len(raw), dt)
	}
	out := make([]float32, len(raw)/size)
	decodeInto(dt, out, raw)
	return out, nil
}

func isFloat(dt DType) bool { return dt == F32 || dt == F16 || dt == BF16 || dt == F64 }

// decodeInto converts raw into out (len(out) elements). raw may alias the upper
// half of out's memory for 2-byte types: element i is read before out[i] is
// written, and out[i] never overlaps raw[j] for j > i.
func decodeInto(dt DType, out []float32, raw []byte) {
	switch dt {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	case BF16:
		raw = raw[:2*len(out)]
		// Four elements per 8-byte load. In the in-place case the load of a group
		// precedes its stores, and the stores end at or before the next group's bytes.
		i := 0
		for ; i+4 <= len(out); i += 4 {
			x := binary.LittleEndian.Uint64(raw[2*i:])
			o := out[i : i+4 : i+4]
			o[0] = math.Float32frombits(uint32(x) << 16)
			o[1] = math.Float32frombits(uint32(x>>16) << 16)
			o[2] = math.Float32frombits(uint32(x>>32) << 16)
			o[3] = math.Float32frombits(uint32(x>>48) << 16)
		}
		for ; i < len(out); i++ {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	case F16:
		raw = raw[:2*len(out)]
		tab := f16Table()
		for i := range out {
			out[i] = tab[binary.LittleEndian.Uint16(raw[2*i:])]
		}
	}
}

// float32Bytes views out's memory as bytes.
func float32Bytes(out []float32) []byte {
	if len(out) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*len(out))
}
