package train

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestSliceGradient: d/dx Σ w·x[1:3, 2:5] is w inside the slice and 0
// outside, on the pure-Go backend (which lacks gomlx's Pad-based VJP).
func TestSliceGradient(t *testing.T) {
	registerSliceGradient()
	x := make([]float64, 4*6)
	for i := range x {
		x[i] = float64(i)
	}
	out, err := graph.ExecOnce(testBackend(t), func(x *graph.Node) *graph.Node {
		s := graph.Slice(x, graph.AxisRange(1, 3), graph.AxisRange(2, 5))
		w := graph.Add(graph.IotaFull(x.Graph(), s.Shape()), graph.OnesLike(s)) // 1..6
		return graph.Gradient(graph.ReduceAllSum(graph.Mul(s, w)), x)[0]
	}, tensors.FromFlatDataAndDimensions(x, 4, 6))
	if err != nil {
		t.Fatal(err)
	}
	got := out.Value().([][]float64)
	want := [][]float64{
		{0, 0, 0, 0, 0, 0},
		{0, 0, 1, 2, 3, 0},
		{0, 0, 4, 5, 6, 0},
		{0, 0, 0, 0, 0, 0},
	}
	for i := range want {
		for j := range want[i] {
			if math.Abs(got[i][j]-want[i][j]) > 0 {
				t.Fatalf("gradient %v, want %v", got, want)
			}
		}
	}
}

// TestRsqrtGradient compares with the derivative -x^(-3/2)/2.
func TestRsqrtGradient(t *testing.T) {
	registerSliceGradient()
	xs := []float64{0.25, 1, 4}
	out, err := graph.ExecOnce(testBackend(t), func(x *graph.Node) *graph.Node {
		return graph.Gradient(graph.ReduceAllSum(graph.Rsqrt(x)), x)[0]
	}, xs)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range out.Value().([]float64) {
		if want := -0.5 * math.Pow(xs[i], -1.5); math.Abs(g-want) > 1e-12 {
			t.Errorf("x=%v: %v, want %v", xs[i], g, want)
		}
	}
}
