package train

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
)

// benchBatch is batch×seq random tokens, loss on the second half.
func benchBatch(batch, seq, vocab int) Batch {
	rng := rand.New(rand.NewPCG(1, 2))
	var b Batch
	for i := 0; i < batch; i++ {
		ids := make([]int32, seq)
		mask := make([]float32, seq)
		for j := range ids {
			ids[j] = int32(rng.IntN(vocab))
			if j >= seq/2 {
				mask[j] = 1
			}
		}
		b.IDs, b.Mask = append(b.IDs, ids), append(b.Mask, mask)
		b.Advantages = append(b.Advantages, float32(rng.NormFloat64()))
	}
	return b
}

// BenchmarkTrainer_Step measures full training steps (forward, backward,
// AdamW) and reports train tokens/s. The bench shape (docs/PERFORMANCE.md) runs only
// with -bench and takes seconds per step with gomlx's stock DotGeneral
// gradient.
func BenchmarkTrainer_Step(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		cfg    model.Config
		quant  string
		tcfg   Config
		bs, sq int
	}{
		{"llama-tiny/lora-r8/sft", model.Config{}, "", Config{}, 8, 64},
		{"llama-tiny/lora-r8/grpo", model.Config{}, "", Config{Loss: LossGRPO}, 8, 64},
		{"bench-shape/lora-r8/sft", model.BenchConfig(), "", Config{LoRA: lora.Config{R: 8, Alpha: 16, TargetModules: lora.Modules}}, 8, 64},
		{"bench-shape/qlora-r8/sft", model.BenchConfig(), model.QuantNF4, Config{LoRA: lora.Config{R: 8, Alpha: 16, TargetModules: lora.Modules}}, 8, 64},
		{"bench-shape/full/sft", model.BenchConfig(), "", Config{Mode: ModeFull}, 8, 64},
	} {
		b.Run(c.name, func(b *testing.B) {
			var m *model.Model
			if c.cfg.HiddenSize == 0 {
				m, _ = tinyModel(b, model.LoadOptions{Quant: c.quant})
			} else {
				var err error
				m, err = model.New(testBackend(b), c.cfg, model.MapSource(model.RandomWeights(c.cfg, 1)), model.LoadOptions{Quant: c.quant})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
			}
			tr, err := NewTrainer(m, c.tcfg)
			if err != nil {
				b.Fatal(err)
			}
			batch := benchBatch(c.bs, c.sq, m.VocabSize())
			if _, err := tr.Step(ctx, batch); err != nil { // compile
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := tr.Step(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(c.bs*c.sq*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

func BenchmarkTrainer_LogProbs(b *testing.B) {
	m, a := tinyModel(b, model.LoadOptions{})
	tr, err := NewTrainer(m, Config{Adapter: a})
	if err != nil {
		b.Fatal(err)
	}
	batch := benchBatch(8, 64, m.VocabSize())
	ctx := context.Background()
	for b.Loop() {
		if _, err := tr.LogProbs(ctx, batch.IDs, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(8*64*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
