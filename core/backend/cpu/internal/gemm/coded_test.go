package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// nf4Map is a 16-entry code map for the tests (any values will do).
var nf4Map = [16]float32{-1, -0.6961928, -0.5250731, -0.39491748, -0.28444138, -0.18477343, -0.09105004, 0,
	0.0795803, 0.1609302, 0.2461123, 0.33791524, 0.44070983, 0.562617, 0.72295684, 1}

// pairTable is the graph's 256×2 lookup table of a code map.
func pairTable(m [16]float32) []float32 {
	p := make([]float32, 512)
	for b := range 256 {
		p[2*b], p[2*b+1] = m[b>>4], m[b&15]
	}
	return p
}

func randomNF4(rng *rand.Rand, n, blockSize int) ([]uint8, []float32) {
	packed := make([]uint8, (n+1)/2)
	for i := range packed {
		packed[i] = uint8(rng.IntN(256))
	}
	absmax := random(rng, (n+blockSize-1)/blockSize)
	return packed, absmax
}

// decodeAll is the reference decoding, value by value.
func decodeAll(packed []uint8, pairs, absmax []float32, blockSize, n int) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = pairs[2*int(packed[i/2])+i%2] * absmax[i/blockSize]
	}
	return w
}

func TestNF4Codes_Decode(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	odd := pairTable(nf4Map)
	odd[2*77] = 42 // no longer the pair table of a 16-entry map
	tests := []struct {
		name      string
		pairs     []float32
		blockSize int
		n         int
	}{
		{name: "blocks of 64", pairs: pairTable(nf4Map), blockSize: 64, n: 640},
		{name: "blocks of 32", pairs: pairTable(nf4Map), blockSize: 32, n: 650},
		{name: "odd block size", pairs: pairTable(nf4Map), blockSize: 7, n: 101},
		{name: "partial last block", pairs: pairTable(nf4Map), blockSize: 64, n: 99},
		{name: "general pair table", pairs: odd, blockSize: 16, n: 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			packed, absmax := randomNF4(rng, tt.n, tt.blockSize)
			want := decodeAll(packed, tt.pairs, absmax, tt.blockSize, tt.n)
			d := NewNF4Codes(packed, tt.pairs, absmax, tt.blockSize)
			for _, kn := range Kernels() {
				for _, r := range [][2]int{{0, tt.n}, {1, tt.n - 1}, {3, 5}, {tt.n - 1, 1}, {tt.blockSize - 1, 2}, {tt.blockSize, tt.n - tt.blockSize}, {32, 40}, {5, 90}, {0, 0}} {
					got := make([]float32, r[1])
					d.Decode(kn, got, r[0])
					for i, v := range got {
						if math.Float32bits(v) != math.Float32bits(want[r[0]+i]) {
							t.Fatalf("%s: Decode(off %d, len %d)[%d] = %v, want %v", kn.Name, r[0], r[1], i, v, want[r[0]+i])
						}
					}
				}
			}
		})
	}
}

// TestKernel_MulCoded: on every kernel, a product with a coded B equals,
// bit for bit, the product with B decoded in full, for each way B can be
// laid out (x·Wᵀ, dY·W, an offset batch slice, a strided view).
func TestKernel_MulCoded(t *testing.T) {
	shapes := []struct {
		name    string
		m, n, k int
		layout  string // "t": B = Wᵀ of a [n, k] W; "n": B = W of [k, n]; "s": strided
		off     int
		block   int
	}{
		{name: "decode", m: 8, n: 36, k: 128, layout: "t", block: 64},
		{name: "decode/one row", m: 1, n: 64, k: 256, layout: "t", block: 64},
		{name: "decode/odd", m: 3, n: 7, k: 33, layout: "t", off: 5, block: 7},
		{name: "prefill", m: 40, n: 70, k: 300, layout: "t", block: 64},
		{name: "backward", m: 40, n: 70, k: 300, layout: "n", block: 64},
		{name: "backward/offset", m: 13, n: 33, k: 21, layout: "n", off: 3, block: 5},
		{name: "strided", m: 9, n: 10, k: 11, layout: "s", block: 3},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kn := range Kernels() {
		for _, s := range shapes {
			for _, workers := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/%s/w%d", kn.Name, s.name, workers), func(t *testing.T) {
					if err := checkCoded(rng, kn, s.m, s.n, s.k, s.layout, s.off, s.block, workers); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

// checkCoded compares MulCoded with Mul on the decoded matrix, for NF4
// and int8 codes, B laid out as layout says (see TestKernel_MulCoded).
func checkCoded(rng *rand.Rand, kn Kernel, m, n, k int, layout string, off, block, workers int) error {
	total := off + 2*k*n
	packed, absmax := randomNF4(rng, total, block)
	q := make(Int8Codes, total)
	for i := range q {
		q[i] = int8(rng.IntN(256) - 128)
	}
	var rs, cs int
	switch layout {
	case "t":
		rs, cs = 1, k
	case "n":
		rs, cs = n, 1
	default:
		rs, cs = 2*n, 2
	}
	a := RowMajor(random(rng, m*k), k)
	for _, src := range []struct {
		name string
		dec  Decoder
	}{
		{"nf4", NewNF4Codes(packed, pairTable(nf4Map), absmax, block)},
		{"int8", q},
	} {
		dense := make([]float32, total)
		src.dec.Decode(genericKernel, dense, 0)
		want := make([]float32, m*n)
		kn.Mul(want, n, a, Matrix{Data: dense[off:], RowStride: rs, ColStride: cs}, m, n, k, workers)
		got := make([]float32, m*n)
		kn.MulCoded(got, n, a, Coded{Src: src.dec, Offset: off, RowStride: rs, ColStride: cs}, m, n, k, workers)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				return fmt.Errorf("%s: c[%d] = %v, want %v", src.name, i, got[i], want[i])
			}
		}
	}
	return nil
}

// FuzzMulCoded: any shape, layout, offset and block size, every kernel.
func FuzzMulCoded(f *testing.F) {
	f.Add(uint8(8), uint8(36), uint16(128), uint8(0), uint8(0), uint8(64))
	f.Add(uint8(40), uint8(70), uint16(300), uint8(1), uint8(3), uint8(5))
	f.Add(uint8(9), uint8(10), uint16(11), uint8(2), uint8(0), uint8(3))
	f.Fuzz(func(t *testing.T, m, n uint8, k uint16, layout, off, block uint8) {
		if m == 0 || n == 0 || k == 0 || block == 0 || k > 1024 {
			return
		}
		rng := rand.New(rand.NewPCG(uint64(m), uint64(k)))
		for _, kn := range Kernels() {
			if err := checkCoded(rng, kn, int(m), int(n), int(k), []string{"t", "n", "s"}[layout%3], int(off), int(block), 2); err != nil {
				t.Fatalf("%s: %v", kn.Name, err)
			}
		}
	})
}

// BenchmarkMulCoded compares x·Wᵀ with W float32, int8 codes and NF4 codes
// on one worker, for a decode step (8 rows) and a prefill (512 rows) of
// the benchmark shape's FFN (256 → 1024), and the input gradient dY·W
// (512 rows):
//
//	go test -run XXX -bench MulCoded -benchtime 20x ./core/backend/cpu/internal/gemm
func BenchmarkMulCoded(b *testing.B) {
	const in, out = 256, 1024
	rng := rand.New(rand.NewPCG(1, 2))
	packed, absmax := randomNF4(rng, in*out, 64)
	q := make(Int8Codes, in*out)
	for i := range q {
		q[i] = int8(rng.IntN(256) - 128)
	}
	w := make([]float32, in*out)
	nf4 := NewNF4Codes(packed, pairTable(nf4Map), absmax, 64)
	nf4.Decode(best, w, 0)
	for _, rows := range []int{8, 512} {
		x := RowMajor(random(rng, rows*in), in)
		c := make([]float32, rows*out)
		for _, src := range []struct {
			name string
			dec  Decoder
		}{{"f32", nil}, {"int8", q}, {"nf4", nf4}} {
			b.Run(fmt.Sprintf("%s/rows%d", src.name, rows), func(b *testing.B) {
				for b.Loop() {
					if src.dec == nil {
						Mul(c, out, x, RowMajor(w, in).T(), rows, out, in, 1)
					} else {
						best.MulCoded(c, out, x, Coded{Src: src.dec, RowStride: 1, ColStride: in}, rows, out, in, 1)
					}
				}
				b.ReportMetric(2*float64(rows*out*in)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			if rows < 512 {
				continue
			}
			// The input gradient dY·W of a training step: [rows, out]·[out, in].
			dy := RowMajor(random(rng, rows*out), out)
			dx := make([]float32, rows*in)
			b.Run(fmt.Sprintf("%s/dYW%d", src.name, rows), func(b *testing.B) {
				for b.Loop() {
					if src.dec == nil {
						Mul(dx, in, dy, RowMajor(w, in), rows, in, out, 1)
					} else {
						best.MulCoded(dx, in, dy, Coded{Src: src.dec, RowStride: in, ColStride: 1}, rows, in, out, 1)
					}
				}
				b.ReportMetric(2*float64(rows*out*in)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
