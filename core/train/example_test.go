package train_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/core/train/optim"
)

// Fine-tune a fresh LoRA adapter with SFT for a few steps, save it as a
// PEFT directory and load it back into the inference core.
func Example() {
	b, err := backend.New("go")
	if err != nil {
		log.Fatal(err)
	}
	m, err := model.Load(b, "../../testdata/models/llama-tiny", model.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	tr, err := train.NewTrainer(m, train.Config{
		LoRA:      lora.Config{R: 4, Alpha: 8, TargetModules: []string{"q_proj", "v_proj"}},
		Optimizer: optim.AdamW{LR: 5e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
	})
	if err != nil {
		log.Fatal(err)
	}
	batch := train.Batch{
		IDs:  [][]int32{{1, 17, 42, 99, 5, 61, 7, 200, 13, 2}},
		Mask: [][]float32{{0, 0, 0, 1, 1, 1, 1, 1, 1, 1}}, // loss on the completion only
	}
	var first, last train.Metrics
	for i := 0; i < 10; i++ {
		if last, err = tr.Step(context.Background(), batch); err != nil {
			log.Fatal(err)
		}
		if i == 0 {
			first = last
		}
	}
	fmt.Printf("steps %d, loss fell: %v\n", last.Step, last.Loss < first.Loss-1)

	dir, _ := os.MkdirTemp("", "adapter")
	defer os.RemoveAll(dir)
	if err := tr.SaveAdapter(filepath.Join(dir, "out")); err != nil {
		log.Fatal(err)
	}
	a, err := lora.Load(filepath.Join(dir, "out"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("adapter modules:", len(a.Modules), "trainable:", tr.NumTrainable())
	// Output:
	// steps 10, loss fell: true
	// adapter modules: 4 trainable: 1792
}
