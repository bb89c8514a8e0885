//go:build !amd64

package gemm

// archKernels: only the portable kernel off amd64.
func archKernels() []Kernel { return nil }
