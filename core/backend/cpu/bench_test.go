package cpu_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/backend"
)

// BenchmarkMatMul times one graph matmul on "go" (simplego, as
// core/backend configures it) and on "cpu", in one run so that the ratio
// holds on a shared machine, for the shapes:
//
//	go test -run XXX -bench MatMul -benchtime 20x ./core/backend/cpu
func BenchmarkMatMul(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ m, k, n int }{{512, 256, 256}, {1024, 1024, 1024}} {
		x := tensors.FromFlatDataAndDimensions(randomFloats(rng, s.m*s.k), s.m, s.k)
		w := tensors.FromFlatDataAndDimensions(randomFloats(rng, s.k*s.n), s.k, s.n)
		for _, name := range []string{"go", "cpu"} {
			be, err := backend.New(name)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%dx%dx%d/%s", s.m, s.k, s.n, name), func(b *testing.B) {
				benchMatMul(b, be, x, w, 2*float64(s.m*s.k*s.n))
			})
			be.Finalize()
		}
	}
}

func benchMatMul(b *testing.B, be backends.Backend, x, w *tensors.Tensor, flops float64) {
	exec, err := NewExec(be, func(x, w *Node) *Node { return MatMul(x, w) })
	if err != nil {
		b.Fatal(err)
	}
	xd, _ := x.LocalClone()
	wd, _ := w.LocalClone()
	run := func() {
		out, err := exec.Exec(xd, wd)
		if err != nil {
			b.Fatal(err)
		}
		out[0].FinalizeAll()
	}
	run() // compiles and moves the operands to the backend
	b.ResetTimer()
	for range b.N {
		run()
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func randomFloats(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}
