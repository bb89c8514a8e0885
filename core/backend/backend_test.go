package backend

import (
	"errors"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func TestNew_Errors(t *testing.T) {
	tests := []struct {
		name, spec string
		unknown    bool
	}{
		{name: "unknown", spec: "tpu", unknown: true},
		{name: "deadlock-prone option", spec: "go:ops_parallel"},
		{name: "parallelism prints to stdout", spec: "go:parallelism=2"},
		{name: "bad simplego option", spec: "go:warp_speed"},
		{name: "relative plugin path", spec: "xla:plugins/pjrt.so"},
		{name: "missing plugin", spec: "xla:/nonexistent/pjrt_c_api_nothing_plugin.so"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.spec)
			if err == nil {
				b.Finalize()
				t.Fatalf("New(%q) succeeded, want an error", tt.spec)
			}
			if got := errors.Is(err, ErrUnknown); got != tt.unknown {
				t.Errorf("New(%q) = %v; errors.Is(ErrUnknown) = %v, want %v", tt.spec, err, got, tt.unknown)
			}
		})
	}
}

// TestGoBackend_NoDeadlock runs a graph with several independent matmuls many
// times: gomlx's default parallel op scheduling was seen to hang on it.
func TestGoBackend_NoDeadlock(t *testing.T) {
	b, err := New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	exec, err := graph.NewExec(b, func(x, w1, w2, w3, w4 *graph.Node) *graph.Node {
		a := graph.MatMul(x, w1)
		c := graph.MatMul(x, w2)
		d := graph.MatMul(x, w3)
		e := graph.MatMul(x, w4)
		return graph.ReduceAllSum(graph.Add(graph.Add(a, c), graph.Add(d, e)))
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 128
	x := make([]float32, n*n)
	for i := range x {
		x[i] = 1
	}
	in := tensors.FromFlatDataAndDimensions(x, n, n)
	const runs = 60
	// Two goroutines execute at once, as model.Logits does when it splits a
	// batch over concurrent executions.
	const concurrent = 2
	done := make(chan error, concurrent)
	for range concurrent {
		go runGraph(exec, in, runs, n, done)
	}
	for range concurrent {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("%d runs of a graph with 4 independent matmuls did not finish in 60s: deadlock", runs)
		}
	}
}

// runGraph executes exec runs times and reports the first problem (or nil)
// on done.
func runGraph(exec *graph.Exec, in *tensors.Tensor, runs, n int, done chan<- error) {
	for i := 0; i < runs; i++ {
		out, err := exec.Exec1(in, in, in, in, in)
		if err != nil {
			done <- err
			return
		}
		// Each of the 4 products is n·n entries of value n.
		if got, want := tensors.ToScalar[float32](out), float32(4*n*n*n); got != want {
			done <- errors.New("wrong sum")
			return
		}
	}
	done <- nil
}

func TestNew_Default(t *testing.T) {
	for _, spec := range []string{"", Default} {
		b, err := New(spec)
		if err != nil {
			t.Fatalf("New(%q): %v", spec, err)
		}
		if got := b.Name(); got != Default {
			t.Errorf("New(%q) is backend %q, want %q", spec, got, Default)
		}
		b.Finalize()
	}
}
