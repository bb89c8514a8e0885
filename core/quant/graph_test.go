package quant

import (
	"math"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// testBackend is the pure-Go backend with sequential op execution, which
// cannot deadlock on 2 cores (see core/backend).
var testBackend = sync.OnceValues(func() (backends.Backend, error) {
	return simplego.New("ops_sequential")
})

func backendOrSkip(t testing.TB) backends.Backend {
	t.Helper()
	b, err := testBackend()
	if err != nil {
		t.Fatalf("simplego backend: %v", err)
	}
	return b
}

// run executes fn on the given inputs and returns its single output as
// float32.
func run(t testing.TB, fn any, args ...any) []float32 {
	t.Helper()
	exec, err := NewExecAny(backendOrSkip(t), fn)
	if err != nil {
		t.Fatalf("new exec: %v", err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(args...)
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

func TestDequantizeInt8Graph_BitExact(t *testing.T) {
	const rows, cols = 37, 53
	w := randWeights(11, rows*cols, 0.03)
	copy(w[5*cols:6*cols], make([]float32, cols)) // a zero row
	q, err := QuantizeInt8(w, rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	// Weights enter as parameters in their storage dtypes.
	got := run(t, func(qn, scb *Node) *Node { return DequantizeInt8Graph(qn, scb) },
		tensors.FromFlatDataAndDimensions(q.Q, rows, cols), tensors.FromFlatDataAndDimensions(q.SCB, rows))
	sameBits(t, "in-graph int8", got, q.Dequantize())
	// And as constants.
	got = run(t, func(g *Graph) *Node { return q.DequantizeGraph(g) })
	sameBits(t, "in-graph int8 (const)", got, q.Dequantize())
}

func TestDequantizeNF4Graph_BitExact(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		opts  NF4Options
	}{
		{"whole_blocks", []int{16, 128}, NF4Options{}},
		{"partial_block", []int{9, 30}, NF4Options{}},
		{"odd_count", []int{7, 9}, NF4Options{}},
		{"blocksize_128", []int{5, 300}, NF4Options{BlockSize: 128}},
		{"double_quant", []int{130, 300}, NF4Options{DoubleQuant: true}}, // 610 blocks: 3 nested blocks
		{"double_quant_partial", []int{3, 50}, NF4Options{DoubleQuant: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.shape[0] * tc.shape[1]
			w := randWeights(uint64(n)+3, n, 0.02)
			q, err := QuantizeNF4(w, tc.shape, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			want := q.Dequantize()
			sameBits(t, "const", run(t, func(g *Graph) *Node { return q.DequantizeGraph(g) }), want)

			// As parameters: packed in bitsandbytes' [ceil(n/2), 1] shape.
			packed := tensors.FromFlatDataAndDimensions(q.Packed, len(q.Packed), 1)
			if a := q.Nested; a != nil {
				got := run(t, func(p, qa, na, code *Node) *Node {
					absmax := DequantizeNestedAbsmaxGraph(qa, na, code, a.Offset, a.BlockSize)
					return DequantizeNF4Graph(p, absmax, q.Shape, q.BlockSize)
				}, packed, tensors.FromFlatDataAndDimensions(a.Q, len(a.Q)),
					tensors.FromFlatDataAndDimensions(a.Absmax, len(a.Absmax)),
					tensors.FromFlatDataAndDimensions(a.Code, len(a.Code)))
				sameBits(t, "params", got, want)
				return
			}
			got := run(t, func(p, absmax *Node) *Node {
				return DequantizeNF4Graph(p, absmax, q.Shape, q.BlockSize)
			}, packed, tensors.FromFlatDataAndDimensions(q.Absmax, len(q.Absmax)))
			sameBits(t, "params", got, want)
		})
	}
}

// TestNF4Graph_MatMul checks y = x·Wᵀ with W dequantized in the graph against
// the float32 matmul with the original W: the error must be the NF4 error,
// and against Go's dequantized W it must be float32 rounding only.
func TestNF4Graph_MatMul(t *testing.T) {
	const batch, in, out = 8, 256, 96
	w := randWeights(21, out*in, 0.02)
	x := randWeights(22, batch*in, 1)
	q, err := QuantizeNF4(w, []int{out, in}, NF4Options{DoubleQuant: true})
	if err != nil {
		t.Fatal(err)
	}
	got := run(t, func(xn *Node) *Node {
		wq := q.DequantizeGraph(xn.Graph())
		return Einsum("bi,oi->bo", xn, wq)
	}, tensors.FromFlatDataAndDimensions(x, batch, in))

	matmul := func(w []float32) []float64 {
		y := make([]float64, batch*out)
		for b := range batch {
			for o := range out {
				var s float64
				for i := range in {
					s += float64(x[b*in+i]) * float64(w[o*in+i])
				}
				y[b*out+o] = s
			}
		}
		return y
	}
	ref, refDeq := matmul(w), matmul(q.Dequantize())
	var num, den, maxRound float64
	for i := range got {
		d := float64(got[i]) - ref[i]
		num += d * d
		den += ref[i] * ref[i]
		maxRound = max(maxRound, math.Abs(float64(got[i])-refDeq[i]))
	}
	rel := math.Sqrt(num / den)
	t.Logf("NF4 matmul relative error vs float32 weights: %.4f; max |graph - float64(deq)| = %.2g", rel, maxRound)
	// The output error is the weight error carried through the matmul.
	if bound := 1.25 * relErr(q.Dequantize(), w); rel > bound {
		t.Errorf("relative error %.4f > %.4f", rel, bound)
	}
	if maxRound > 1e-4 {
		t.Errorf("graph matmul differs from the dequantized reference by %g", maxRound)
	}
}

func TestDequantizeNF4Graph_BadShapes(t *testing.T) {
	q, err := QuantizeNF4(randWeights(1, 128, 1), []int{2, 64}, NF4Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fn   func(g *Graph) *Node
	}{
		{"packed_len", func(g *Graph) *Node {
			return DequantizeNF4Graph(Const(g, q.Packed[:10]), Const(g, q.Absmax), q.Shape, 64)
		}},
		{"absmax_len", func(g *Graph) *Node {
			return DequantizeNF4Graph(Const(g, q.Packed), Const(g, q.Absmax[:1]), q.Shape, 64)
		}},
		{"packed_dtype", func(g *Graph) *Node {
			return DequantizeNF4Graph(ConvertDType(Const(g, q.Packed), dtypes.Float32), Const(g, q.Absmax), q.Shape, 64)
		}},
		{"block_size", func(g *Graph) *Node {
			return DequantizeNF4Graph(Const(g, q.Packed), Const(g, q.Absmax), q.Shape, 0)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exec, err := NewExecAny(backendOrSkip(t), tc.fn)
			if err == nil {
				_, err = exec.Exec()
				exec.Finalize()
			}
			if err == nil {
				t.Fatal("no error")
			}
		})
	}
}
