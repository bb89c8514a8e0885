package cpu

import "golang.org/x/sys/cpu"

// Implemented in exp_amd64.s.
//
//go:noescape
func expAVX512(dst, src *float32, n, logistic int)

// simdExp is whether Exp and Logistic run 16 lanes at a time; tests turn
// it off to check the portable path on the same machine.
var simdExp = cpu.X86.HasAVX512F

// expVector applies the AVX-512 kernel to the longest multiple of 16
// elements and returns how many it did.
func expVector(out, in []float32, logistic bool) int {
	n := len(in) &^ 15
	if !simdExp || n == 0 {
		return 0
	}
	flag := 0
	if logistic {
		flag = 1
	}
	expAVX512(&out[0], &in[0], n, flag)
	return n
}
