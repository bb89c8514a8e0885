package cpu

import (
	"sync"

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
// hundreds of MB.
const (
	maxPooledPerSize = 16
	maxPooledBytes   = 256 << 20
)

type poolKey struct {
	dtype dtypes.DType
	n     int
}

type pool struct {
	mu    sync.Mutex
	free  map[poolKey][]any
	bytes int // held in free
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
			return &buffer{shape: shape, flat: flat}
		}
		b.pool.mu.Unlock()
	}
	return newBuffer(shape)
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
	if len(b.pool.free[key]) < maxPooledPerSize && b.pool.bytes+size <= maxPooledBytes {
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
