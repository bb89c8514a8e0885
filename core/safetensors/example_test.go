package safetensors_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/toolbrain/toolbrain/core/safetensors"
)

func Example() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	err = safetensors.Write(path, []safetensors.Tensor{
		{Name: "w", DType: safetensors.BF16, Shape: []int{2, 2}, Data: safetensors.EncodeBF16([]float32{1, 2, 3, 4})},
	}, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}

	set, err := safetensors.OpenDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	v, shape, err := set.Float32("w")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(set.Names(), shape, v)
	// Output: [w] [2 2] [1 2 3 4]
}
