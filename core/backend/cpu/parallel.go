package cpu

// # Why elementwise ops split over goroutines
//
// After the GEMM the largest share of a training step is elementwise work
// on tensors of up to a few MB, which one core would do while the others
// idle. Each such op splits its own range over the backend's worker pool
// (sched.go) when it is large enough to pay for waking a worker.

// grain is the least work (in elements) worth a goroutine of its own.
const grain = 1 << 15

// parFn runs fn over [0, n) in contiguous ranges, possibly concurrently;
// unit is the elements each index stands for (a row's length).
type parFn func(n, unit int, fn func(lo, hi int))

// parallel is the backend's parFn.
func (b *Backend) parallel(n, unit int, fn func(lo, hi int)) {
	b.tasks.split(min(b.workers, n*max(unit, 1)/grain), n, fn)
}

// sliceAny is flat[lo:hi] for a slice of any dtype.
func sliceAny(flat any, lo, hi int) any {
	switch f := flat.(type) {
	case []float32:
		return f[lo:hi]
	case []float64:
		return f[lo:hi]
	case []bool:
		return f[lo:hi]
	case []int8:
		return f[lo:hi]
	case []int16:
		return f[lo:hi]
	case []int32:
		return f[lo:hi]
	case []int64:
		return f[lo:hi]
	case []uint8:
		return f[lo:hi]
	case []uint16:
		return f[lo:hi]
	case []uint32:
		return f[lo:hi]
	case []uint64:
		return f[lo:hi]
	}
	panic("cpu backend: sliceAny of an unsupported slice")
}
