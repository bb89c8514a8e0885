package gemm

import (
	"fmt"
	"unsafe"
)

//go:generate go run gen_kernels.go

// Kernel is one micro-kernel: it adds the product of a packed MR×k panel of
// A and a packed k×NR panel of B to an MR×NR tile of C.
type Kernel struct {
	// Name is the CPU path: "avx512", "avx2" or "generic".
	Name string
	// MR and NR are the tile's rows and columns.
	MR, NR int
	// fn computes t[i][j] = Σ_p a[p*MR+i]·b[p*NR+j] for the tile and adds
	// it to c[i*ldc+j] when acc ≠ 0, or stores it there otherwise.
	fn func(k int, a, b, c *float32, ldc, acc int)
	// dot, where the CPU path has one, multiplies 4 rows of A by 4 rows of
	// a transposed B without packing (see Kernel.mulDot); it adds chunks
	// of 16 and leaves 4 lanes of partial sums per pair in acc.
	dot func(chunks int, a *float32, lda int, w *float32, ldw int, acc *[64]float32)
	// int8, where the CPU path has one, sets dst[i] = float32(q[i]) for
	// the first done of n values (a multiple of its vector width).
	int8 func(dst *float32, q *int8, n int) (done int)
	// nf4, where the CPU path has one, decodes blocks whole NF4 blocks of
	// chunks·16 packed bytes each (see NF4Codes) with the 16-entry code
	// table.
	nf4 func(dst *float32, packed *uint8, absmax *float32, blocks, chunks int, code *[16]float32)
	// split, when set, runs the parallel parts (see WithSplitter).
	split Splitter
}

// Kernels lists the micro-kernels this CPU can run, fastest first; the
// generic one is always last.
func Kernels() []Kernel { return append(archKernels(), genericKernel) }

// KernelByName returns the kernel of that name, or an error naming the CPU
// paths available; tests force each path with it.
func KernelByName(name string) (Kernel, error) {
	for _, k := range Kernels() {
		if k.Name == name {
			return k, nil
		}
	}
	return Kernel{}, fmt.Errorf("gemm: kernel %q is not available on this CPU (have %v)", name, kernelNames())
}

func kernelNames() []string {
	var names []string
	for _, k := range Kernels() {
		names = append(names, k.Name)
	}
	return names
}

// Best is the fastest kernel for this CPU, chosen once at start-up.
var best = Kernels()[0]

// Best returns the kernel Mul uses by default.
func Best() Kernel { return best }

// genericKernel is the portable path (arm64 and CPUs without AVX2): plain
// Go, 4×8 tiles held in local arrays so the compiler keeps them in
// registers where it can.
var genericKernel = Kernel{Name: "generic", MR: 4, NR: 8, fn: kernelGeneric}

func kernelGeneric(k int, a, b, c *float32, ldc, add int) {
	const mr, nr = 4, 8
	as := unsafe.Slice(a, k*mr)
	bs := unsafe.Slice(b, k*nr)
	var t [mr][nr]float32
	for p := 0; p < k; p++ {
		ap := as[p*mr : p*mr+mr : p*mr+mr]
		bp := bs[p*nr : p*nr+nr : p*nr+nr]
		for i := range mr {
			ai := ap[i]
			row := &t[i]
			for j := range nr {
				row[j] += ai * bp[j]
			}
		}
	}
	cs := unsafe.Slice(c, (mr-1)*ldc+nr)
	for i := range mr {
		row := cs[i*ldc : i*ldc+nr]
		if add == 0 {
			copy(row, t[i][:])
			continue
		}
		for j := range nr {
			row[j] += t[i][j]
		}
	}
}
