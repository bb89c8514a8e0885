// Package cpu is a gomlx backend for CPUs, registered as "cpu", that runs
// matmuls on a packed SIMD GEMM (internal/gemm: AVX-512 or AVX2+FMA in Go
// assembly, portable Go elsewhere).
//
// # Why a backend of our own
//
// gomlx's pure-Go backend (simplego) does its DotGeneral in scalar Go, and
// its kernel registry and node constructor are unexported: no outside
// package can replace only its matmul. A backend executes every op it
// accepts, so this one implements the ops ToolBrain's graphs use (the
// decoder, its gradients, the losses, AdamW, sampling, quantised weights)
// and nothing more. Any other op, or a dtype it does not handle, fails when
// the graph is built with an error that names the op and suggests
// backend = "go"; nothing fails half-way through a run.
//
// # How it runs a graph
//
// The builder records nodes in creation order, which is a topological
// order, and the executable runs them one after another in that order.
// Big ops split their own work (GEMM panels, elementwise ranges) over a
// fixed pool of workers (sched.go). Option interop=true also runs
// independent nodes at the same time on that pool, a node as soon as its
// inputs are computed; no worker ever waits for queued work, so the
// deadlock seen with simplego's parallel scheduling cannot happen here.
// It is off by default: on 2 cores the ops' own splits already keep both
// busy, and it measured no faster (interop.go). Each intermediate's
// storage goes back to a free list (pool.go) once its last reader ran;
// AllocStats counts what had to be allocated fresh.
//
// # Why a scatter may write into its operand
//
// A KV-cache step scatters a few new rows into each layer's cache, which
// at batch 32 × 1024 positions is tens of MB per layer; copying the
// operand for every step and layer made decoding memory-bound. A scatter
// adds into its operand's storage instead when nothing can observe it: an
// intermediate this op reads last (through any view), or an input the
// caller donated (backends.Executable allows reusing those), and never a
// constant, a graph output, or storage another input of the op shares.
// Run in parallel, such a scatter waits for every other reader of that
// storage (interop.go). Option inplace=false restores the copy.
package cpu

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/toolbrain/toolbrain/core/backend/cpu/internal/gemm"
)

// Name is the name the backend is registered under.
const Name = "cpu"

// Errors of this package.
var (
	// ErrUnsupported marks an op or dtype the backend does not implement.
	ErrUnsupported = errors.New("cpu backend: not supported")
	// ErrFinalized marks a use of a finalized backend or buffer.
	ErrFinalized = errors.New("cpu backend: finalized")
)

func init() {
	backends.Register(Name, func(config string) (backends.Backend, error) { return New(config) })
}

// Backend is the "cpu" gomlx backend. Its buffers live in Go memory and are
// shared with tensors (no copies to a device).
type Backend struct {
	kernel    gemm.Kernel
	workers   int
	finalized atomic.Bool
	pool      pool
	// copyOperands turns off in-place updates (inplace=false): every
	// scatter copies its operand, as before they existed. It is there to
	// measure the difference and to bisect a suspected aliasing bug.
	copyOperands bool
	// noFuseQuant turns off multiplying by quantised weights' codes
	// directly (fusequant=false): they are dequantised as the graph says.
	noFuseQuant bool
	// codedDots counts the products with quantised weights recognised.
	codedDots atomic.Int64
	// tasks is the worker pool both inter-op and intra-op work run on.
	tasks *taskPool
	// interop chooses how nodes are scheduled (option interop=…).
	interop interopMode
	// allocs counts storage allocations (see AllocStats).
	allocs allocCounters
}

var _ backends.Backend = (*Backend)(nil)

// New returns a backend configured by comma-separated options:
//
//	kernel=avx512|avx2|generic   force a GEMM micro-kernel (default: the
//	                             fastest this CPU runs)
//	workers=N                    size of the worker pool that runs
//	                             independent ops and splits big ones,
//	                             the calling goroutine included
//	                             (default GOMAXPROCS)
//	interop=true|false|all       run independent ops at the same time
//	                             (true), or one after another in creation
//	                             order (false, the default); all: hand
//	                             off even the smallest ops, to test the
//	                             scheduler
//	inplace=true|false           let a scatter write into its operand's
//	                             storage when nothing else reads it
//	                             (default true)
//	fusequant=true|false         multiply by int8/NF4 weights' codes
//	                             inside the GEMM instead of dequantising
//	                             them first (default true; see coded.go)
//	spin=DURATION                how long an idle worker polls for work
//	                             before it sleeps, e.g. 50us; 0 sleeps at
//	                             once (default 200us; see sched.go)
func New(config string) (*Backend, error) {
	b := &Backend{kernel: gemm.Best(), workers: runtime.GOMAXPROCS(0)}
	spin := defaultSpin
	for _, o := range strings.Split(config, ",") {
		key, value, _ := strings.Cut(o, "=")
		switch key {
		case "":
		case "kernel":
			k, err := gemm.KernelByName(value)
			if err != nil {
				return nil, fmt.Errorf("cpu backend option %q: %w", o, err)
			}
			b.kernel = k
		case "workers":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("cpu backend option %q: want a positive number of workers", o)
			}
			b.workers = n
		case "inplace":
			v, err := strconv.ParseBool(value)
			if err != nil {
				return nil, fmt.Errorf("cpu backend option %q: want true or false", o)
			}
			b.copyOperands = !v
		case "interop":
			m, ok := interopModes[value]
			if !ok {
				return nil, fmt.Errorf("cpu backend option %q: want true, false or all", o)
			}
			b.interop = m
		case "fusequant":
			v, err := strconv.ParseBool(value)
			if err != nil {
				return nil, fmt.Errorf("cpu backend option %q: want true or false", o)
			}
			b.noFuseQuant = !v
		case "spin":
			d, err := time.ParseDuration(value)
			if err != nil || d < 0 || d > time.Second {
				return nil, fmt.Errorf("cpu backend option %q: want a duration from 0 to 1s, e.g. 50us", o)
			}
			spin = d
		default:
			return nil, fmt.Errorf("cpu backend: unknown option %q (want kernel=…, workers=…, interop=…, inplace=…, fusequant=… or spin=…)", o)
		}
	}
	b.tasks = newTaskPool(b.workers, spin)
	b.kernel = b.kernel.WithSplitter(b.tasks.split)
	return b, nil
}

// interopMode is the interop option's value.
type interopMode int

const (
	interopOff interopMode = iota // creation order (the default)
	interopOn                     // independent large ops in parallel
	interopAll                    // every op handed off (testing)
)

var interopModes = map[string]interopMode{"true": interopOn, "false": interopOff, "all": interopAll}

// CodedDots is how many matmuls with int8 or NF4 weights the graphs built
// on b run on the weights' codes (see coded.go): a quantised model whose
// count stays 0 dequantises its weights to float32 in every call.
func (b *Backend) CodedDots() int64 { return b.codedDots.Load() }

// Kernel names the GEMM micro-kernel in use ("avx512", "avx2", "generic").
func (b *Backend) Kernel() string { return b.kernel.Name }

func (b *Backend) Name() string   { return Name }
func (b *Backend) String() string { return Name }
func (b *Backend) Description() string {
	return fmt.Sprintf("ToolBrain CPU backend (GEMM kernel %s, %d workers)", b.kernel.Name, b.workers)
}
func (b *Backend) NumDevices() int { return 1 }
func (b *Backend) DeviceDescription(backends.DeviceNum) string {
	return "cpu:0"
}

// Capabilities lists the ops and dtypes the builder accepts.
func (b *Backend) Capabilities() backends.Capabilities {
	c := backends.Capabilities{Operations: map[backends.OpType]bool{}, DTypes: map[dtypes.DType]bool{}}
	for op := range implemented {
		c.Operations[op] = true
	}
	for dt := range supportedDTypes {
		c.DTypes[dt] = true
	}
	return c
}

func (b *Backend) Builder(name string) backends.Builder { return newBuilder(b, name) }

// Finalize marks the backend finalized, stops its workers and drops its
// recycled buffers.
func (b *Backend) Finalize() {
	b.finalized.Store(true)
	b.tasks.close()
	b.drain()
}
func (b *Backend) IsFinalized() bool { return b.finalized.Load() }

// supportedDTypes are the dtypes buffers and ops handle.
var supportedDTypes = map[dtypes.DType]bool{
	dtypes.Bool: true, dtypes.Int8: true, dtypes.Int16: true, dtypes.Int32: true, dtypes.Int64: true,
	dtypes.Uint8: true, dtypes.Uint16: true, dtypes.Uint32: true, dtypes.Uint64: true,
	dtypes.Float32: true, dtypes.Float64: true,
}

// buffer is a tensor's storage: a Go slice of the dtype's Go type.
type buffer struct {
	shape shapes.Shape
	flat  any
	// taken: the buffer was donated to an execution that now uses its
	// storage for an output; finalizing it is a no-op.
	taken bool
}

// newBuffer allocates a zeroed buffer of shape.
func newBuffer(shape shapes.Shape) *buffer {
	return &buffer{shape: shape, flat: makeFlat(shape.DType, shape.Size())}
}

func makeFlat(dt dtypes.DType, n int) any {
	switch dt {
	case dtypes.Float32:
		return make([]float32, n)
	case dtypes.Int32:
		return make([]int32, n)
	case dtypes.Bool:
		return make([]bool, n)
	}
	return reflect.MakeSlice(reflect.SliceOf(dt.GoType()), n, n).Interface()
}

func toBuffer(b backends.Buffer) (*buffer, error) {
	buf, ok := b.(*buffer)
	if !ok || buf == nil {
		return nil, fmt.Errorf("cpu backend: buffer %T is not from this backend", b)
	}
	if buf.flat == nil {
		return nil, fmt.Errorf("buffer %s: %w", buf.shape, ErrFinalized)
	}
	return buf, nil
}

func (b *Backend) BufferFinalize(buf backends.Buffer) error {
	if bb, ok := buf.(*buffer); ok && bb != nil && bb.taken {
		return nil
	}
	bb, err := toBuffer(buf)
	if err != nil {
		return err
	}
	// The storage is recycled: a finalized buffer's data must not be read
	// (gomlx invalidates the tensor that held it).
	b.release(bb)
	bb.flat = nil
	return nil
}

// BufferShape answers for finalized buffers too, as simplego does: gomlx
// may ask for the shape of a tensor's buffer while another goroutine
// finalizes it.
func (b *Backend) BufferShape(buf backends.Buffer) (shapes.Shape, error) {
	bb, ok := buf.(*buffer)
	if !ok || bb == nil {
		return shapes.Invalid(), fmt.Errorf("cpu backend: buffer %T is not from this backend", buf)
	}
	return bb.shape, nil
}

func (b *Backend) BufferDeviceNum(backends.Buffer) (backends.DeviceNum, error) { return 0, nil }

func (b *Backend) BufferToFlatData(buf backends.Buffer, flat any) error {
	bb, err := toBuffer(buf)
	if err != nil {
		return err
	}
	if reflect.TypeOf(flat) != reflect.TypeOf(bb.flat) {
		return fmt.Errorf("cpu backend: BufferToFlatData of %s into %T", bb.shape, flat)
	}
	if n := reflect.ValueOf(flat).Len(); n != bb.shape.Size() {
		return fmt.Errorf("cpu backend: BufferToFlatData of %s into %d elements", bb.shape, n)
	}
	reflect.Copy(reflect.ValueOf(flat), reflect.ValueOf(bb.flat))
	return nil
}

func (b *Backend) BufferFromFlatData(_ backends.DeviceNum, flat any, shape shapes.Shape) (backends.Buffer, error) {
	if !supportedDTypes[shape.DType] {
		return nil, fmt.Errorf("cpu backend: dtype %s: %w (use backend = \"go\")", shape.DType, ErrUnsupported)
	}
	if reflect.TypeOf(flat) != reflect.TypeOf(makeFlat(shape.DType, 0)) || reflect.ValueOf(flat).Len() != shape.Size() {
		return nil, fmt.Errorf("cpu backend: BufferFromFlatData of %T (len %d) for shape %s", flat, reflect.ValueOf(flat).Len(), shape)
	}
	buf := b.alloc(shape) // the copy overwrites all of it
	reflect.Copy(reflect.ValueOf(buf.flat), reflect.ValueOf(flat))
	return buf, nil
}

func (b *Backend) HasSharedBuffers() bool { return true }

func (b *Backend) NewSharedBuffer(_ backends.DeviceNum, shape shapes.Shape) (backends.Buffer, any, error) {
	if !supportedDTypes[shape.DType] {
		return nil, nil, fmt.Errorf("cpu backend: dtype %s: %w (use backend = \"go\")", shape.DType, ErrUnsupported)
	}
	// Recycled storage, zeroed as a fresh one would be: gomlx's caller
	// fills it, but a shared buffer is the caller's to write or not.
	buf := b.alloc(shape)
	reflect.ValueOf(buf.flat).Clear()
	return buf, buf.flat, nil
}

func (b *Backend) BufferData(buf backends.Buffer) (any, error) {
	bb, err := toBuffer(buf)
	if err != nil {
		return nil, err
	}
	return bb.flat, nil
}

func (b *Backend) BufferCopyToDevice(source backends.Buffer, deviceNum backends.DeviceNum) (backends.Buffer, error) {
	bb, err := toBuffer(source)
	if err != nil {
		return nil, err
	}
	if deviceNum != 0 {
		return nil, fmt.Errorf("cpu backend: device %d: there is only device 0", deviceNum)
	}
	return b.copyOf(bb), nil
}

// copyOf returns a fresh copy of x.
func (b *Backend) copyOf(x *buffer) *buffer {
	out := b.alloc(x.shape) // the copy overwrites all of it
	reflect.Copy(reflect.ValueOf(out.flat), reflect.ValueOf(x.flat))
	return out
}
