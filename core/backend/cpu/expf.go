package cpu

import "math"

// # Why a float32 exp of our own
//
// Exp (softmax, log-softmax) and Logistic (SiLU) were a quarter of a
// forward pass through math.Exp, which works in float64 and is not
// inlined. expf reduces x = n·ln2 + r with |r| ≤ ln2/2 and evaluates a
// degree-6 polynomial for e^r in float32 (the classic minimax
// coefficients of single-precision libm exp): within 2 ulp of the correctly
// rounded result, far inside the conformance tolerance.

const (
	log2e = 1.44269504088896341
	ln2hi = 0.693359375
	ln2lo = -2.12194440e-4
)

// expf is e^x in float32.
func expf(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -103.972:
		return 0
	}
	t := x * log2e
	if t < 0 {
		t -= 0.5
	} else {
		t += 0.5
	}
	n := int32(t) // round to nearest
	fn := float32(n)
	r := x - fn*ln2hi - fn*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	// Scale by 2^n in two steps when 2^n alone is not a normal float32.
	switch {
	case n > 127:
		return y * 0x1p127 * pow2(n-127)
	case n < -126:
		return y * 0x1p-126 * pow2(n+126)
	}
	return y * pow2(n)
}

// pow2 is 2^n for -126 ≤ n ≤ 127.
func pow2(n int32) float32 { return math.Float32frombits(uint32(n+127) << 23) }

// expSlice and logisticSlice are Exp and Logistic on float32s: 16 lanes
// at a time in AVX-512 assembly where the CPU has it (the same reduction
// and polynomial), the rest with expf.
func expSlice(out, in []float32) {
	out = out[:len(in)]
	for i := expVector(out, in, false); i < len(in); i++ {
		out[i] = expf(in[i])
	}
}

func logisticSlice(out, in []float32) {
	out = out[:len(in)]
	for i := expVector(out, in, true); i < len(in); i++ {
		out[i] = 1 / (1 + expf(-in[i]))
	}
}
