// Package dotgrad gives gomlx's DotGeneral a gradient that costs what a
// matmul costs.
//
// Importing the package replaces the entry for DotGeneral in
// graph.VJPRegistration (at init, before any goroutine of the program can be
// building a gradient). Every program that trains should import it, usually
// through core/train. It also registers the gradients the pure-Go backend
// lacks on the model's path (Rsqrt, Clamp, and a Slice gradient without
// Pad; see missing.go): without them no core/model graph differentiates.
//
// # Why
//
// gomlx v0.26 differentiates DotGeneral by broadcasting the output gradient
// against the other operand and reducing: for lhs [M, K] · rhs [K, N] it
// materialises an [M, N, K] product. On the pure-Go backend the gradient of
// a 512×256·256×256 matmul cost 43× its forward, and training the benchmark
// model ran at 79 tokens/s with 3.7 GB resident. Here both operand gradients
// are DotGenerals themselves:
//
//	d lhs = v · rhs   contracting v's rhs-free axes with rhs's free axes
//	d rhs = v · lhs   contracting v's lhs-free axes with lhs's free axes
//
// with batch axes carried as batch axes, followed by a transpose back to the
// operand's layout when the product's natural order differs (for the
// layouts core/model builds it does not).
//
// # Reading the axes back
//
// gomlx keeps a DotGeneral's axes in an unexported struct. They are read by
// reflection (reading unexported fields is allowed; nothing is written) and,
// failing that, parsed from Node.String. Either reading is accepted only if
// it reproduces the node's output shape from its operands' shapes; when no
// reading passes, or for complex dtypes, the gradient falls back to gomlx's
// own VJP, so a future gomlx that changes the struct still trains, only
// slower.
package dotgrad

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph code reads better unqualified
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Errors returned by ReadAxes.
var (
	// ErrNotDotGeneral is returned for a node of another type.
	ErrNotDotGeneral = errors.New("dotgrad: node is not a DotGeneral")
	// ErrUnreadable is returned when the node's axes cannot be read back in
	// a way consistent with its shapes (a gomlx version this package does
	// not know).
	ErrUnreadable = errors.New("dotgrad: cannot read DotGeneral axes")
)

// Axes are a DotGeneral's contracting and batch axes, non-negative, in the
// order they were paired: LHSContracting[i] contracts with
// RHSContracting[i], LHSBatch[i] aligns with RHSBatch[i].
type Axes struct {
	LHSContracting, LHSBatch []int
	RHSContracting, RHSBatch []int
}

// stock is gomlx's own DotGeneral VJP, the fallback.
var stock VJP

// enabled switches between the efficient VJP and the stock one at gradient
// build time; atomic so that benchmarks may flip it while other graphs are
// built.
var enabled atomic.Bool

// fallbacks counts gradients built with the stock VJP although the efficient
// one was enabled, for tests and diagnostics.
var fallbacks atomic.Int64

func init() {
	stock = VJPRegistration[NodeTypeDotGeneral]
	VJPRegistration[NodeTypeDotGeneral] = dotGeneralVJP
	enabled.Store(true)
}

// SetEnabled chooses the efficient gradient (true, the default) or gomlx's
// stock one (false) for DotGeneral gradients built from now on, and returns
// the previous setting. It exists to measure one against the other; graphs
// already built keep the gradient they were built with.
func SetEnabled(on bool) (previous bool) { return enabled.Swap(on) }

// Fallbacks returns how many DotGeneral gradients were built with gomlx's
// stock VJP while the efficient one was enabled, because the axes could not
// be read back. Nonzero means this gomlx version needs attention.
func Fallbacks() int64 { return fallbacks.Load() }

// dotGeneralVJP is the registered VJP.
func dotGeneralVJP(node *Node, vjps []*Node, out shapes.Shape) []*Node {
	if !enabled.Load() {
		return stock(node, vjps, out)
	}
	if node.DType().IsComplex() {
		// The stock VJP defines the complex case (no conjugation); keep its
		// semantics rather than guess.
		return stock(node, vjps, out)
	}
	ax, err := ReadAxes(node)
	if err != nil {
		fallbacks.Add(1)
		return stock(node, vjps, out)
	}
	in := node.Inputs()
	dl, dr := Grads(in[0], in[1], ax, vjps[0])
	return []*Node{dl, dr}
}

// Grads returns the gradients with respect to lhs and rhs of
// DotGeneral(lhs, rhs) with axes ax, given v, the gradient with respect to
// its output ([batch…, lhs free…, rhs free…]). Each is one DotGeneral,
// followed by a transpose only when the operand's axis order differs from
// the product's.
func Grads(lhs, rhs *Node, ax Axes, v *Node) (dLHS, dRHS *Node) {
	lFree := freeAxes(lhs.Rank(), ax.LHSContracting, ax.LHSBatch)
	rFree := freeAxes(rhs.Rank(), ax.RHSContracting, ax.RHSBatch)
	nb := len(ax.LHSBatch)
	vBatch := iota(0, nb)
	vL := iota(nb, len(lFree))            // v's axes that came from lhs
	vR := iota(nb+len(lFree), len(rFree)) // v's axes that came from rhs
	dLHS = operandGrad(v, vBatch, vL, vR, rhs, ax.RHSBatch, rFree, ax.RHSContracting, lhs.Rank(), ax.LHSBatch, lFree, ax.LHSContracting)
	dRHS = operandGrad(v, vBatch, vR, vL, lhs, ax.LHSBatch, lFree, ax.LHSContracting, rhs.Rank(), ax.RHSBatch, rFree, ax.RHSContracting)
	return dLHS, dRHS
}

// operandGrad computes the gradient of one operand ("this") from v and the
// other operand. v's axes are vBatch, vThis (this operand's free axes) and
// vOther (the other's free axes). The other operand's free axes contract
// with vOther; its contracting axes survive and become this operand's
// contracting axes (oContract[i] pairs with tContract[i]).
func operandGrad(v *Node, vBatch, vThis, vOther []int,
	other *Node, oBatch, oFree, oContract []int,
	thisRank int, tBatch, tFree, tContract []int,
) *Node {
	// Surviving axes of `other`, in its axis order (DotGeneral's output
	// order), mapped to this operand's axes.
	var oRest []int // this-operand axis for each surviving axis of other
	for a := 0; a < other.Rank(); a++ {
		if i := slices.Index(oContract, a); i >= 0 {
			oRest = append(oRest, tContract[i])
		}
	}
	// Two orders are possible: v first gives [batch, this free, rest],
	// other first gives [batch, rest, this free]. Take the one that needs no
	// transpose when there is one; the backend reads either operand layout.
	vFirst := slices.Concat(tBatch, tFree, oRest)
	oFirst := slices.Concat(tBatch, oRest, tFree)
	var g *Node
	var order []int
	if isIdentity(oFirst) && !isIdentity(vFirst) {
		g = DotGeneral(other, oFree, oBatch, v, vOther, vBatch)
		order = oFirst
	} else {
		g = DotGeneral(v, vOther, vBatch, other, oFree, oBatch)
		order = vFirst
	}
	if isIdentity(order) {
		return g
	}
	// g's axis k is this operand's axis order[k]; the transpose wants, for
	// each output axis, the input axis it reads.
	perm := make([]int, thisRank)
	for k, a := range order {
		perm[a] = k
	}
	return TransposeAllAxes(g, perm...)
}

// ReadAxes returns the axes of a DotGeneral node, read back from gomlx's
// node and checked against its shapes.
func ReadAxes(node *Node) (Axes, error) {
	if node == nil || node.Type() != NodeTypeDotGeneral {
		return Axes{}, ErrNotDotGeneral
	}
	in := node.Inputs()
	if len(in) != 2 {
		return Axes{}, fmt.Errorf("%w: %d inputs", ErrUnreadable, len(in))
	}
	var errs []error
	for _, read := range []func(*Node) (Axes, error){readByReflection, readByString} {
		ax, err := read(node)
		if err == nil {
			err = check(node, in[0].Shape(), in[1].Shape(), ax)
		}
		if err == nil {
			return ax, nil
		}
		errs = append(errs, err)
	}
	return Axes{}, fmt.Errorf("%w: %w", ErrUnreadable, errors.Join(errs...))
}

// readByReflection reads gomlx v0.26's nodeInputsDotGeneral fields.
func readByReflection(node *Node) (Axes, error) {
	f, err := intFields(node, "lhsContractingAxes", "lhsBatchAxes", "rhsContractingAxes", "rhsBatchAxes")
	if err != nil {
		return Axes{}, err
	}
	return Axes{LHSContracting: f[0], LHSBatch: f[1], RHSContracting: f[2], RHSBatch: f[3]}, nil
}

// readByString parses Node.String, a public but informal format.
func readByString(node *Node) (Axes, error) {
	f, err := stringFields(node, dotGeneralString)
	if err != nil {
		return Axes{}, err
	}
	return Axes{LHSContracting: f[0], LHSBatch: f[1], RHSContracting: f[2], RHSBatch: f[3]}, nil
}

// intFields reads []int fields of the unexported parameter struct gomlx
// keeps in a node (Node.inputs). Reading unexported fields through reflect
// is allowed; nothing is written.
func intFields(node *Node, names ...string) (out [][]int, err error) {
	defer func() {
		// reflect panics on a layout it does not expect; that is a
		// different gomlx, not a bug here.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("reflection: %v", r)
		}
	}()
	f := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !f.IsValid() || f.Kind() != reflect.Interface || f.IsNil() {
		return nil, errors.New("reflection: no inputs field")
	}
	p := f.Elem()
	if p.Kind() != reflect.Pointer || p.Elem().Kind() != reflect.Struct {
		return nil, errors.New("reflection: inputs is not a struct pointer")
	}
	s := p.Elem()
	for _, name := range names {
		fv := s.FieldByName(name)
		if !fv.IsValid() || fv.Kind() != reflect.Slice || fv.Type().Elem().Kind() != reflect.Int {
			return nil, fmt.Errorf("reflection: no []int field %s", name)
		}
		list := make([]int, fv.Len())
		for i := range list {
			list[i] = int(fv.Index(i).Int())
		}
		out = append(out, list)
	}
	return out, nil
}

// Node.String forms of the parameters read back, for stringFields.
var (
	dotGeneralString = stringPattern("DotGeneral(lhs=[#%N], lhsContractingAxes=%L, lhsBatchAxes=%L, rhs=[#%N], rhsContractingAxes=%L, rhsBatchAxes=%L)")
	sliceString      = stringPattern("Slice(x=[#%N], starts=%L, limits=%L, strides=%L)")
)

// stringPattern compiles a printed form where "%L" stands for a []int
// (captured) and "%N" for a node id.
func stringPattern(form string) *regexp.Regexp {
	q := regexp.QuoteMeta(form)
	q = strings.ReplaceAll(q, "%N", `\d+`)
	q = strings.ReplaceAll(q, "%L", `\[([\d ]*)\]`)
	return regexp.MustCompile(q)
}

// stringFields parses the integer lists captured by re out of Node.String.
func stringFields(node *Node, re *regexp.Regexp) ([][]int, error) {
	str := node.String()
	m := re.FindAllStringSubmatch(str, -1)
	if len(m) != 1 {
		return nil, fmt.Errorf("string: %d matches in %q", len(m), str)
	}
	var out [][]int
	for _, field := range m[0][1:] {
		list := []int{}
		for _, f := range strings.Fields(field) {
			a, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("string: %q: %w", f, err)
			}
			list = append(list, a)
		}
		out = append(out, list)
	}
	return out, nil
}

// check verifies that ax is a valid DotGeneral of shapes l and r whose
// output has the node's shape.
func check(node *Node, l, r shapes.Shape, ax Axes) error {
	if len(ax.LHSContracting) != len(ax.RHSContracting) || len(ax.LHSBatch) != len(ax.RHSBatch) {
		return errors.New("unpaired axes")
	}
	valid := func(rank int, lists ...[]int) bool {
		seen := make([]bool, rank)
		for _, list := range lists {
			for _, a := range list {
				if a < 0 || a >= rank || seen[a] {
					return false
				}
				seen[a] = true
			}
		}
		return true
	}
	if !valid(l.Rank(), ax.LHSContracting, ax.LHSBatch) || !valid(r.Rank(), ax.RHSContracting, ax.RHSBatch) {
		return errors.New("axes out of range or repeated")
	}
	var want []int
	for i, a := range ax.LHSBatch {
		if l.Dimensions[a] != r.Dimensions[ax.RHSBatch[i]] {
			return errors.New("batch dimensions differ")
		}
		want = append(want, l.Dimensions[a])
	}
	for i, a := range ax.LHSContracting {
		if l.Dimensions[a] != r.Dimensions[ax.RHSContracting[i]] {
			return errors.New("contracting dimensions differ")
		}
	}
	for _, a := range freeAxes(l.Rank(), ax.LHSContracting, ax.LHSBatch) {
		want = append(want, l.Dimensions[a])
	}
	for _, a := range freeAxes(r.Rank(), ax.RHSContracting, ax.RHSBatch) {
		want = append(want, r.Dimensions[a])
	}
	if got := node.Shape().Dimensions; !slices.Equal(got, want) {
		return fmt.Errorf("axes give output %v, node has %v", want, got)
	}
	return nil
}

// freeAxes lists, in order, the axes that are neither contracting nor batch.
func freeAxes(rank int, contracting, batch []int) []int {
	var out []int
	for a := 0; a < rank; a++ {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

func iota(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}

func isIdentity(p []int) bool {
	for i, a := range p {
		if a != i {
			return false
		}
	}
	return true
}
