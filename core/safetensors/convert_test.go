package safetensors

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

// F16 widening is checked on all 65536 patterns against x448/float16, an
// independent implementation verified exhaustively by its author.
func TestF16ToFloat32_Exhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got, want := F16ToFloat32(h), float16.Frombits(h).Float32()
		if want != want { // NaN: x448 quiets signalling NaNs, so only NaN-ness must agree
			if got == got {
				t.Fatalf("F16ToFloat32(%#04x) = %v, want NaN", h, got)
			}
			continue
		}
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("F16ToFloat32(%#04x) = %v, want %v", h, got, want)
		}
	}
}

func TestFloat32ToF16(t *testing.T) {
	check := func(f float32) {
		t.Helper()
		got, want := Float32ToF16(f), float16.Fromfloat32(f).Bits()
		if f != f {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("Float32ToF16(NaN %#08x) = %#04x, not a NaN", math.Float32bits(f), got)
			}
			return
		}
		if got != want {
			t.Fatalf("Float32ToF16(%v = %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
	// Every half value, and the float32s just around every rounding boundary.
	for i := 0; i < 1<<16; i++ {
		f := float16.Frombits(uint16(i)).Float32()
		for _, d := range []int32{-4097, -4096, -4095, -1, 0, 1, 4095, 4096, 4097} {
			check(math.Float32frombits(uint32(int32(math.Float32bits(f)) + d)))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1_000_000; i++ {
		check(math.Float32frombits(r.Uint32()))
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3f80},
		{"minus two", -2, 0xc000},
		{"exact", 0.5, 0x3f00},
		// 1 + 2^-8 lies halfway between 1 (0x3f80, even) and 1+2^-7: ties to even.
		{"tie to even down", 1 + 1.0/256, 0x3f80},
		// 1 + 3×2^-8 is halfway between 0x3f81 (odd) and 0x3f82: rounds up.
		{"tie to even up", 1 + 3.0/256, 0x3f82},
		{"just above tie", math.Float32frombits(0x3f808001), 0x3f81},
		{"max float rounds to inf", math.MaxFloat32, 0x7f80},
		{"inf", float32(math.Inf(-1)), 0xff80},
		{"nan", float32(math.NaN()), 0x7fc0},
		{"negative nan with low payload", math.Float32frombits(0xff800001), 0x7fc0},
		{"smallest subnormal", math.Float32frombits(1), 0x0000},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Float32ToBF16(tt.in); got != tt.want {
				t.Errorf("Float32ToBF16(%v) = %#04x, want %#04x", tt.in, got, tt.want)
			}
		})
	}
	// Widening then narrowing is the identity on every non-NaN pattern.
	for i := 0; i < 1<<16; i++ {
		f := BF16ToFloat32(uint16(i))
		if f == f && Float32ToBF16(f) != uint16(i) {
			t.Fatalf("BF16 %#04x does not round-trip", i)
		}
	}
}

func TestDecodeFloat32(t *testing.T) {
	v := []float32{1.5, -3, 0.25}
	tests := []struct {
		name string
		dt   DType
		raw  []byte
	}{
		{"F32", F32, EncodeF32(v)},
		{"BF16", BF16, EncodeBF16(v)},
		{"F16", F16, EncodeF16(v)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFloat32(tt.dt, tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			for i := range v {
				if got[i] != v[i] {
					t.Errorf("[%d] = %v, want %v", i, got[i], v[i])
				}
			}
		})
	}
	if _, err := DecodeFloat32(I32, make([]byte, 4)); err == nil {
		t.Error("DecodeFloat32(I32) succeeded")
	}
	if _, err := DecodeFloat32(F32, make([]byte, 5)); err == nil {
		t.Error("DecodeFloat32 of 5 bytes succeeded")
	}
}
