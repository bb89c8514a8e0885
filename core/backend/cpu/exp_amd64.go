package cpu

import "golang.org/x/sys/cpu"

// Implemented in exp_amd64.s.
//
//go:noescape
func expAVX512(dst, src *float32, n, logistic int)

// simdExp is whether Exp and Logistic run 16 lanes at a time; tests turn
// it off to check the portable path on the same machine.
var simdExp = cpu.X86.HasAVX512F

// expVector applies the AVX-512 kernel to every element and returns how
// many it did (all, or none without AVX-512). The last partial vector
// goes through a padded copy, so that an element's result never depends
// on its position (a micro-batch and a whole batch must agree).
func expVector(out, in []float32, logistic bool) int {
	if !simdExp || len(in) == 0 {
		return 0
	}
	flag := 0
	if logistic {
		flag = 1
	}
	n := len(in) &^ 15
	if n > 0 {
		expAVX512(&out[0], &in[0], n, flag)
	}
	if n < len(in) {
		var src, dst [16]float32
		copy(src[:], in[n:])
		expAVX512(&dst[0], &src[0], 16, flag)
		copy(out[n:], dst[:])
	}
	return len(in)
}
