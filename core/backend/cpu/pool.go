package cpu

import (
	"sync"
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// # Why buffers are recycled
//
// A training step allocates hundreds of intermediate tensors of a few
// sizes. Fresh Go slices are zeroed by the runtime and then overwritten by
// the op, and the garbage collector scans for them again: about a tenth
// of a step on the benchmark shape. The executable returns each
// intermediate to a free list once its last reader ran, and ops take
// their outputs from there, unzeroed: every op writes all of its output.

// minPooled: smaller buffers are cheaper to allocate than to look up.
const minPooled = 1024

// maxPooledPerSize and maxPooledBytes bound what the free lists hold, per
// dtype and length and in all: a large model's logits alone can be
// hundreds of MB. A training step on the benchmark shape holds up to ~40
// activations of one size for its backward pass; at 16 per size a fifth
// of its intermediates were allocated afresh every step (AllocStats). The
// email job's micro-batches (8 rows of ~400 tokens) free ~0.7 GB of
// attention scores and their gradients per step: at 256 MB in all, most
// came back fresh (zeroed, then collected), a third of its update time.
const (
	maxPooledPerSize = 64
	maxPooledBytes   = 1 << 30
)

type poolKey struct {
	dtype dtypes.DType
	n     int
}

type pool struct {
	mu       sync.Mutex
	free     map[poolKey][]any
	bytes    int // held in free
	maxBytes int // most bytes free may hold (0: maxPooledBytes)
}

// alloc returns a buffer of shape whose contents are undefined.
func (b *Backend) alloc(shape shapes.Shape) *buffer {
	n := shape.Size()
	if n >= minPooled {
		key := poolKey{shape.DType, n}
		b.pool.mu.Lock()
		if list := b.pool.free[key]; len(list) > 0 {
			flat := list[len(list)-1]
			b.pool.free[key] = list[:len(list)-1]
			b.pool.bytes -= n * shape.DType.Size()
			b.pool.mu.Unlock()
			b.allocs.hits.Add(1)
			return &buffer{shape: shape, flat: flat}
		}
		b.pool.mu.Unlock()
	}
	return b.fresh(shape)
}

// fresh allocates a zeroed buffer of shape and counts it.
func (b *Backend) fresh(shape shapes.Shape) *buffer {
	b.allocs.buffers.Add(1)
	b.allocs.bytes.Add(int64(shape.Size() * shape.DType.Size()))
	return newBuffer(shape)
}

type allocCounters struct {
	executes, buffers, bytes, hits atomic.Int64
}

// AllocStats counts, since the backend was created, the graph executions
// and the storage its buffers needed: allocated fresh (zeroed by the Go
// runtime, later collected) or taken from the free list. Fresh allocations
// include the buffers gomlx creates to upload inputs and those the
// executable copies outputs into; the GEMM's packing scratch, pooled
// separately, is not counted.
type AllocStats struct {
	Executes     int64 `json:"executes"`
	FreshBuffers int64 `json:"fresh_buffers"`
	FreshBytes   int64 `json:"fresh_bytes"`
	PoolHits     int64 `json:"pool_hits"`
}

// AllocStats returns the counts so far; subtract two of them (Sub) for
// what happened in between.
func (b *Backend) AllocStats() AllocStats {
	return AllocStats{
		Executes: b.allocs.executes.Load(), FreshBuffers: b.allocs.buffers.Load(),
		FreshBytes: b.allocs.bytes.Load(), PoolHits: b.allocs.hits.Load(),
	}
}

// Sub is s - t field by field.
func (s AllocStats) Sub(t AllocStats) AllocStats {
	return AllocStats{s.Executes - t.Executes, s.FreshBuffers - t.FreshBuffers, s.FreshBytes - t.FreshBytes, s.PoolHits - t.PoolHits}
}

// Add is s + t field by field.
func (s AllocStats) Add(t AllocStats) AllocStats {
	return AllocStats{s.Executes + t.Executes, s.FreshBuffers + t.FreshBuffers, s.FreshBytes + t.FreshBytes, s.PoolHits + t.PoolHits}
}

// StepAlloc is AllocStats averaged over the steps of a benchmark.
type StepAlloc struct {
	Executes     float64 `json:"executes"`
	FreshBuffers float64 `json:"fresh_buffers"`
	FreshBytes   float64 `json:"fresh_bytes"`
	PoolHits     float64 `json:"pool_hits"`
}

// PerStep is s averaged over steps (≥ 1).
func (s AllocStats) PerStep(steps int) StepAlloc {
	n := float64(max(steps, 1))
	return StepAlloc{float64(s.Executes) / n, float64(s.FreshBuffers) / n, float64(s.FreshBytes) / n, float64(s.PoolHits) / n}
}

// Meter sums a backend's AllocStats over the stretches of a benchmark
// it measures (the timed steps, not the compiling ones). Its results are
// nil for a backend other than "cpu". Allocations by other goroutines
// using the backend meanwhile are counted too.
type Meter struct {
	b     *Backend
	total AllocStats
}

// NewMeter returns a Meter of be.
func NewMeter(be backends.Backend) *Meter {
	b, _ := be.(*Backend)
	return &Meter{b: b}
}

// Measure runs step and adds what the backend allocated meanwhile.
func (m *Meter) Measure(step func() error) error {
	if m.b == nil {
		return step()
	}
	s0 := m.b.AllocStats()
	err := step()
	m.total = m.total.Add(m.b.AllocStats().Sub(s0))
	return err
}

// PerStep is the measured total averaged over steps, or nil when the
// backend is not "cpu".
func (m *Meter) PerStep(steps int) *StepAlloc {
	if m.b == nil {
		return nil
	}
	s := m.total.PerStep(steps)
	return &s
}

// release gives a buffer's storage back for reuse; nothing may read it
// afterwards.
func (b *Backend) release(buf *buffer) {
	n := buf.shape.Size()
	if n < minPooled || buf.flat == nil {
		return
	}
	key := poolKey{buf.shape.DType, n}
	b.pool.mu.Lock()
	defer b.pool.mu.Unlock()
	if b.pool.free == nil {
		b.pool.free = map[poolKey][]any{}
	}
	size := n * buf.shape.DType.Size()
	limit := b.pool.maxBytes
	if limit == 0 {
		limit = maxPooledBytes
	}
	if len(b.pool.free[key]) < maxPooledPerSize && b.pool.bytes+size <= limit {
		b.pool.free[key] = append(b.pool.free[key], buf.flat)
		b.pool.bytes += size
	}
}

// drain empties the free lists.
func (b *Backend) drain() {
	b.pool.mu.Lock()
	defer b.pool.mu.Unlock()
	b.pool.free, b.pool.bytes = nil, 0
}
