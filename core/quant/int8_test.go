package quant

import (
	"errors"
	"math"
	"testing"
)

func TestQuantizeInt8_ErrorBound(t *testing.T) {
	tests := []struct {
		name       string
		rows, cols int
	}{
		{"square", 64, 64},
		{"wide", 3, 1000},
		{"tall", 500, 7},
		{"one", 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := randWeights(uint64(tc.rows*tc.cols), tc.rows*tc.cols, 0.05)
			q, err := QuantizeInt8(w, tc.rows, tc.cols)
			if err != nil {
				t.Fatal(err)
			}
			deq := q.Dequantize()
			for o := range tc.rows {
				var absmax float32
				for _, v := range w[o*tc.cols : (o+1)*tc.cols] {
					absmax = max(absmax, absf(v))
				}
				if q.SCB[o] != absmax {
					t.Fatalf("SCB[%d] = %v, want row absmax %v", o, q.SCB[o], absmax)
				}
				scale := float64(absmax) / 127
				for i := o * tc.cols; i < (o+1)*tc.cols; i++ {
					if q.Q[i] < -127 {
						t.Fatalf("code %d = %d out of [-127, 127]", i, q.Q[i])
					}
					// Half a step, plus float32 rounding of the scale.
					if d := math.Abs(float64(deq[i] - w[i])); d > scale/2*(1+1e-5)+1e-7*float64(absmax) {
						t.Fatalf("element %d: |%v - %v| = %g > scale/2 = %g", i, deq[i], w[i], d, scale/2)
					}
				}
			}
			if got, want := q.Bytes(), int64(tc.rows*tc.cols+4*tc.rows); got != want {
				t.Errorf("Bytes() = %d, want %d", got, want)
			}
		})
	}
}

func TestQuantizeInt8_ZeroRowAndExtremes(t *testing.T) {
	w := []float32{0, 0, 0, -3, 1.5, 3}
	q, err := QuantizeInt8(w, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []int8{0, 0, 0, -127, 64, 127} // 1.5*127/3 = 63.5 rounds half to even
	for i := range want {
		if q.Q[i] != want[i] {
			t.Errorf("Q = %v, want %v", q.Q, want)
			break
		}
	}
	if q.SCB[0] != 0 || q.SCB[1] != 3 {
		t.Errorf("SCB = %v", q.SCB)
	}
}

func TestQuantizeInt8_Errors(t *testing.T) {
	tests := []struct {
		name       string
		w          []float32
		rows, cols int
		want       error
	}{
		{"length", make([]float32, 5), 2, 3, ErrShape},
		{"negative", nil, -1, 3, ErrShape},
		{"nan", []float32{float32(math.NaN())}, 1, 1, ErrNonFinite},
		{"inf", []float32{1, float32(math.Inf(1))}, 1, 2, ErrNonFinite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := QuantizeInt8(tc.w, tc.rows, tc.cols); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}
