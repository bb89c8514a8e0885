package generate

import "math"

// expNonPos returns e^x for x <= 0 (and 0 for -Inf and below -708) with a
// relative error below 1e-12. Sampling calls it once or twice per vocabulary
// entry per token, 150k times for Qwen, so it is the hot loop; this is about
// 2x faster than math.Exp because it skips the overflow, NaN and subnormal
// cases the caller has excluded, and uses a short polynomial.
//
// Method: x = (32m + j)·ln2/32 + r with |r| <= ln2/64; e^x = 2^m · 2^(j/32) · e^r,
// with 2^(j/32) from a table and e^r by its Taylor polynomial of degree 5
// (truncation error r^6/720 < 3e-15).
func expNonPos(x float64) float64 {
	if !(x >= -708) { // also -Inf; e^-708 is near the smallest normal double
		return 0
	}
	const (
		n     = 32
		invL  = n * 1.4426950408889634 // n/ln2
		ln2hi = 6.93147180369123816490e-01 / n
		ln2lo = 1.90821492927058770002e-10 / n
		round = 0x1.8p52 // adding and subtracting it rounds to an integer
	)
	k := x*invL + round
	k -= round
	r := x - k*ln2hi - k*ln2lo
	ki := int64(k)
	j := ki & (n - 1)
	m := ki >> 5 // floor division by 32
	r2 := r * r
	p := (1 + r) + r2*((1.0/2+r*(1.0/6))+r2*(1.0/24+r*(1.0/120)))
	return p * exp2Table[j] * math.Float64frombits(uint64(m+1023)<<52)
}

// exp2Table[j] = 2^(j/32).
var exp2Table = func() (t [32]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 32)
	}
	return t
}()

// expPass computes e_i = exp((z_i - m)·scale) for every i, where m >= max z
// and scale > 0, and returns Σ e_i. When w is not nil it stores e_i in w[i];
// when hist is not nil it adds e_i to hist[b], b = min(⌊(m - z_i)·scale⌋,
// len(hist)-1), a histogram of -log e_i in 1-nat buckets.
//
// It is expNonPos written into the loop: the call is too large for Go to
// inline, and at 150k entries a token the call overhead alone is ~40% of
// the work.
func expPass(z []float32, m, scale float64, w []float64, hist *[histBuckets]float64) float64 {
	const (
		n     = 32
		invL  = n * 1.4426950408889634
		ln2hi = 6.93147180369123816490e-01 / n
		ln2lo = 1.90821492927058770002e-10 / n
		round = 0x1.8p52
	)
	if w != nil {
		w = w[:len(z)]
	}
	sum := 0.0
	for i, v := range z {
		d := (m - float64(v)) * scale // >= 0; +Inf for masked logits
		e := 0.0
		if d <= 708 {
			x := -d
			k := x*invL + round
			k -= round
			r := x - k*ln2hi - k*ln2lo
			ki := int64(k)
			r2 := r * r
			p := (1 + r) + r2*((1.0/2+r*(1.0/6))+r2*(1.0/24+r*(1.0/120)))
			e = p * exp2Table[ki&(n-1)] * math.Float64frombits(uint64((ki>>5)+1023)<<52)
		}
		sum += e
		if w != nil {
			w[i] = e
		}
		if hist != nil {
			b := histBuckets - 1
			if d < histBuckets-1 {
				b = int(d)
			}
			hist[b] += e
		}
	}
	return sum
}
