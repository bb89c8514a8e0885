package cpu

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

func TestPool(t *testing.T) {
	b, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	big := shapes.Make(dtypes.Float32, 64<<20/4) // 64 MiB
	small := shapes.Make(dtypes.Float32, 10)

	x := b.alloc(big)
	b.release(x)
	if y := b.alloc(big); &y.flat.([]float32)[0] != &x.flat.([]float32)[0] {
		t.Error("a released buffer of the same size was not reused")
	}
	b.pool.maxBytes = 256 << 20 // maxPooledBytes would take more memory to reach
	for range 5 {               // 5 × 64 MiB > the limit
		b.release(b.alloc(big))
		b.release(newBuffer(big))
	}
	if b.pool.bytes > b.pool.maxBytes {
		t.Errorf("pool holds %d bytes, more than %d", b.pool.bytes, b.pool.maxBytes)
	}
	if b.pool.bytes < b.pool.maxBytes-64<<20 {
		t.Errorf("pool holds %d bytes: it stopped keeping buffers before its limit %d", b.pool.bytes, b.pool.maxBytes)
	}
	b.release(b.alloc(small))
	if len(b.pool.free[poolKey{dtypes.Float32, 10}]) != 0 {
		t.Error("a buffer below minPooled was pooled")
	}
	b.Finalize()
	if b.pool.bytes != 0 || len(b.pool.free) != 0 {
		t.Error("Finalize left buffers in the pool")
	}
}
