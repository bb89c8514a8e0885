package cpu_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/toolbrain/toolbrain/core/backend/cpu"
)

func TestNew_Errors(t *testing.T) {
	tests := []struct{ name, config string }{
		{name: "unknown option", config: "turbo"},
		{name: "unknown kernel", config: "kernel=tpu"},
		{name: "zero workers", config: "workers=0"},
		{name: "bad workers", config: "workers=two"},
		{name: "bad interop", config: "interop=maybe"},
		{name: "spin without unit", config: "spin=200"},
		{name: "negative spin", config: "spin=-1us"},
		{name: "spin over a second", config: "spin=2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := cpu.New(tt.config); err == nil {
				t.Fatalf("New(%q) succeeded", tt.config)
			}
		})
	}
}

// TestUnsupportedOp: an op the backend lacks fails when the graph is
// built, naming the op and the way out.
func TestUnsupportedOp(t *testing.T) {
	b, err := cpu.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	// The graph is built on the first call.
	exec, err := NewExec(b, func(x *Node) *Node { return Reverse(x, 0) })
	if err != nil {
		t.Fatal(err)
	}
	_, err = exec.Exec([]float32{1, 2, 3})
	if err == nil {
		t.Fatal("Reverse ran on the cpu backend, want an error")
	}
	if !errors.Is(err, cpu.ErrUnsupported) && !strings.Contains(err.Error(), cpu.ErrUnsupported.Error()) {
		t.Errorf("error %q does not wrap ErrUnsupported", err)
	}
	for _, want := range []string{"Reverse", `backend = "go"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// FuzzBroadcastReduce draws shapes and axes from the fuzzer's bytes and
// checks a broadcast binary op, a transpose and a reduction against the
// reference:
//
//	go test -fuzz FuzzBroadcastReduce ./core/backend/cpu
func FuzzBroadcastReduce(f *testing.F) {
	f.Add(uint64(1), uint8(3))
	f.Add(uint64(42), uint8(1))
	f.Add(uint64(7), uint8(4))
	f.Fuzz(func(t *testing.T, seed uint64, rank uint8) {
		rng := rand.New(rand.NewPCG(seed, 99))
		r := int(rank%4) + 1
		dims := make([]int, r)
		lhs, rhs := make([]int, r), make([]int, r)
		for a := range dims {
			dims[a] = rng.IntN(5) + 1
			lhs[a], rhs[a] = dims[a], dims[a]
			switch rng.IntN(3) {
			case 0:
				lhs[a] = 1
			case 1:
				rhs[a] = 1
			}
		}
		perm := rng.Perm(r)
		var axes []int
		for a := range r {
			if rng.IntN(2) == 0 {
				axes = append(axes, a)
			}
		}
		dt := []dtypes.DType{dtypes.Float32, dtypes.Int32, dtypes.Float64}[rng.IntN(3)]
		x := randomTensor(rng, shapes.Make(dt, lhs...))
		y := randomTensor(rng, shapes.Make(dt, rhs...))
		conform(t, func(in []*Node) *Node {
			z := Add(Mul(in[0], in[1]), in[1])
			z = TransposeAllDims(z, perm...)
			if len(axes) == 0 {
				return z
			}
			return ReduceSum(z, axes...)
		}, x, y)
	})
}

// FuzzDotGeneral draws a batched product with operands whose batch,
// cross and contracting axes (one or two each) come in random orders, so
// that both the strided and the transposing layouts are exercised:
//
//	go test -fuzz FuzzDotGeneral ./core/backend/cpu
func FuzzDotGeneral(f *testing.F) {
	f.Add(uint64(1))
	f.Add(uint64(5))
	f.Add(uint64(12))
	f.Fuzz(func(t *testing.T, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 7))
		dims := func(n int) []int {
			d := make([]int, n)
			for i := range d {
				d[i] = rng.IntN(5) + 1
			}
			return d
		}
		batch, contract := dims(rng.IntN(2)), dims(rng.IntN(2)+1)
		lcross, rcross := dims(rng.IntN(2)+1), dims(rng.IntN(2))
		// Axis kinds in storage order: 0 batch, 1 cross, 2 contracting.
		layout := func(cross []int) (shape []int, batchAxes, contractAxes []int) {
			type axis struct{ kind, idx, dim int }
			var axes []axis
			for i, d := range batch {
				axes = append(axes, axis{0, i, d})
			}
			for i, d := range cross {
				axes = append(axes, axis{1, i, d})
			}
			for i, d := range contract {
				axes = append(axes, axis{2, i, d})
			}
			rng.Shuffle(len(axes), func(i, j int) { axes[i], axes[j] = axes[j], axes[i] })
			batchAxes, contractAxes = make([]int, len(batch)), make([]int, len(contract))
			for pos, a := range axes {
				shape = append(shape, a.dim)
				switch a.kind {
				case 0:
					batchAxes[a.idx] = pos
				case 2:
					contractAxes[a.idx] = pos
				}
			}
			return shape, batchAxes, contractAxes
		}
		ls, lb, lc := layout(lcross)
		rs, rb, rc := layout(rcross)
		x := randomTensor(rng, shapes.Make(dtypes.Float32, ls...))
		y := randomTensor(rng, shapes.Make(dtypes.Float32, rs...))
		conform(t, func(in []*Node) *Node { return DotGeneral(in[0], lc, lb, in[1], rc, rb) }, x, y)
	})
}
