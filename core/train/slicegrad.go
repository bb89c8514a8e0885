package train

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// # Why Slice needs its own gradient
//
// gomlx v0.26 differentiates Slice with Pad, which its pure-Go backend does
// not implement, so any gradient through the model's RoPE (which slices the
// two halves of each head) fails to compile there. The replacement below
// writes the same adjoint as zeros concatenated around v along each axis,
// which every backend runs. Strided slices, which the model never uses, and
// nodes whose slice parameters cannot be read back keep gomlx's own VJP.
//
// The slice parameters are unexported in gomlx; they are read back from the
// node's String(), which prints them ("Slice(x=[#3], starts=[0 0],
// limits=[2 3], strides=[1 1])"). TestSliceGradient checks both the parsing
// and the gradient against finite differences.

var sliceParamsRE = regexp.MustCompile(`starts=\[([0-9 ]*)\], limits=\[([0-9 ]*)\], strides=\[([0-9 ]*)\]`)

var registerSliceOnce sync.Once

// registerSliceGradient installs the Slice VJP, and Rsqrt's (which gomlx
// v0.26 lacks: the model's RMSNorm uses it) when none is registered, once
// per process.
func registerSliceGradient() {
	registerSliceOnce.Do(func() {
		if _, ok := VJPRegistration[NodeTypeRsqrt]; !ok {
			// d/dx x^(-1/2) = -x^(-3/2)/2 = -y³/2.
			VJPRegistration[NodeTypeRsqrt] = func(node *Node, v []*Node, _ shapes.Shape) []*Node {
				y := node
				return []*Node{Mul(v[0], MulScalar(Mul(Square(y), y), -0.5))}
			}
		}
		orig := VJPRegistration[NodeTypeSlice]
		VJPRegistration[NodeTypeSlice] = func(node *Node, v []*Node, out shapes.Shape) []*Node {
			if g := sliceVJP(node, v[0]); g != nil {
				return []*Node{g}
			}
			return orig(node, v, out)
		}
	})
}

func parseInts(s string) ([]int, bool) {
	f := strings.Fields(s)
	out := make([]int, len(f))
	for i, x := range f {
		n, err := strconv.Atoi(x)
		if err != nil {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// sliceVJP returns the adjoint of x for node = Slice(x), or nil when it
// cannot (strided slice, unreadable parameters).
func sliceVJP(node, v *Node) *Node {
	x := node.Inputs()[0]
	m := sliceParamsRE.FindStringSubmatch(node.String())
	if m == nil {
		return nil
	}
	starts, ok1 := parseInts(m[1])
	limits, ok2 := parseInts(m[2])
	strides, ok3 := parseInts(m[3])
	dims := x.Shape().Dimensions
	if !ok1 || !ok2 || !ok3 || len(starts) != len(dims) || len(limits) != len(dims) || len(strides) != len(dims) {
		return nil
	}
	for i := range dims {
		if strides[i] > 1 || limits[i]-starts[i] != v.Shape().Dimensions[i] {
			return nil
		}
	}
	g := v
	for axis := range dims {
		before, after := starts[axis], dims[axis]-limits[axis]
		if before == 0 && after == 0 {
			continue
		}
		parts := make([]*Node, 0, 3)
		pad := func(n int) *Node {
			d := append([]int(nil), g.Shape().Dimensions...)
			d[axis] = n
			return Zeros(g.Graph(), shapes.Make(g.DType(), d...))
		}
		if before > 0 {
			parts = append(parts, pad(before))
		}
		parts = append(parts, g)
		if after > 0 {
			parts = append(parts, pad(after))
		}
		g = Concatenate(parts, axis)
	}
	return g
}
