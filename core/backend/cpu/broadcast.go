package cpu

import "github.com/gomlx/gomlx/pkg/core/shapes"

// bplan maps an elementwise op's output onto its operands, which have the
// output's shape, a size-1 axis where the output's is larger, or are
// scalars. The output is walked in rows of its last axis; row r starts at
// element off[k][r] of operand k, which advances step[k] (0 or 1) per
// element. Plans are made once, when the graph is built.
type bplan struct {
	rows, n int
	off     [][]int // per operand, per row; nil when every row's offset is r·n
	step    []int
}

func newPlan(out shapes.Shape, operands ...shapes.Shape) *bplan {
	p := &bplan{rows: 1, n: out.Size(), off: make([][]int, len(operands)), step: make([]int, len(operands))}
	simple := true
	for _, s := range operands {
		if !s.IsScalar() && s.Size() != out.Size() {
			simple = false
		}
	}
	if simple || out.Rank() == 0 {
		for k, s := range operands {
			if !s.IsScalar() || out.IsScalar() {
				p.step[k] = 1
			}
			if s.IsScalar() && !out.IsScalar() {
				p.off[k] = make([]int, 1) // always element 0
			}
		}
		return p
	}
	rank := out.Rank()
	p.n = out.Dimensions[rank-1]
	p.rows = out.Size() / max(p.n, 1)
	if p.n == 0 {
		p.rows = 0
	}
	for k, s := range operands {
		p.off[k] = make([]int, p.rows)
		if s.IsScalar() {
			continue
		}
		strides := s.Strides()
		if s.Dimensions[rank-1] != 1 {
			p.step[k] = 1
		}
		idx := make([]int, rank-1)
		for r := range p.rows {
			o := 0
			for a, i := range idx {
				if s.Dimensions[a] != 1 {
					o += i * strides[a]
				}
			}
			p.off[k][r] = o
			for a := rank - 2; a >= 0; a-- {
				idx[a]++
				if idx[a] < out.Dimensions[a] {
					break
				}
				idx[a] = 0
			}
		}
	}
	return p
}

// offset is where row r of operand k starts.
func (p *bplan) offset(k, r int) int {
	switch {
	case p.off[k] == nil:
		return r * p.n
	case len(p.off[k]) == 1 && p.rows > 1:
		return 0
	default:
		return p.off[k][r]
	}
}
