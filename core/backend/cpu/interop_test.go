package cpu

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Schedules every executor test runs under: creation order (the
// default), independent large ops in parallel, every op handed off, and
// more workers than this machine has cores (more interleavings).
var schedules = []string{"", "interop=true", "interop=all", "interop=all,workers=8", "interop=true,workers=5"}

const side = 128 // branches work on side×side matrices: large nodes

// branchy builds a graph of many independent branches over x, plus a
// scatter that may write into the storage of an intermediate y that two
// independent nodes also read (one through a reshape view):
//
//	outputs: scatter(y), y·y, Σ reshape(y), Σ_k tanh(x·c_k)·w_k
func branchy(t *testing.T, b *Builder) []backends.Op {
	t.Helper()
	sq := shapes.Make(dtypes.Float32, side, side)
	x := must(t)(b.Parameter("x", sq, nil))
	y := must(t)(b.Add(x, x))
	yy := must(t)(b.Mul(y, y))
	sum := must(t)(b.ReduceSum(must(t)(b.Reshape(y, side*side)), 0))
	idx := must(t)(b.Constant([]int32{3, 100, 3}, 3, 1))
	upd := must(t)(b.Constant(ramp(3*side, 0.5), 3, side))
	sc := must(t)(b.ScatterSum(y, idx, upd, 1, []int{1}, []int{0}, []int{0}, false, false))
	var acc backends.Op
	for k := range 8 {
		c := must(t)(b.Constant(ramp(side*side, 0.01*float32(k+1)), side, side))
		w := must(t)(b.Constant(ramp(side*side, -0.02*float32(k+1)), side, side))
		h := must(t)(b.Tanh(must(t)(b.Mul(x, c))))
		d := must(t)(b.DotGeneral(h, []int{1}, nil, w, []int{0}, nil))
		if acc == nil {
			acc = d
		} else {
			acc = must(t)(b.Add(acc, d))
		}
	}
	return []backends.Op{sc, yy, sum, acc}
}

// ramp is n values cycling through a small range, scaled.
func ramp(n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = scale * float32(i%17-8)
	}
	return v
}

// compile builds build's graph on a new backend configured by config,
// finalized when the test ends.
func compile(t *testing.T, config string, build func(*testing.T, *Builder) []backends.Op) (*Backend, *Executable) {
	t.Helper()
	be, err := New(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.Finalize)
	b := newBuilder(be, "branchy")
	exe, err := b.Compile(build(t, b), nil)
	if err != nil {
		t.Fatal(err)
	}
	return be, exe.(*Executable)
}

// execute compiles build's graph on a backend configured by config, runs
// it runs times on the same input and returns each run's outputs.
func execute(t *testing.T, config string, build func(*testing.T, *Builder) []backends.Op, runs int) [][][]float32 {
	t.Helper()
	be, exe := compile(t, config, build)
	var got [][][]float32
	for range runs {
		buf, flat, err := be.NewSharedBuffer(0, shapes.Make(dtypes.Float32, side, side))
		if err != nil {
			t.Fatal(err)
		}
		copy(flat.([]float32), ramp(side*side, 0.1))
		outs, err := exe.Execute([]backends.Buffer{buf}, []bool{true}, 0)
		if err != nil {
			t.Fatal(err)
		}
		var run [][]float32
		for _, o := range outs {
			run = append(run, slices.Clone(o.(*buffer).flat.([]float32)))
			if err := be.BufferFinalize(o); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, run)
	}
	return got
}

// TestInterop_SameAsSequential: a graph of independent branches with an
// in-place scatter gives bit-identical results in every schedule, run
// after run (go test -race checks the schedule's ordering too).
func TestInterop_SameAsSequential(t *testing.T) {
	want := execute(t, "", branchy, 1)[0]
	x := ramp(side*side, 0.1)[3*side]
	u := ramp(3*side, 0.5)
	if got, w := want[0][3*side], (x+x)+u[0]+u[2*side]; got != w {
		t.Fatalf("scatter(y)[3, 0] = %v, want %v", got, w)
	}
	for _, config := range schedules[1:] {
		t.Run(config, func(t *testing.T) {
			for r, got := range execute(t, config, branchy, 10) {
				for i := range want {
					if !slices.Equal(got[i], want[i]) {
						t.Fatalf("run %d, output #%d differs from creation order's", r, i)
					}
				}
			}
		})
	}
}

// TestInterop_ScatterWaitsForReaders: the in-place scatter waits for
// every other reader of its operand's storage, including one that reads
// it through a view.
func TestInterop_ScatterWaitsForReaders(t *testing.T) {
	var outs []backends.Op
	_, e := compile(t, "interop=all", func(t *testing.T, b *Builder) []backends.Op {
		outs = branchy(t, b)
		return outs
	})
	pos := func(op backends.Op) int { return e.pos[op.(*node)] }
	sc, yy := pos(outs[0]), pos(outs[1])
	if !e.reusable[sc] {
		t.Fatal("the scatter is not planned in place; the test would not test the ordering")
	}
	view := pos(outs[2].(*node).inputs[0]) // the reshape; the reduction reads through it
	for _, reader := range []int{yy, view, pos(outs[2])} {
		if !reaches(e.plan, reader, sc) {
			t.Errorf("the scatter (node %d) does not wait for reader %s (node %d)", sc, e.nodes[reader].op, reader)
		}
	}
}

// reaches reports whether node to waits for node from, directly or not.
func reaches(p *interopPlan, from, to int) bool {
	seen := map[int32]bool{}
	stack := []int32{int32(from)}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, s := range p.succ[n] {
			if int(s) == to {
				return true
			}
			if !seen[s] {
				seen[s] = true
				stack = append(stack, s)
			}
		}
	}
	return false
}

// TestInterop_Errors: a panicking op, directly or in a range of its
// parallel split, fails the Execute with an error naming it, while
// independent branches run; no goroutine outlives the backend.
func TestInterop_Errors(t *testing.T) {
	tests := []struct {
		name string
		run  func(be *Backend) func([]*buffer) *buffer
	}{
		{name: "op", run: func(*Backend) func([]*buffer) *buffer {
			return func([]*buffer) *buffer { panic("boom") }
		}},
		{name: "range of a split", run: func(be *Backend) func([]*buffer) *buffer {
			return func(ins []*buffer) *buffer {
				be.parallel(side*side, 1<<15, func(lo, hi int) {
					if lo > 0 {
						panic("boom")
					}
				})
				return ins[0]
			}
		}},
	}
	before := runtime.NumGoroutine()
	for _, tt := range tests {
		for _, config := range schedules {
			t.Run(tt.name+"/"+config, func(t *testing.T) {
				be, exe := compile(t, config, func(t *testing.T, b *Builder) []backends.Op {
					outs := branchy(t, b)
					ns := must(t)(b.Tanh(b.params[0]))
					bad := b.add(backends.OpTypeTanh, ns.(*node).shape, []*node{ns.(*node)}, tt.run(b.backend))
					return append(outs, must(t)(b.Add(bad, outs[1])))
				})
				for range 3 {
					buf, _, err := be.NewSharedBuffer(0, shapes.Make(dtypes.Float32, side, side))
					if err != nil {
						t.Fatal(err)
					}
					_, err = exe.Execute([]backends.Buffer{buf}, nil, 0)
					if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "Tanh") {
						t.Fatalf("Execute = %v, want the panic as an error naming the op", err)
					}
				}
			})
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after finalizing the backends, %d before", n, before)
	}
}

// TestAllocStats_SecondExecute: once a graph ran, running it again with
// its previous outputs finalized takes every buffer from the free list.
func TestAllocStats_SecondExecute(t *testing.T) {
	for _, config := range schedules {
		t.Run(config, func(t *testing.T) {
			be, exe := compile(t, config, branchy)
			var steps []AllocStats
			for range 6 {
				buf, _, err := be.NewSharedBuffer(0, shapes.Make(dtypes.Float32, side, side))
				if err != nil {
					t.Fatal(err)
				}
				s0 := be.AllocStats()
				outs, err := exe.Execute([]backends.Buffer{buf}, nil, 0)
				if err != nil {
					t.Fatal(err)
				}
				steps = append(steps, be.AllocStats().Sub(s0))
				for _, o := range append(outs, buf) {
					if err := be.BufferFinalize(o); err != nil {
						t.Fatal(err)
					}
				}
			}
			first := steps[0]
			if first.Executes != 1 || first.FreshBuffers == 0 || first.FreshBytes < 4*side*side {
				t.Fatalf("first Execute: %+v, want 1 execute and fresh buffers", first)
			}
			var later AllocStats
			for i, s := range steps[1:] {
				later = later.Add(s)
				// Buffers below minPooled elements are always fresh; in
				// creation order every other one comes from the pool.
				if config == "" && s.FreshBytes >= s.FreshBuffers*minPooled {
					t.Errorf("Execute #%d in creation order: %+v, want only buffers below %d elements fresh", i+2, s, minPooled)
				}
			}
			// A parallel schedule may hold a few more buffers at once than
			// any run before it did; over 5 runs, those are a fraction of
			// the first run's.
			if later.FreshBytes > first.FreshBytes || later.PoolHits < 5*first.FreshBuffers/2 {
				t.Errorf("Executes #2-#6: %+v, want (almost) nothing fresh after the first's %+v", later, first)
			}
		})
	}
}

// TestTaskPool_Split: every range of nested splits from many goroutines
// runs exactly once, with a pool that is running, closed, or of one
// worker, and nothing deadlocks.
func TestTaskPool_Split(t *testing.T) {
	for _, tt := range []struct {
		name    string
		workers int
		spin    time.Duration
		closed  bool
	}{
		{"2 workers", 2, defaultSpin, false}, {"8 workers", 8, defaultSpin, false},
		{"2 workers that sleep at once", 2, 0, false}, {"8 workers that spin long", 8, 50 * time.Millisecond, false},
		{"closed", 4, defaultSpin, true}, {"1 worker", 1, defaultSpin, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newTaskPool(tt.workers, tt.spin)
			defer p.close()
			if tt.closed {
				p.close()
			}
			const callers, n, inner = 16, 40, 7
			var hits [callers][n * inner]atomic.Int32
			done := make(chan struct{})
			go func() {
				defer close(done)
				var wg sync.WaitGroup
				for c := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						p.split(tt.workers, n, func(lo, hi int) {
							for i := lo; i < hi; i++ {
								p.split(3, inner, func(lo, hi int) {
									for j := lo; j < hi; j++ {
										hits[c][i*inner+j].Add(1)
									}
								})
							}
						})
					}()
				}
				wg.Wait()
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("nested splits did not finish: deadlock")
			}
			for c := range hits {
				for i := range hits[c] {
					if h := hits[c][i].Load(); h != 1 {
						t.Fatalf("caller %d index %d ran %d times", c, i, h)
					}
				}
			}
		})
	}
}

// TestSplit_Panic: a panic in a range run by another worker reaches the
// caller after every range ended.
func TestSplit_Panic(t *testing.T) {
	p := newTaskPool(4, defaultSpin)
	defer p.close()
	var ran atomic.Int32
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "bad range") {
			t.Fatalf("recovered %v, want the range's panic", r)
		}
		if ran.Load() != 3 {
			t.Errorf("%d ranges ended before the panic was raised, want 3", ran.Load())
		}
	}()
	p.split(4, 4, func(lo, _ int) {
		if lo == 2 {
			panic("bad range")
		}
		time.Sleep(time.Millisecond)
		ran.Add(1)
	})
}
