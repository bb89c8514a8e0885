package dotgrad

import (
	"fmt"
	"slices"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// # Why these are here
//
// gomlx v0.26 defines no gradient for Rsqrt, which core/model's RMSNorm
// uses (so no model trains without it), nor for Clamp (graph.Clip). They
// are registered only where gomlx has none, so a later gomlx's own
// definitions win.
//
// Its Slice gradient pads the output gradient with Pad, which the pure-Go
// backend does not implement, so nothing that slices (RoPE's rotate-half,
// log-probs of next tokens) could be differentiated there. Ours
// concatenates zero blocks instead, for unit strides; other strides keep
// gomlx's Pad.
func init() {
	for t, fn := range map[NodeType]VJP{
		NodeTypeRsqrt: rsqrtVJP,
		NodeTypeClamp: clampVJP,
	} {
		if _, ok := VJPRegistration[t]; !ok {
			VJPRegistration[t] = fn
		}
	}
	stockSlice = VJPRegistration[NodeTypeSlice]
	VJPRegistration[NodeTypeSlice] = sliceVJP
}

// stockSlice is gomlx's Slice VJP, used for strided slices.
var stockSlice VJP

// sliceVJP places v back into zeros of the operand's shape, one axis at a
// time with Concatenate.
func sliceVJP(node *Node, vjps []*Node, out shapes.Shape) []*Node {
	x := node.Inputs()[0]
	starts, limits, err := sliceBounds(node)
	if err != nil {
		fallbacks.Add(1)
		return stockSlice(node, vjps, out)
	}
	if starts == nil { // strided
		return stockSlice(node, vjps, out)
	}
	g := vjps[0]
	for axis, d := range x.Shape().Dimensions {
		if starts[axis] == 0 && limits[axis] == d {
			continue
		}
		parts := make([]*Node, 0, 3)
		block := func(n int) *Node {
			dims := slices.Clone(g.Shape().Dimensions)
			dims[axis] = n
			return Zeros(g.Graph(), shapes.Make(g.DType(), dims...))
		}
		if starts[axis] > 0 {
			parts = append(parts, block(starts[axis]))
		}
		parts = append(parts, g)
		if limits[axis] < d {
			parts = append(parts, block(d-limits[axis]))
		}
		g = Concatenate(parts, axis)
	}
	return []*Node{g}
}

// sliceBounds reads a Slice node's starts and limits (nil, nil for a slice
// with a stride other than 1), checked against its shapes.
func sliceBounds(node *Node) (starts, limits []int, err error) {
	x := node.Inputs()[0]
	f, err := intFields(node, "starts", "limits", "strides")
	if err != nil {
		if f, err = stringFields(node, sliceString); err != nil {
			return nil, nil, err
		}
	}
	starts, limits, strides := f[0], f[1], f[2]
	dims, outDims := x.Shape().Dimensions, node.Shape().Dimensions
	if len(starts) != len(dims) || len(limits) != len(dims) || len(strides) != len(dims) {
		return nil, nil, fmt.Errorf("slice of rank %d has %d/%d/%d bounds", len(dims), len(starts), len(limits), len(strides))
	}
	for i := range dims {
		if strides[i] != 1 {
			return nil, nil, nil
		}
		if starts[i] < 0 || starts[i] > limits[i] || limits[i] > dims[i] || limits[i]-starts[i] != outDims[i] {
			return nil, nil, fmt.Errorf("slice bounds %v:%v do not fit %v → %v", starts, limits, dims, outDims)
		}
	}
	return starts, limits, nil
}

// rsqrtVJP: y = x^(-1/2), dy/dx = -y³/2, written with y so no division or
// second square root is computed.
func rsqrtVJP(node *Node, vjps []*Node, _ shapes.Shape) []*Node {
	y := node
	return []*Node{Mul(vjps[0], MulScalar(Mul(y, Square(y)), -0.5))}
}

// clampVJP for Clamp(min, x, max) = Min(Max(x, min), max), where min and
// max are scalars or have x's shape. As PyTorch's clamp: x receives the
// gradient where min ≤ x ≤ max, min where x < min, max where the result is
// max (x > max, or min > max).
func clampVJP(node *Node, vjps []*Node, _ shapes.Shape) []*Node {
	in := node.Inputs()
	lo, x, hi := in[0], in[1], in[2]
	v := vjps[0]
	zeros := ZerosLike(v)
	above := GreaterThan(Max(x, lo), hi)
	below := LogicalAnd(LogicalNot(above), LessThan(x, lo))
	inside := LogicalNot(LogicalOr(below, above))
	toShape := func(g, like *Node) *Node {
		if like.IsScalar() && !g.IsScalar() {
			return ReduceAllSum(g)
		}
		return g
	}
	return []*Node{
		toShape(Where(below, v, zeros), lo),
		Where(inside, v, zeros),
		toShape(Where(above, v, zeros), hi),
	}
}
