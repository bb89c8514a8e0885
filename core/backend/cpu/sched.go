package cpu

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
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

// # Why idle workers spin before they sleep
//
// A worker blocked on the hint channel costs the next split a wake-up: a
// futex, and on a virtual machine an interrupt to a halted vCPU, 20–50 µs
// measured on the reference machine. A decode step is a hundred ops of a
// few microseconds each, so a split waited for its helper longer than the
// work took, and splitting made small products slower than one goroutine.
// After each job a worker therefore polls for the next hint for a while
// (option spin=…, 200 µs by default) before it blocks, and a split's
// caller polls for its helpers' ranges before it parks. Both yield the
// CPU on every round, to this process's goroutines and to other
// processes, so the spinning only uses a CPU nothing else wants; this is
// the block time of OpenMP runtimes.

// defaultSpin is how long an idle worker polls for work before it blocks.
const defaultSpin = 200 * time.Microsecond

// job is work a pool worker can lend a hand with: help runs some of it
// (possibly none, if the owner took it all) and returns.
type job interface{ help() }

// taskPool is a fixed set of workers-1 goroutines (the caller is the
// other one) fed with hints through jobs.
type taskPool struct {
	workers int
	spin    time.Duration // how long an idle worker polls before it blocks
	start   sync.Once
	stop    sync.Once
	jobs    chan job
	quit    chan struct{}
}

func newTaskPool(workers int, spin time.Duration) *taskPool {
	return &taskPool{workers: workers, spin: spin, jobs: make(chan job, 64*workers), quit: make(chan struct{})}
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
		if j := p.poll(); j != nil {
			j.help()
			continue
		}
		select {
		case j := <-p.jobs:
			j.help()
		case <-p.quit:
			return
		}
	}
}

// poll returns the next hint if one arrives within p.spin, polling
// without sleeping and yielding the CPU between polls; nil otherwise.
func (p *taskPool) poll() job {
	if p.spin <= 0 {
		return nil
	}
	deadline := time.Now().Add(p.spin)
	for i := 1; ; i++ {
		select {
		case j := <-p.jobs:
			return j
		case <-p.quit:
			return nil
		default:
		}
		if !yieldUntil(i, deadline) {
			return nil
		}
	}
}

// yieldUntil lets other goroutines run and, every few rounds, other
// threads of the machine; it reports whether round i is still before
// the deadline (read only every few rounds: the clock costs more than a
// poll).
func yieldUntil(i int, deadline time.Time) bool {
	if i%16 != 0 {
		runtime.Gosched()
		return true
	}
	osYield()
	return time.Now().Before(deadline)
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
	if p.spin > 0 { // the other ranges are running: poll before parking
		deadline := time.Now().Add(p.spin)
		for i := 1; s.ended.Load() < s.k && yieldUntil(i, deadline); i++ {
		}
	}
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
	ended    atomic.Int32 // ranges that have returned
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
	defer s.ended.Add(1)
	defer func() {
		if r := recover(); r != nil {
			v := any(fmt.Sprintf("%v (in a parallel range)\n%s", r, debug.Stack()))
			s.panicked.CompareAndSwap(nil, &v)
		}
	}()
	k := int(s.k)
	s.fn(c*s.n/k, (c+1)*s.n/k)
}
