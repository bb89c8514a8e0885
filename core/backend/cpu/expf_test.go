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
