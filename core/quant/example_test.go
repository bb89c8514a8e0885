package quant_test

import (
	"fmt"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/quant"
)

// Quantize a weight to NF4, save it as bitsandbytes would, and read it back.
func ExampleQuantizeNF4() {
	w := []float32{-2, 2, 0, 1, 0.32, -0.5}
	q, err := quant.QuantizeNF4(w, []int{2, 3}, quant.NF4Options{})
	if err != nil {
		panic(err)
	}
	fmt.Printf("packed %x, absmax %v\n", q.Packed, q.Absmax)
	fmt.Printf("dequantized %.4f\n", q.Dequantize())

	tensors := map[string]quant.Tensor{}
	for _, t := range q.Tensors("model.layers.0.mlp.up_proj") {
		tensors[t.Name] = t
	}
	fmt.Println(string(tensors["model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__nf4"].Data))
	back, err := quant.ReadNF4("model.layers.0.mlp.up_proj", tensors)
	if err != nil {
		panic(err)
	}
	fmt.Println(back.Shape, back.BlockSize)
	// Output:
	// packed 0f7c94, absmax [2]
	// dequantized [-2.0000 2.0000 0.0000 0.8814 0.3219 -0.5689]
	// {"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [2, 3]}
	// [2 3] 64
}

// Dequantize an int8 weight inside a gomlx graph and apply it: y = x·Wᵀ.
func ExampleDequantizeInt8Graph() {
	q, err := quant.QuantizeInt8([]float32{1, -1, 0.5, 2, 0, -2}, 2, 3)
	if err != nil {
		panic(err)
	}
	backend, err := simplego.New("ops_sequential")
	if err != nil {
		panic(err)
	}
	exec, err := graph.NewExec(backend, func(x, codes, scb *graph.Node) *graph.Node {
		w := quant.DequantizeInt8Graph(codes, scb) // float32 [2, 3]
		return graph.Einsum("bi,oi->bo", x, w)
	})
	if err != nil {
		panic(err)
	}
	out, err := exec.Exec([][]float32{{1, 1, 1}},
		tensors.FromFlatDataAndDimensions(q.Q, q.Rows, q.Cols), q.SCB)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.3f\n", out[0].Value())
	// Output:
	// [[0.504 0.000]]
}
