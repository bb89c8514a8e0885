package cpu

import (
	"sync"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
)

// # Why independent ops run at the same time, and when they do not
//
// Ops below the size at which they split their own work (parallel.go's
// grain, the GEMM's minParallelFlops) run on one core; a decode step or a
// small model's backward pass is mostly such ops, side by side in the
// graph (the query, key and value projections, a layer's gradients with
// respect to its input and to its weights). The executor runs a node as
// soon as its inputs are computed, on the backend's worker pool.
//
// Handing a node to another worker costs a wake-up (microseconds), more
// than a small op itself: a node whose inputs and output together hold
// fewer than minInterop elements is never handed off but run by the
// goroutine that made it ready, right away. Nor is a node that splits its
// own work over the workers (a product, a large elementwise op): it keeps
// them busy by itself. Of several other large nodes made ready at once,
// that goroutine keeps one and publishes the others for idle workers. A
// graph with fewer than two such nodes runs in creation order, without
// the scheduler.
//
// # Why it is off by default
//
// On the 2-core machine of docs/PERFORMANCE.md the benchmark shape's
// training step, forward pass and decode step measured no faster with it
// (go test -bench Interop ./core/train/bench): the ops large enough to be
// worth a hand-off already split over both cores themselves, and the
// rest are too small to pay for one. Option interop=true turns it on, for
// machines with more cores or graphs with more independent branches.
//
// # Ordering rules
//
// A node waits for the nodes whose values it reads. A scatter that writes
// into its operand's storage (exec.go planReuse) also waits for every
// other reader of that storage, through any view. A storage goes back to
// the pool when its count of readers that have not yet run reaches zero.
// Each op computes the same bits whichever goroutine runs it (an op's own
// split depends on the backend's worker count only), so results equal
// those of the sequential order bit for bit.

// minInterop: nodes touching fewer elements (inputs plus output) run on
// the goroutine that made them ready instead of being handed off.
const minInterop = 1 << 14

// splitsItself reports whether n's run keeps every worker busy on its
// own: a product, or an elementwise op big enough to split (parallel.go).
// Handing it to another worker gains nothing.
func splitsItself(n *node) bool {
	return n.splits && (n.op == backends.OpTypeDotGeneral || n.shape.Size() >= 2*grain)
}

// interopPlan is the dependency graph of an executable's nodes.
type interopPlan struct {
	// succ[i] are the nodes that wait for nodes[i]; deps[i] how many
	// nodes nodes[i] waits for.
	succ [][]int32
	deps []int32
	// reads[i] are the freeable storages (roots) nodes[i] reads; readers[r]
	// how many nodes read root r. views[r] are the nodes whose value lives
	// in root r's storage (r included).
	reads   [][]int32
	readers []int32
	views   [][]int32
	// large[i]: nodes[i] is worth handing to another worker.
	large []bool
	// start are the nodes that wait for nothing.
	start []int32
}

// planInterop returns the executable's schedule, or nil when it runs in
// creation order.
func (e *Executable) planInterop() *interopPlan {
	be := e.builder.backend
	if be.interop == interopOff || be.workers < 2 {
		return nil
	}
	least := minInterop
	if be.interop == interopAll {
		least = 0
	}
	n := len(e.nodes)
	p := &interopPlan{succ: make([][]int32, n), deps: make([]int32, n), reads: make([][]int32, n),
		readers: make([]int32, n), views: make([][]int32, n), large: make([]bool, n)}
	// readersOf[r]: the nodes that read root r's storage, in order.
	readersOf := make([][]int, n)
	largeNodes := 0
	for i, nd := range e.nodes {
		p.views[e.root[i]] = append(p.views[e.root[i]], int32(i))
		size := nd.shape.Size()
		for _, a := range e.args[i] {
			size += e.nodes[a].shape.Size()
			r := e.root[a]
			if l := readersOf[r]; len(l) == 0 || l[len(l)-1] != i {
				readersOf[r] = append(readersOf[r], i)
				if e.freeable(r) {
					p.reads[i] = append(p.reads[i], int32(r))
					p.readers[r]++
				}
			}
		}
		if nd.param < 0 && nd.constant == nil && size >= least && (least == 0 || !splitsItself(nd)) {
			p.large[i] = true
			largeNodes++
		}
	}
	if largeNodes < 2 && be.interop != interopAll {
		return nil
	}
	seen := make([]int, n) // seen[j] == i+1: j already precedes i
	edge := func(j, i int) {
		if seen[j] != i+1 {
			seen[j] = i + 1
			p.succ[j] = append(p.succ[j], int32(i))
			p.deps[i]++
		}
	}
	for i := range e.nodes {
		for _, a := range e.args[i] {
			edge(a, i)
		}
		if e.reusable[i] {
			for _, j := range readersOf[e.root[e.args[i][0]]] {
				if j != i {
					edge(j, i)
				}
			}
		}
		if p.deps[i] == 0 {
			p.start = append(p.start, int32(i))
		}
	}
	return p
}

// sched is one parallel Execute: the nodes' counters and the ready
// nodes that any worker may take. It is the job pool workers help with.
type sched struct {
	*state
	p       *interopPlan
	pool    *taskPool
	pending []atomic.Int32 // inputs not yet computed, per node
	readers []atomic.Int32 // readers not yet run, per root
	left    atomic.Int32   // nodes not yet run
	failed  atomic.Bool
	wake    chan struct{} // the owner re-checks the state

	mu     sync.Mutex
	ready  []int32
	active int // helpers running nodes
	err    error
}

// parallel runs the nodes over the worker pool: the calling goroutine
// runs nodes until every node ran; while all remaining nodes are already
// running elsewhere, it helps with the pool's work or sleeps.
func (st *state) parallel() error {
	p := st.e.plan
	s := &sched{state: st, p: p, pool: st.e.builder.backend.tasks,
		pending: make([]atomic.Int32, len(p.deps)), readers: make([]atomic.Int32, len(p.readers)),
		wake: make(chan struct{}, 1)}
	for i, d := range p.deps {
		s.pending[i].Store(d)
	}
	for r, c := range p.readers {
		s.readers[r].Store(c)
	}
	s.left.Store(int32(len(p.deps)))
	s.ready = append(s.ready, p.start...)
	for {
		s.mu.Lock()
		done := s.left.Load() == 0 || s.failed.Load() && s.active == 0
		if done {
			err := s.err
			s.ready = nil
			s.mu.Unlock()
			return err
		}
		if len(s.ready) > 0 && !s.failed.Load() {
			i := s.ready[len(s.ready)-1]
			s.ready = s.ready[:len(s.ready)-1]
			s.mu.Unlock()
			s.runFrom(i)
			continue
		}
		s.mu.Unlock()
		// Waiting, the owner is one of the pool's hands: the node running
		// elsewhere may have split its work.
		select {
		case <-s.wake:
		case j := <-s.pool.jobs:
			j.help()
		}
	}
}

// help runs one ready node and what it makes ready, if any is left.
func (s *sched) help() {
	s.mu.Lock()
	if s.failed.Load() || len(s.ready) == 0 {
		s.mu.Unlock()
		return
	}
	i := s.ready[len(s.ready)-1]
	s.ready = s.ready[:len(s.ready)-1]
	s.active++
	s.mu.Unlock()
	s.runFrom(i)
	s.mu.Lock()
	s.active--
	s.mu.Unlock()
	s.signal()
}

// signal wakes the owner if it waits.
func (s *sched) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// runFrom runs node i, then the nodes it makes ready that stay on this
// goroutine: every small one and one large one; other large ones are
// published.
func (s *sched) runFrom(i int32) {
	var args []*buffer
	var mine []int32
	largeMine := 0
	for {
		var err error
		if args, err = s.compute(int(i), args); err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = err
			}
			s.failed.Store(true)
			s.mu.Unlock()
			s.signal()
			return
		}
		s.releaseAfter(i)
		for _, n := range s.p.succ[i] {
			if s.pending[n].Add(-1) != 0 {
				continue
			}
			switch {
			case !s.p.large[n]:
				mine = append(mine, n)
			case largeMine == 0:
				mine = append(mine, n)
				largeMine++
			default:
				s.publish(n)
			}
		}
		if s.left.Add(-1) == 0 {
			s.signal()
		}
		if len(mine) == 0 || s.failed.Load() {
			return
		}
		i = mine[len(mine)-1]
		mine = mine[:len(mine)-1]
		if s.p.large[i] {
			largeMine--
		}
	}
}

// publish makes node i available to any worker.
func (s *sched) publish(i int32) {
	s.mu.Lock()
	s.ready = append(s.ready, i)
	s.mu.Unlock()
	s.pool.offer(s)
	s.signal()
}

// releaseAfter counts node i's reads: a storage whose last reader this
// was goes back to the pool, and the values living in it are dropped.
func (s *sched) releaseAfter(i int32) {
	for _, r := range s.p.reads[i] {
		if s.readers[r].Add(-1) != 0 {
			continue
		}
		if b := s.owned[r]; b != nil {
			s.e.builder.backend.release(b)
			s.owned[r] = nil
		}
		for _, v := range s.p.views[r] {
			s.vals[v] = nil
		}
	}
}
