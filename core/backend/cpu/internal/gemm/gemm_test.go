package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/toolbrain/toolbrain/internal/cputime"
)

// naive is the reference: c = a·b in float64.
func naive(a, b Matrix, m, n, k int) []float32 {
	c := make([]float32, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += float64(a.Data[i*a.RowStride+p*a.ColStride]) * float64(b.Data[p*b.RowStride+j*b.ColStride])
			}
			c[i*n+j] = float32(s)
		}
	}
	return c
}

func random(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// TestKernel_Mul runs every kernel this CPU has (AVX-512, AVX2, generic)
// on shapes with edge tiles, several K blocks, transposed operands and
// one or two workers.
func TestKernel_Mul(t *testing.T) {
	shapes := []struct {
		name    string
		m, n, k int
		ta, tb  bool
	}{
		{name: "1x1x1", m: 1, n: 1, k: 1},
		{name: "tile", m: 12, n: 32, k: 7},
		{name: "edges", m: 13, n: 33, k: 5},
		{name: "vector", m: 1, n: 300, k: 70},
		{name: "column", m: 300, n: 1, k: 70},
		{name: "kblocks", m: 50, n: 70, k: 600},
		{name: "mblocks", m: 420, n: 40, k: 30},
		{name: "aT", m: 37, n: 45, k: 61, ta: true},
		{name: "bT", m: 37, n: 45, k: 61, tb: true},
		{name: "bothT", m: 64, n: 64, k: 300, ta: true, tb: true},
		{name: "k0", m: 3, n: 4, k: 0},
		{name: "dot", m: 8, n: 30, k: 70, tb: true},
		{name: "dot/row remainder", m: 7, n: 9, k: 33, tb: true},
		{name: "dot/short k", m: 3, n: 5, k: 9, tb: true},
		{name: "dot/one row", m: 1, n: 64, k: 256, tb: true},
		{name: "dot/attention scores", m: 2, n: 256, k: 64, tb: true},
		{name: "dot/two passes, no tail", m: 8, n: 36, k: 128, tb: true},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, kn := range Kernels() {
		for _, s := range shapes {
			for _, workers := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/%s/w%d", kn.Name, s.name, workers), func(t *testing.T) {
					a := RowMajor(random(rng, s.m*s.k), s.k)
					if s.ta {
						a = RowMajor(random(rng, s.m*s.k), s.m).T()
					}
					b := RowMajor(random(rng, s.k*s.n), s.n)
					if s.tb {
						b = RowMajor(random(rng, s.k*s.n), s.k).T()
					}
					const ldcPad = 3
					ldc := s.n + ldcPad
					c := make([]float32, s.m*ldc)
					for i := range c {
						c[i] = float32(math.NaN()) // must be overwritten
					}
					kn.Mul(c, ldc, a, b, s.m, s.n, s.k, workers)
					want := naive(a, b, s.m, s.n, s.k)
					tol := 1e-5 * float64(max(s.k, 1))
					for i := range s.m {
						for j := range s.n {
							got := c[i*ldc+j]
							if d := math.Abs(float64(got - want[i*s.n+j])); !(d <= tol) {
								t.Fatalf("c[%d,%d] = %v, want %v", i, j, got, want[i*s.n+j])
							}
						}
					}
				})
			}
		}
	}
}

func TestKernelByName(t *testing.T) {
	if _, err := KernelByName("generic"); err != nil {
		t.Fatal(err)
	}
	if _, err := KernelByName("tpu"); err == nil {
		t.Fatal("KernelByName(tpu) succeeded")
	}
}

// BenchmarkMul_Transposed packs transposed operands, as a model's
// matmuls do: x·Wᵀ (B transposed) and the weight gradient dYᵀ·X (A
// transposed), on the benchmark shape (512 tokens, 256 → 1024), and a
// decode step's x·Wᵀ (8 rows).
func BenchmarkMul_Transposed(b *testing.B) {
	const tokens, in, out = 512, 256, 1024
	rng := rand.New(rand.NewPCG(1, 2))
	x := random(rng, tokens*in)
	w := random(rng, out*in)
	dy := random(rng, tokens*out)
	for _, c := range []struct {
		name    string
		a, bm   Matrix
		m, n, k int
	}{
		{"xWt", RowMajor(x, in), RowMajor(w, in).T(), tokens, out, in},
		{"dYtX", RowMajor(dy, out).T(), RowMajor(x, in), out, in, tokens},
		{"decode", RowMajor(x[:8*in], in), RowMajor(w, in).T(), 8, out, in},
	} {
		b.Run(c.name, func(b *testing.B) {
			dst := make([]float32, c.m*c.n)
			for b.Loop() {
				Mul(dst, c.n, c.a, c.bm, c.m, c.n, c.k, 0)
			}
			b.ReportMetric(2*float64(c.m*c.n*c.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMul reports GFLOP/s for each kernel on the shapes:
//
//	go test -run XXX -bench Mul ./core/backend/cpu/internal/gemm
func BenchmarkMul(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{{512, 256, 256}, {1024, 1024, 1024}, {8, 512, 256}} {
		for _, kn := range Kernels() {
			for _, workers := range []int{1, 0} {
				b.Run(fmt.Sprintf("%dx%dx%d/%s/w%d", s.m, s.k, s.n, kn.Name, workers), func(b *testing.B) {
					rng := rand.New(rand.NewPCG(1, 2))
					a := RowMajor(random(rng, s.m*s.k), s.k)
					bm := RowMajor(random(rng, s.k*s.n), s.n)
					c := make([]float32, s.m*s.n)
					for b.Loop() {
						kn.Mul(c, s.n, a, bm, s.m, s.n, s.k, workers)
					}
					b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkMul_DecodeRows multiplies 1, 2, 4 and 8 rows by a transposed
// 1024×256 weight (a decode step's x·Wᵀ) on one goroutine, on the
// dot-product path and, for comparison, on the packed path (the same
// weight stored k×n), and reports CPU time per product, which the
// machine's other load moves less than wall time.
func BenchmarkMul_DecodeRows(b *testing.B) {
	if !cputime.Supported() {
		b.Skip("no CPU time on this platform")
	}
	const in, out = 256, 1024
	rng := rand.New(rand.NewPCG(1, 2))
	x := random(rng, 8*in)
	w := random(rng, out*in)
	wkn := make([]float32, in*out)
	for j := range out {
		for p := range in {
			wkn[p*out+j] = w[j*in+p]
		}
	}
	for _, m := range []int{1, 2, 4, 8} {
		for _, path := range []string{"dot", "packed"} {
			b.Run(fmt.Sprintf("m=%d/%s", m, path), func(b *testing.B) {
				bm := RowMajor(w, in).T()
				if path == "packed" {
					bm = RowMajor(wkn, out)
				}
				dst := make([]float32, m*out)
				t0 := cputime.Process()
				for b.Loop() {
					Mul(dst, out, RowMajor(x[:m*in], in), bm, m, out, in, 1)
				}
				used := cputime.Process() - t0
				b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
				b.ReportMetric(2*float64(m*out*in)*float64(b.N)/used.Seconds()/1e9, "cpu-GFLOP/s")
			})
		}
	}
}
