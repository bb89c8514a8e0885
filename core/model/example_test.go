package model_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/gomlx/gomlx/backends/simplego"

	"github.com/toolbrain/toolbrain/core/model"
)

// A tiny random checkpoint, written and loaded back as `toolbrain model
// init` does, then scored.
func ExampleModel_Logits() {
	backend, err := simplego.New("ops_sequential")
	if err != nil {
		log.Fatal(err)
	}
	cfg := model.Config{
		Architecture: model.Llama, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, RopeTheta: 10000, RMSNormEps: 1e-6,
		VocabSize: 100, MaxPositionEmbeddings: 256, BOSTokenID: 1, EOSTokenIDs: []int{2},
	}
	dir, err := os.MkdirTemp("", "tiny")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := model.Save(dir, cfg, model.RandomWeights(cfg, 1)); err != nil {
		log.Fatal(err)
	}
	m, err := model.Load(backend, dir, model.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	// Rows of different lengths are padded internally.
	logits, err := m.Logits(context.Background(), [][]int32{{1, 17, 42}, {1}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(logits[0]), len(logits[1]), len(logits[0][0]))
	// Output: 3 1 100
}

// Greedy decoding of two rows with different prompt lengths through the
// KV cache.
func ExampleModel_NewCache() {
	backend, err := simplego.New("ops_sequential")
	if err != nil {
		log.Fatal(err)
	}
	cfg := model.BenchConfig()
	m, err := model.New(backend, cfg, model.MapSource(model.RandomWeights(cfg, 1)), model.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	cache, err := m.NewCache(ctx, 2, 16)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	next := [][]int32{{1, 5, 9}, {1}} // the prompts
	for range 4 {
		logits, err := cache.Append(ctx, next)
		if err != nil {
			log.Fatal(err)
		}
		for b, l := range logits {
			best := 0
			for v := range l {
				if l[v] > l[best] {
					best = v
				}
			}
			next[b] = []int32{int32(best)}
		}
	}
	fmt.Println(cache.Len(0), cache.Len(1))
	// Output: 6 4
}
