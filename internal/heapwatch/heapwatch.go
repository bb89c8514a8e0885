// Package heapwatch measures how far the live heap grows while a function
// runs, for tests that pin a memory bound: a template, a module or a file
// that once made the process allocate gigabytes must now fail within a
// bound proportional to the limit that stops it.
package heapwatch

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// interval is how often the heap is sampled: fine enough to see a
// transient peak of a run that lasts tens of milliseconds.
const interval = time.Millisecond

// Growth runs fn and returns how far the heap's live objects grew above
// where they were when it started (after a collection), sampled every
// millisecond. Garbage not yet collected counts: the figure is what the
// process held, an upper bound on what fn kept.
func Growth(fn func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base := read()
	var peak atomic.Uint64
	note := func() {
		if v := read(); v > peak.Load() {
			peak.Store(v)
		}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			note()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(done)
	<-stopped
	note()
	return max(peak.Load(), base) - base
}
