package quant

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// randWeights returns n normal(0, std) float32 values with a few large
// outliers, like real linear weights.
func randWeights(seed uint64, n int, std float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0))
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(r.NormFloat64() * std)
		if r.IntN(101) == 0 {
			w[i] *= 10
		}
	}
	return w
}

// TestNF4Code_Published checks the table against bitsandbytes' published
// constants (functional.get_4bit_type("nf4"), as float32 bit patterns) and
// against its definition: create_normal_map(offset=0.9677083), the quantiles
// of N(0,1) at 8 equal steps from 0.9677083 down to 0.5 on the positive side
// and 7 on the negative, normalised by the largest.
func TestNF4Code_Published(t *testing.T) {
	// The decimal strings of bitsandbytes' source: each is the exact
	// float64 value of a float32, so the table converts without rounding.
	published := [16]float64{
		-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
		-0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
		0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
		0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
	}
	for i, v := range NF4Code {
		if float64(v) != published[i] || float64(float32(published[i])) != published[i] {
			t.Errorf("NF4Code[%d] = %v, want exactly %v", i, v, published[i])
		}
	}
	ppf := func(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }
	const offset = 0.9677083
	var def []float64
	for i := range 7 { // negative side: -ppf(linspace(offset, 0.5, 8)[:-1])
		def = append(def, -ppf(offset+(0.5-offset)*float64(i)/7))
	}
	def = append(def, 0)
	for i := 7; i >= 0; i-- {
		def = append(def, ppf(offset+(0.5-offset)*float64(i)/8))
	}
	top := def[15]
	for i, v := range NF4Code {
		want := def[i] / top
		// torch builds the grid in float32; 2e-6 covers that rounding.
		if math.Abs(float64(v)-want) > 2e-6 {
			t.Errorf("NF4Code[%d] = %v, definition gives %v", i, v, want)
		}
	}
}

func TestDynamicMap_Properties(t *testing.T) {
	m := DynamicMap()
	if len(m) != 256 {
		t.Fatalf("len %d", len(m))
	}
	if m[127] != 0 || m[255] != 1 {
		t.Errorf("m[127] = %v, m[255] = %v; want 0 and 1", m[127], m[255])
	}
	for i := 1; i < 256; i++ {
		if !(m[i-1] < m[i]) {
			t.Fatalf("not strictly ascending at %d: %v, %v", i, m[i-1], m[i])
		}
	}
	for i := range 127 { // symmetric apart from the extra 1.0
		if m[i] != -m[254-i] {
			t.Errorf("m[%d] = %v but m[%d] = %v", i, m[i], 254-i, m[254-i])
		}
	}
	if got := m[128]; math.Abs(float64(got)-0.55e-6) > 1e-12 {
		t.Errorf("smallest positive %v, want 0.55e-6", got)
	}
}

// bruteNearest is torch.argmin(|s - code|): the first index of the minimal
// float32 distance.
func bruteNearest(code []float32, s float32) uint8 {
	best := 0
	for i := range code {
		if absf(s-code[i]) < absf(s-code[best]) {
			best = i
		}
	}
	return uint8(best)
}

func TestNearestNF4_BruteForce(t *testing.T) {
	var vals []float32
	// Every midpoint and its float32 neighbours: where ties and rounding bite.
	for i := range 15 {
		m := float32((float64(NF4Code[i]) + float64(NF4Code[i+1])) / 2)
		vals = append(vals, m, math.Nextafter32(m, 2), math.Nextafter32(m, -2),
			math.Nextafter32(math.Nextafter32(m, 2), 2), math.Nextafter32(math.Nextafter32(m, -2), -2))
		vals = append(vals, NF4Code[i], NF4Code[i+1])
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		vals = append(vals, float32(r.Float64()*2-1))
	}
	vals = append(vals, -1, 1, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30)
	for _, s := range vals {
		if got, want := nearestNF4(s), bruteNearest(NF4Code[:], s); got != want {
			t.Fatalf("nearestNF4(%v) = %d, brute force %d", s, got, want)
		}
	}
	code := DynamicMap()
	for i := range 255 {
		m := (code[i] + code[i+1]) / 2
		vals = append(vals, m, math.Nextafter32(m, 2), math.Nextafter32(m, -2), code[i])
	}
	for _, s := range vals {
		if got, want := nearestCode(code, s), bruteNearest(code, s); got != want {
			t.Fatalf("nearestCode(%v) = %d, brute force %d", s, got, want)
		}
	}
}

func TestQuantizeNF4_Codes(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		opts  NF4Options
	}{
		{"even_blocks", []int{32, 64}, NF4Options{}},
		{"partial_last_block", []int{10, 13}, NF4Options{}},
		{"odd_count", []int{5, 7}, NF4Options{}},
		{"blocksize_256", []int{8, 100}, NF4Options{BlockSize: 256}},
		{"double_quant", []int{300, 70}, NF4Options{DoubleQuant: true}},
		{"single_value", []int{1}, NF4Options{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 1
			for _, d := range tc.shape {
				n *= d
			}
			w := randWeights(uint64(n), n, 0.02)
			q, err := QuantizeNF4(w, tc.shape, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			bs := q.BlockSize
			absmax := blockAbsmax(w, bs)
			codes := q.Codes()
			// Each value maps to the nearest code (brute force) after the
			// bitsandbytes scaling.
			for i, v := range w {
				s := max(-1, min(1, v*(1/absmax[i/bs])))
				if want := bruteNearest(NF4Code[:], s); codes[i] != want {
					t.Fatalf("value %d (%v): code %d, nearest %d", i, v, codes[i], want)
				}
			}
			// Packing: two codes a byte, the first in the high nibble.
			for i := range q.Packed {
				hi, lo := codes[2*i], uint8(nf4Zero)
				if 2*i+1 < n {
					lo = codes[2*i+1]
				}
				if q.Packed[i] != hi<<4|lo {
					t.Fatalf("byte %d = %#x, want %#x", i, q.Packed[i], hi<<4|lo)
				}
			}
			// Dequantization: code value times the (possibly nested) absmax,
			// and within half the widest code gap of the original.
			deq, blk := q.Dequantize(), q.BlockAbsmax()
			for i, v := range deq {
				if want := NF4Code[codes[i]] * blk[i/bs]; math.Float32bits(v) != math.Float32bits(want) {
					t.Fatalf("dequantized %d = %v, want %v", i, v, want)
				}
				// Widest NF4 gap is 1-0.6961928 = 0.3038; half of it is the
				// bound, plus slack for a double-quantized absmax.
				bound := 0.1520*float64(absmax[i/bs]) + math.Abs(float64(blk[i/bs]-absmax[i/bs])) + 1e-7
				if d := math.Abs(float64(v - w[i])); d > bound {
					t.Fatalf("value %d: |%v - %v| = %g > %g", i, v, w[i], d, bound)
				}
			}
		})
	}
}

func TestQuantizeNF4_HandPacked(t *testing.T) {
	// Block absmax 2: scaled values -1, 1, 0, 0.5 -> codes 0, 15, 7, 12
	// (0.5 is nearer 0.4407 than 0.5626); 0.16 -> 9; the odd count pads
	// with the code of 0.0, 7.
	w := []float32{-2, 2, 0, 1, 0.32}
	q, err := QuantizeNF4(w, []int{5}, NF4Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{0x0F, 0x7C, 0x97}
	if string(q.Packed) != string(want) {
		t.Errorf("packed %x, want %x", q.Packed, want)
	}
	if len(q.Absmax) != 1 || q.Absmax[0] != 2 {
		t.Errorf("absmax %v, want [2]", q.Absmax)
	}
	zero, err := QuantizeNF4(make([]float32, 64), []int{64}, NF4Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range zero.Dequantize() {
		if v != 0 {
			t.Fatalf("all-zero block dequantizes to %v", v)
		}
	}
}

func TestNF4_Bytes(t *testing.T) {
	const rows, cols = 896, 4864
	w := randWeights(7, rows*cols, 0.02)
	f32 := float64(4 * rows * cols)
	plain, err := QuantizeNF4(w, []int{rows, cols}, NF4Options{})
	if err != nil {
		t.Fatal(err)
	}
	dq, err := QuantizeNF4(w, []int{rows, cols}, NF4Options{DoubleQuant: true})
	if err != nil {
		t.Fatal(err)
	}
	rp, rd := float64(plain.Bytes())/f32, float64(dq.Bytes())/f32
	t.Logf("NF4 %.4f of float32, with double quant %.4f", rp, rd)
	if rp > 0.16 || rp < 0.1406 {
		t.Errorf("NF4 takes %.4f of float32 bytes, want 0.1406..0.16", rp)
	}
	if rd >= rp {
		t.Errorf("double quant %.4f not below %.4f", rd, rp)
	}
	// Double quantization must barely change the weights: its absmax error
	// is small next to the 4-bit error.
	e1, e2 := relErr(plain.Dequantize(), w), relErr(dq.Dequantize(), w)
	t.Logf("relative RMS error: %.4f, with double quant %.4f", e1, e2)
	if e1 > 0.16 || e2 > e1*1.02 {
		t.Errorf("relative error %.4f / %.4f", e1, e2)
	}
}

func relErr(got, want []float32) float64 {
	var num, den float64
	for i := range got {
		d := float64(got[i] - want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(num / den)
}

func TestQuantizeNF4_Errors(t *testing.T) {
	tests := []struct {
		name  string
		w     []float32
		shape []int
		opts  NF4Options
		want  error
	}{
		{"length", make([]float32, 10), []int{3, 4}, NF4Options{}, ErrShape},
		{"negative_dim", nil, []int{-1, 4}, NF4Options{}, ErrShape},
		{"block_not_pow2", make([]float32, 64), []int{64}, NF4Options{BlockSize: 48}, ErrBlockSize},
		{"block_too_small", make([]float32, 64), []int{64}, NF4Options{BlockSize: 16}, ErrBlockSize},
		{"nan", []float32{1, float32(math.NaN())}, []int{2}, NF4Options{}, ErrNonFinite},
		{"inf", []float32{float32(math.Inf(-1)), 1}, []int{2}, NF4Options{}, ErrNonFinite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := QuantizeNF4(tc.w, tc.shape, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}
