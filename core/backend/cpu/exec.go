package cpu

import (
	"fmt"
	"runtime/debug"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Executable runs a compiled graph: the nodes the outputs need, in order.
type Executable struct {
	builder *Builder
	nodes   []*node // needed nodes, topologically ordered
	outputs []*node
	// lastUse[i] is the position in nodes after which nodes[i]'s value is
	// no longer needed (len(nodes) for outputs).
	lastUse []int
	pos     map[*node]int
	// args[i] are the positions of nodes[i]'s inputs, outPos the outputs'.
	args   [][]int
	outPos []int
	// freeAfter[i] lists the nodes whose storage goes back to the pool
	// once nodes[i] ran: op outputs no longer read by anyone, including
	// through a view (Reshape) of them.
	freeAfter [][]int
}

var _ backends.Executable = (*Executable)(nil)

func (b *Builder) Compile(outputs []backends.Op, shardings []*backends.ShardingSpec) (backends.Executable, error) {
	if len(shardings) > 0 {
		return nil, fmt.Errorf("%w: output shardings (the %q backend has one device)", ErrUnsupported, Name)
	}
	outs, err := b.nodesOf(backends.OpTypeInvalid, outputs...)
	if err != nil {
		return nil, fmt.Errorf("compile %q: %w", b.name, err)
	}
	b.compiled = true
	needed := make([]bool, len(b.nodes))
	for _, o := range outs {
		needed[o.id] = true
	}
	for i := len(b.nodes) - 1; i >= 0; i-- {
		if needed[i] {
			for _, in := range b.nodes[i].inputs {
				needed[in.id] = true
			}
		}
	}
	e := &Executable{builder: b, outputs: outs, pos: map[*node]int{}}
	for i, n := range b.nodes {
		if needed[i] {
			e.pos[n] = len(e.nodes)
			e.nodes = append(e.nodes, n)
		}
	}
	e.lastUse = make([]int, len(e.nodes))
	e.args = make([][]int, len(e.nodes))
	for i, n := range e.nodes {
		for _, in := range n.inputs {
			e.lastUse[e.pos[in]] = i
			e.args[i] = append(e.args[i], e.pos[in])
		}
	}
	for _, o := range outs {
		e.lastUse[e.pos[o]] = len(e.nodes)
		e.outPos = append(e.outPos, e.pos[o])
	}
	e.planRelease()
	return e, nil
}

// planRelease fills freeAfter: a view shares its input's storage, so the
// storage lives until the last use of any view of it.
func (e *Executable) planRelease() {
	root := make([]int, len(e.nodes))
	last := make([]int, len(e.nodes))
	for i, n := range e.nodes {
		root[i] = i
		if n.alias {
			root[i] = root[e.pos[n.inputs[0]]]
		}
		last[root[i]] = max(last[root[i]], e.lastUse[i])
	}
	e.freeAfter = make([][]int, len(e.nodes))
	for i, n := range e.nodes {
		if root[i] != i || n.param >= 0 || n.constant != nil || n.alias || last[i] >= len(e.nodes) || last[i] <= i {
			continue
		}
		e.freeAfter[last[i]] = append(e.freeAfter[last[i]], i)
	}
}

func (e *Executable) Finalize() {}

func (e *Executable) Inputs() (names []string, inputShapes []shapes.Shape) {
	for _, p := range e.builder.params {
		names = append(names, p.name)
		inputShapes = append(inputShapes, p.shape)
	}
	return names, inputShapes
}

func (e *Executable) Outputs() []shapes.Shape {
	s := make([]shapes.Shape, len(e.outputs))
	for i, o := range e.outputs {
		s[i] = o.shape
	}
	return s
}

// Execute runs the graph. Donated inputs are not reused yet: the backend
// only reads them.
func (e *Executable) Execute(inputs []backends.Buffer, donate []bool, _ backends.DeviceNum) (outs []backends.Buffer, err error) {
	if e.builder.backend.IsFinalized() {
		return nil, ErrFinalized
	}
	params := e.builder.params
	if len(inputs) != len(params) {
		return nil, fmt.Errorf("cpu backend: executable %q takes %d inputs, got %d", e.builder.name, len(params), len(inputs))
	}
	in := make([]*buffer, len(inputs))
	for i, x := range inputs {
		b, err := toBuffer(x)
		if err != nil {
			return nil, fmt.Errorf("executable %q input #%d: %w", e.builder.name, i, err)
		}
		if !b.shape.Equal(params[i].shape) {
			return nil, fmt.Errorf("cpu backend: executable %q input #%d (%s) has shape %s, want %s",
				e.builder.name, i, params[i].name, b.shape, params[i].shape)
		}
		in[i] = b
	}
	var current *node
	defer func() {
		// A kernel indexing out of range is a bug of this package; report
		// it as an error naming the op instead of crashing the program.
		if r := recover(); r != nil {
			err = fmt.Errorf("cpu backend: executable %q, op %s %s: panic: %v\n%s", e.builder.name, current.op, current.shape, r, debug.Stack())
		}
	}()
	vals := make([]*buffer, len(e.nodes))
	owned := make([]*buffer, len(e.nodes)) // storage of op outputs, for release
	args := make([]*buffer, 0, 8)
	for i, n := range e.nodes {
		current = n
		switch {
		case n.param >= 0:
			vals[i] = in[n.param]
		case n.constant != nil:
			vals[i] = n.constant
		default:
			args = args[:0]
			for _, p := range e.args[i] {
				args = append(args, vals[p])
			}
			vals[i] = n.run(args)
			owned[i] = vals[i]
		}
		for _, p := range e.args[i] {
			if e.lastUse[p] == i {
				vals[p] = nil
			}
		}
		for _, p := range e.freeAfter[i] {
			e.builder.backend.release(owned[p])
			owned[p] = nil
		}
	}
	outs = make([]backends.Buffer, len(e.outputs))
	seen := map[*buffer]bool{}
	for _, b := range in {
		seen[b] = true
	}
	for i, o := range e.outputs {
		v := vals[e.outPos[i]]
		// An output that is an input, a constant, another output or a view
		// of one gets its own storage: the caller owns what it receives.
		if seen[v] || o.constant != nil || aliases(o) {
			v = copyBuffer(v)
		}
		seen[v] = true
		outs[i] = v
	}
	return outs, nil
}

// aliases reports whether n's value may share storage with another value.
func aliases(n *node) bool { return n.alias }
