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
	// root[i] is the node whose storage nodes[i]'s value lives in (itself
	// unless nodes[i] is a view); storageEnd[r] is the position of the
	// last reader of root r's storage through any view.
	root, storageEnd []int
	// reusable[i]: nodes[i] has an in-place form and, by the graph alone,
	// may write into its operand's storage: this op is that storage's last
	// reader, the storage is no constant and no graph output, and no other
	// input of the op shares it. For a parameter the caller must also
	// have donated the buffer (checked per call).
	reusable []bool
	// plan schedules the nodes over the worker pool; nil runs them one
	// after another (interop=false, one worker, or a graph too small to
	// gain from it).
	plan *interopPlan
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
	e.planReuse()
	e.plan = e.planInterop()
	return e, nil
}

// planRelease fills root, storageEnd and freeAfter: a view shares its
// input's storage, so the storage lives until the last use of any view of
// it.
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
	e.root, e.storageEnd = root, last
	e.freeAfter = make([][]int, len(e.nodes))
	for i := range e.nodes {
		if e.freeable(i) {
			e.freeAfter[last[i]] = append(e.freeAfter[last[i]], i)
		}
	}
}

// freeable reports whether nodes[i]'s storage goes back to the pool once
// its last reader ran: an op output of its own storage, read by later
// nodes, and neither a graph output nor a view's storage that is one.
func (e *Executable) freeable(i int) bool {
	n, last := e.nodes[i], e.storageEnd[i]
	return e.root[i] == i && n.param < 0 && n.constant == nil && !n.alias && last < len(e.nodes) && last > i
}

// planReuse fills reusable. In creation order, once the op at i, the
// last reader of a storage, has read its other inputs, nothing can
// observe that storage any more; the parallel schedule makes every other
// reader of it finish first (planInterop).
func (e *Executable) planReuse() {
	e.reusable = make([]bool, len(e.nodes))
	for i, n := range e.nodes {
		if n.inPlace == nil || e.builder.backend.copyOperands {
			continue
		}
		r := e.root[e.args[i][0]]
		if e.storageEnd[r] != i || e.nodes[r].constant != nil {
			continue // read later, a graph output, or a constant
		}
		shared := false
		for _, q := range e.args[i][1:] {
			shared = shared || e.root[q] == r
		}
		e.reusable[i] = !shared
	}
}

// givenAway reports, per parameter, whether the caller donated its buffer
// and no other input shares that buffer's storage: only then may the
// graph write into it.
func givenAway(in []*buffer, donate []bool) []bool {
	out := make([]bool, len(in))
	for k, b := range in {
		if k >= len(donate) || !donate[k] {
			continue
		}
		out[k] = true
		for j, o := range in {
			if j != k && sameStorage(b, o) {
				out[k] = false
				break
			}
		}
	}
	return out
}

func sameStorage(a, b *buffer) bool {
	ra, rb := rawBytes(a), rawBytes(b)
	return a == b || len(ra) > 0 && len(rb) > 0 && &ra[0] == &rb[0]
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

// Execute runs the graph. A donated input may become the storage of an op
// that updates it in place (a scatter into a KV cache): the input buffer
// is then invalid, as the backends.Executable contract allows.
func (e *Executable) Execute(inputs []backends.Buffer, donate []bool, _ backends.DeviceNum) ([]backends.Buffer, error) {
	be := e.builder.backend
	if be.IsFinalized() {
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
	be.allocs.executes.Add(1)
	st := &state{e: e, in: in, donated: givenAway(in, donate), vals: make([]*buffer, len(e.nodes)), owned: make([]*buffer, len(e.nodes))}
	run := st.sequential
	if e.plan != nil {
		run = st.parallel
	}
	if err := run(); err != nil {
		return nil, err
	}
	outs := make([]backends.Buffer, len(e.outputs))
	seen := map[*buffer]bool{}
	for _, b := range in {
		seen[b] = true
	}
	for i, o := range e.outputs {
		v := st.vals[e.outPos[i]]
		// An output that is an input, a constant, another output or a view
		// of one gets its own storage: the caller owns what it receives.
		if seen[v] || o.constant != nil || aliases(o) {
			v = be.copyOf(v)
		}
		seen[v] = true
		outs[i] = v
	}
	// A pool worker may still hold a stale hint to this run: let it not
	// keep the values alive.
	st.vals, st.owned, st.in = nil, nil, nil
	return outs, nil
}

// state is one Execute's values.
type state struct {
	e       *Executable
	in      []*buffer
	donated []bool
	// vals[i] is nodes[i]'s value while someone may read it; owned[i] the
	// storage of an op output, until it goes back to the pool.
	vals, owned []*buffer
}

// sequential runs the nodes one after another in creation order.
func (st *state) sequential() error {
	e := st.e
	var args []*buffer
	for i := range e.nodes {
		var err error
		if args, err = st.compute(i, args); err != nil {
			return err
		}
		for _, p := range e.args[i] {
			if e.lastUse[p] == i {
				st.vals[p] = nil
			}
		}
		for _, p := range e.freeAfter[i] {
			if st.owned[p] != nil {
				e.builder.backend.release(st.owned[p])
				st.owned[p] = nil
			}
		}
	}
	return nil
}

// compute sets vals[i] to node i's value, from its inputs' values; args
// is scratch space, returned for the next call. A kernel indexing out of
// range is a bug of this package: it is reported as an error naming the
// op instead of crashing the program.
func (st *state) compute(i int, args []*buffer) (_ []*buffer, err error) {
	e, n := st.e, st.e.nodes[i]
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cpu backend: executable %q, op %s %s: panic: %v\n%s", e.builder.name, n.op, n.shape, r, debug.Stack())
		}
	}()
	switch {
	case n.param >= 0:
		st.vals[i] = st.in[n.param]
	case n.constant != nil:
		st.vals[i] = n.constant
	default:
		args = args[:0]
		for _, p := range e.args[i] {
			args = append(args, st.vals[p])
		}
		if r, ok := e.reuse(i, st.owned, st.donated); ok {
			st.vals[i] = n.inPlace(args)
			// The storage now belongs to node i: released after
			// i's last reader, never as r's.
			st.owned[r] = nil
			if p := e.nodes[r].param; p >= 0 {
				st.in[p].flat, st.in[p].taken = nil, true
			}
		} else {
			st.vals[i] = n.run(args)
		}
		st.owned[i] = st.vals[i]
	}
	return args, nil
}

// reuse reports whether node i may update its operand's storage in place
// in this call, and that storage's root: an op output nothing else holds,
// or a parameter whose buffer the caller gave away.
func (e *Executable) reuse(i int, owned []*buffer, donated []bool) (int, bool) {
	if !e.reusable[i] {
		return 0, false
	}
	r := e.root[e.args[i][0]]
	if p := e.nodes[r].param; p >= 0 {
		return r, donated[p]
	}
	return r, owned[r] != nil
}

// aliases reports whether n's value may share storage with another value.
func aliases(n *node) bool { return n.alias }
