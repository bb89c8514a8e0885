package generate

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestExpNonPos(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	xs := []float64{0, math.Copysign(0, -1), -1e-300, -0.34657359, -0.5, -1, -math.Ln2, -20, -100, -700, -707.9, -708, -708.1, -745, -1e9, math.Inf(-1)}
	for range 100000 {
		xs = append(xs, -r.Float64()*30, -r.Float64()*708)
	}
	for _, x := range xs {
		got, want := expNonPos(x), math.Exp(x)
		if x < -708 {
			if got != 0 {
				t.Errorf("exp(%v) = %v, want 0 below -708", x, got)
			}
			continue
		}
		if rel := math.Abs(got-want) / want; !(rel < 1e-12) {
			t.Errorf("exp(%v) = %v, math.Exp %v, relative error %.3g", x, got, want, rel)
		}
	}
}

func BenchmarkExp(b *testing.B) {
	xs := make([]float64, 4096)
	for i := range xs {
		xs[i] = -float64(i) / 100
	}
	b.Run("math.Exp", func(b *testing.B) {
		s := 0.0
		for b.Loop() {
			for _, x := range xs {
				s += math.Exp(x)
			}
		}
		_ = s
	})
	z := make([]float32, len(xs))
	for i, x := range xs {
		z[i] = float32(x)
	}
	b.Run("expPass", func(b *testing.B) {
		for b.Loop() {
			expPass(z, 0, 1, nil, nil)
		}
	})
	b.Run("expNonPos", func(b *testing.B) {
		s := 0.0
		for b.Loop() {
			for _, x := range xs {
				s += expNonPos(x)
			}
		}
		_ = s
	})
}

func TestExpPass(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	z := make([]float32, 5000)
	for i := range z {
		z[i] = float32(r.NormFloat64() * 40)
	}
	z[7] = float32(math.Inf(-1))
	m := float64(slices.Max(z))
	for _, scale := range []float64{1, 0.37, 3, 1e6} {
		w := make([]float64, len(z))
		var hist [histBuckets]float64
		sum := expPass(z, m, scale, w, &hist)
		var wantHist [histBuckets]float64
		wantSum := 0.0
		for i, v := range z {
			d := (m - float64(v)) * scale
			want := expNonPos(-d)
			if w[i] != want {
				t.Fatalf("scale %v: w[%d] = %v, expNonPos %v", scale, i, w[i], want)
			}
			wantSum += want
			wantHist[min(int(math.Min(d, histBuckets-1)), histBuckets-1)] += want
		}
		if sum != wantSum || hist != wantHist {
			t.Errorf("scale %v: sum %v, want %v; histogram %v, want %v", scale, sum, wantSum, hist, wantHist)
		}
		if got := expPass(z, m, scale, nil, nil); got != sum {
			t.Errorf("scale %v: sum without outputs %v, with %v", scale, got, sum)
		}
	}
}
