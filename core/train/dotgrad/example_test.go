package dotgrad_test

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/train/dotgrad"
)

// Importing dotgrad is all it takes: graph.Gradient then differentiates
// DotGeneral with two DotGenerals. ReadAxes shows the axes it read back.
func Example() {
	b, err := backend.New("go")
	if err != nil {
		panic(err)
	}
	// y = x·wᵀ, the layout core/model uses ([rows, in]·[out, in]);
	// d sum(y)/dw[o][i] = Σ_rows x[row][i].
	out, err := MustNewExec(b, func(x, w *Node) []*Node {
		y := DotGeneral(x, []int{1}, nil, w, []int{1}, nil)
		ax, err := dotgrad.ReadAxes(y)
		if err != nil {
			panic(err)
		}
		fmt.Printf("contracting %v·%v\n", ax.LHSContracting, ax.RHSContracting)
		return Gradient(ReduceAllSum(y), w)
	}).Exec([][]float32{{1, 2}, {3, 4}}, [][]float32{{0, 0}, {0, 0}, {0, 0}})
	if err != nil {
		panic(err)
	}
	fmt.Println(out[0].Value())
	// Output:
	// contracting [1]·[1]
	// [[4 6] [4 6] [4 6]]
}
