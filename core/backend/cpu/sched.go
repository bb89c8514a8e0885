package cpu

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// # Why one fixed pool, and why it cannot deadlock
//
// Two kinds of work share the backend's workers: independent ops of a
// graph (the executor's inter-op parallelism, interop.go) and the pieces of
// one big op (a GEMM's panels, an elementwise op's ranges). gomlx's
// simplego runs both on one pool and can deadlock on 2 cores: a worker
// running an op waits for that op's pieces, which wait in the queue for a
// free worker, and every worker is such a waiter.
//
// Here no goroutine ever waits for queued work. Work is published to the
// owner's own list (the run's ready nodes, the split's unclaimed ranges);
// the pool only receives hints ("run r has work") that a worker may take.
// Whoever waits for that work claims it from the list and runs it itself
// first, and blocks only on work that another goroutine is already
// running. A run or a split therefore finishes even if no pool worker ever
// looks at it (all busy, or the backend finalized); the pool only lends
// hands.

// job is work a pool worker can lend a hand with: help runs some of it
// (possibly none, if the owner took it all) and returns.
type job interface{ help() }

// taskPool is a fixed set of workers-1 goroutines (the caller is the
// other one) fed with hints through jobs.
type taskPool struct {
	workers int
	start   sync.Once
	stop    sync.Once
	jobs    chan job
	quit    chan struct{}
}

func newTaskPool(workers int) *taskPool {
	return &taskPool{workers: workers, jobs: make(chan job, 64*workers), quit: make(chan struct{})}
}

// offer hints that j has work; it never blocks (a full queue drops the
// hint: the owner runs the work).
func (p *taskPool) offer(j job) {
	if p.workers <= 1 {
		return
	}
	p.start.Do(func() {
		for range p.workers - 1 {
			go p.loop()
		}
	})
	select {
	case p.jobs <- j:
	default:
	}
}

func (p *taskPool) loop() {
	for {
		select {
		case j := <-p.jobs:
			j.help()
		case <-p.quit:
			return
		}
	}
}

// close ends the workers once they finish what they run; later offers
// only queue hints nobody takes.
func (p *taskPool) close() { p.stop.Do(func() { close(p.quit) }) }

// split runs fn over [0, n) in k ranges (k ≤ n), the caller taking part
// and the pool helping. A panic in a range is raised again in the caller
// once every range has ended.
func (p *taskPool) split(k, n int, fn func(lo, hi int)) {
	k = min(k, n)
	if k <= 1 {
		fn(0, n)
		return
	}
	s := &splitJob{k: int32(k), n: n, fn: fn}
	s.wg.Add(k)
	for range k - 1 {
		p.offer(s)
	}
	s.help()
	s.wg.Wait()
	if v := s.panicked.Load(); v != nil {
		panic(*v)
	}
}

// splitJob is one split's ranges; a range belongs to whoever claims its
// index first.
type splitJob struct {
	k, next  int32
	n        int
	fn       func(lo, hi int)
	wg       sync.WaitGroup
	panicked atomic.Pointer[any]
}

func (s *splitJob) help() {
	for {
		c := atomic.AddInt32(&s.next, 1) - 1
		if c >= s.k {
			return
		}
		s.run(int(c))
	}
}

func (s *splitJob) run(c int) {
	defer s.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			v := any(fmt.Sprintf("%v (in a parallel range)\n%s", r, debug.Stack()))
			s.panicked.CompareAndSwap(nil, &v)
		}
	}()
	k := int(s.k)
	s.fn(c*s.n/k, (c+1)*s.n/k)
}
