package pyfloat

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// The wants are what CPython 3.11 prints: repr(x) and json.dumps(x).
func TestRepr(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		repr string
		json string // "" when it is repr
	}{
		{name: "zero", in: 0, repr: "0.0"},
		{name: "negative zero", in: math.Copysign(0, -1), repr: "-0.0"},
		{name: "one", in: 1, repr: "1.0"},
		{name: "integral", in: 3, repr: "3.0"},
		{name: "hundred", in: 100, repr: "100.0"},
		{name: "tenth", in: 0.1, repr: "0.1"},
		{name: "pi-ish", in: 3.14, repr: "3.14"},
		{name: "third", in: 1.0 / 3, repr: "0.3333333333333333"},
		{name: "float32 widened", in: 0.13493692874908447, repr: "0.13493692874908447"},
		{name: "mixed", in: 1234.5678, repr: "1234.5678"},
		{name: "negative", in: -3.75, repr: "-3.75"},
		{name: "1e-4 stays positional", in: 0.0001, repr: "0.0001"},
		{name: "1e-5 switches to exponent", in: 1e-5, repr: "1e-05"},
		{name: "small", in: 1.5e-07, repr: "1.5e-07"},
		{name: "negative small", in: -2.5e-7, repr: "-2.5e-07"},
		{name: "1e15 stays positional", in: 1e15, repr: "1000000000000000.0"},
		{name: "below 1e16", in: 123456789012345.0, repr: "123456789012345.0"},
		{name: "2^53", in: 9007199254740992.0, repr: "9007199254740992.0"},
		{name: "1e16 switches to exponent", in: 1e16, repr: "1e+16"},
		{name: "long", in: 123456789012345678.0, repr: "1.2345678901234568e+17"},
		{name: "1e22", in: 1e22, repr: "1e+22"},
		{name: "max", in: math.MaxFloat64, repr: "1.7976931348623157e+308"},
		{name: "subnormal", in: 5e-324, repr: "5e-324"},
		{name: "nan", in: math.NaN(), repr: "nan", json: "NaN"},
		{name: "inf", in: math.Inf(1), repr: "inf", json: "Infinity"},
		{name: "-inf", in: math.Inf(-1), repr: "-inf", json: "-Infinity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Repr(tt.in); got != tt.repr {
				t.Errorf("Repr(%v) = %q, want %q", tt.in, got, tt.repr)
			}
			want := tt.json
			if want == "" {
				want = tt.repr
			}
			if got := JSON(tt.in); got != want {
				t.Errorf("JSON(%v) = %q, want %q", tt.in, got, want)
			}
		})
	}
}

// Whatever the value, Repr reads back as the same float (Python's promise
// for repr) and always says it is a float (a "." or an exponent).
func FuzzRepr(f *testing.F) {
	for _, x := range []float64{0, 0.1, 1e16, 1e-5, 5e-324, math.MaxFloat64} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		s := Repr(x)
		back, err := strconv.ParseFloat(s, 64)
		if err != nil || back != x || math.Signbit(back) != math.Signbit(x) {
			t.Fatalf("Repr(%v) = %q reads back as %v (%v)", x, s, back, err)
		}
		if !strings.ContainsAny(s, ".e") {
			t.Fatalf("Repr(%v) = %q does not look like a float", x, s)
		}
	})
}
