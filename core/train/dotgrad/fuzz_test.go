package dotgrad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
)

// layoutFromBytes derives a valid DotGeneral layout from fuzz input: up to
// two batch, two contracting and two free axes per operand, dimensions 1-3,
// placed at positions the bytes choose.
func layoutFromBytes(data []byte) dotCase {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		v := int(data[0])
		data = data[1:]
		return v
	}
	nb, nc := next()%3, next()%3
	nlf, nrf := next()%3, next()%3
	type kind struct{ k, i int } // k: 0 batch, 1 contracting, 2 free
	var batchDims, contractDims []int
	for range nb {
		batchDims = append(batchDims, 1+next()%3)
	}
	for range nc {
		contractDims = append(contractDims, 1+next()%3)
	}
	place := func(nf int) (dims []int, batch, contract []int) {
		var slots []kind
		for i := range nb {
			slots = append(slots, kind{0, i})
		}
		for i := range nc {
			slots = append(slots, kind{1, i})
		}
		for i := range nf {
			slots = append(slots, kind{2, i})
		}
		// Shuffle positions from the input.
		for i := len(slots) - 1; i > 0; i-- {
			j := next() % (i + 1)
			slots[i], slots[j] = slots[j], slots[i]
		}
		batch, contract = make([]int, nb), make([]int, nc)
		for pos, s := range slots {
			switch s.k {
			case 0:
				batch[s.i] = pos
				dims = append(dims, batchDims[s.i])
			case 1:
				contract[s.i] = pos
				dims = append(dims, contractDims[s.i])
			default:
				dims = append(dims, 1+next()%3)
			}
		}
		return dims, batch, contract
	}
	l, lb, lc := place(nlf)
	r, rb, rc := place(nrf)
	return dotCase{name: "fuzz", lhs: l, rhs: r, ax: Axes{LHSContracting: lc, LHSBatch: lb, RHSContracting: rc, RHSBatch: rb}}
}

// FuzzGrads compares dotgrad's gradients with gomlx's stock VJP (an
// independent derivation) in float64 on layouts chosen by the fuzzer.
func FuzzGrads(f *testing.F) {
	for _, seed := range [][]byte{
		{1, 1, 1, 1, 2, 2, 0, 0, 0, 1, 2, 0, 0, 1, 2},
		{2, 2, 2, 2, 1, 2, 3, 1, 5, 4, 3, 2, 1, 0, 2, 2, 2, 1, 1},
		{0, 0, 0, 0},
		{0, 2, 0, 0, 3, 3, 1, 0, 1},
	} {
		f.Add(seed)
	}
	b := goBackend(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := layoutFromBytes(data)
		if err := validCase(c); err != nil {
			t.Fatalf("generator made an invalid case %+v: %v", c, err)
		}
		rng := rand.New(rand.NewPCG(uint64(len(data)), 1))
		l, r, w := randTensor(rng, c.lhs), randTensor(rng, c.rhs), randTensor(rng, c.outDims())
		fn := func(lhs, rhs *Node) []*Node {
			out := DotGeneral(lhs, c.ax.LHSContracting, c.ax.LHSBatch, rhs, c.ax.RHSContracting, c.ax.RHSBatch)
			return Gradient(ReduceAllSum(Mul(out, ConstCachedTensor(lhs.Graph(), w))), lhs, rhs)
		}
		before := Fallbacks()
		ours, err := MustNewExec(b, fn).Exec(l, r)
		if err != nil {
			t.Fatal(err)
		}
		if Fallbacks() != before {
			t.Fatalf("%+v fell back to the stock VJP", c)
		}
		prev := SetEnabled(false)
		stockOut, err := MustNewExec(b, fn).Exec(l, r)
		SetEnabled(prev)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ours {
			a, s := flat(t, ours[i]), flat(t, stockOut[i])
			for j := range a {
				if math.Abs(a[j]-s[j]) > 1e-12*max(1, math.Abs(s[j])) {
					t.Fatalf("%+v operand %d element %d: ours %.15g, stock %.15g", c, i, j, a[j], s[j])
				}
			}
		}
	})
}

// validCase checks the generator with the same shape rule ReadAxes uses.
func validCase(c dotCase) (err error) {
	g := NewGraph(goBackendNoT(), "valid")
	defer g.Finalize()
	l := Parameter(g, "l", shapesF32(c.lhs...))
	r := Parameter(g, "r", shapesF32(c.rhs...))
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("DotGeneral: %v", e)
		}
	}()
	node := DotGeneral(l, c.ax.LHSContracting, c.ax.LHSBatch, r, c.ax.RHSContracting, c.ax.RHSBatch)
	return check(node, l.Shape(), r.Shape(), c.ax)
}
