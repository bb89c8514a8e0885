package dotgrad

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BenchmarkMatmul is the probe: x [512, 256] · wᵀ [256, 256] as
// core/model's matmulT writes it, forward alone and forward + both operand
// gradients with dotgrad's VJP and with gomlx's stock one.
//
//	go test -run XXX -bench Matmul ./core/train/dotgrad
func BenchmarkMatmul(b *testing.B) {
	be := goBackend(b)
	rng := rand.New(rand.NewPCG(1, 2))
	x := randF32(rng, 512, 256)
	w := randF32(rng, 256, 256)
	fwd := func(x, w *Node) *Node { return DotGeneral(x, []int{1}, nil, w, []int{1}, nil) }
	grad := func(x, w *Node) []*Node { return Gradient(ReduceAllSum(fwd(x, w)), x, w) }
	for _, c := range []struct {
		name  string
		stock bool
		fn    any
	}{
		{"forward", false, fwd},
		{"grad_dotgrad", false, grad},
		{"grad_stock", true, grad},
	} {
		b.Run(c.name, func(b *testing.B) {
			prev := SetEnabled(!c.stock)
			e := MustNewExecAny(be, c.fn)
			if _, err := e.Exec(x, w); err != nil { // compiles
				b.Fatal(err)
			}
			SetEnabled(prev)
			b.ResetTimer()
			for range b.N {
				out, err := e.Exec(x, w)
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range out {
					_ = o.FinalizeAll()
				}
			}
		})
	}
}

func randF32(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}
