package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpf: within 2 ulp of float64 exp rounded to float32 over the whole
// float32 range, with the edges (overflow, denormals, NaN) exact.
func TestExpf(t *testing.T) {
	tests := []struct {
		name string
		x    float32
	}{
		{"zero", 0}, {"one", 1}, {"minus one", -1}, {"ln2/2", 0.3465736},
		{"largest finite", 88.72}, {"overflow", 89}, {"smallest normal", -87.3}, {"denormal", -100}, {"underflow", -104},
		{"+inf", float32(math.Inf(1))}, {"-inf", float32(math.Inf(-1))},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 100000 {
		tests = append(tests, struct {
			name string
			x    float32
		}{"random", rng.Float32()*200 - 100})
	}
	for _, tt := range tests {
		want := float32(math.Exp(float64(tt.x)))
		got := expf(tt.x)
		if got == want {
			continue
		}
		if ulps := math.Abs(float64(int64(math.Float32bits(got)) - int64(math.Float32bits(want)))); ulps > 2 {
			t.Fatalf("%s: expf(%v) = %v, want %v (%v ulp)", tt.name, tt.x, got, want, ulps)
		}
	}
	if x := expf(float32(math.NaN())); x == x {
		t.Errorf("expf(NaN) = %v", x)
	}
}

// TestExpSlice runs Exp and Logistic on both paths (AVX-512 where the CPU
// has it, portable Go) over random values, the range edges, ±Inf and NaN.
func TestExpSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	in := []float32{0, 1, -1, 88.72, 88.8, 89, 100, -87.3, -100, -103.9, -104, -200,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for len(in) < 1000+7 {
		in = append(in, rng.Float32()*240-120)
	}
	paths := []bool{false}
	if simdExp {
		paths = append(paths, true)
	}
	defer func(v bool) { simdExp = v }(simdExp)
	for _, simd := range paths {
		simdExp = simd
		out := make([]float32, len(in))
		expSlice(out, in)
		for i, x := range in {
			want := float32(math.Exp(float64(x)))
			if !closeULP(out[i], want, 2) {
				t.Fatalf("simd=%v: exp(%v) = %v, want %v", simd, x, out[i], want)
			}
		}
		logisticSlice(out, in)
		for i, x := range in {
			want := float32(1 / (1 + math.Exp(-float64(x))))
			if !closeULP(out[i], want, 4) {
				t.Fatalf("simd=%v: logistic(%v) = %v, want %v", simd, x, out[i], want)
			}
		}
	}
}

// closeULP: equal, both NaN, both below the smallest normal float32
// (logistic of a large negative number is a denormal, or 0), or within
// ulps units in the last place.
func closeULP(got, want float32, ulps float64) bool {
	if got == want || (got != got && want != want) {
		return true
	}
	if math.Abs(float64(got)) < 0x1p-126 && math.Abs(float64(want)) < 0x1p-126 {
		return true
	}
	if math.IsInf(float64(want), 0) || math.IsInf(float64(got), 0) {
		return false
	}
	return math.Abs(float64(int64(math.Float32bits(got))-int64(math.Float32bits(want)))) <= ulps
}
