package bench

import (
	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
)

// ForwardFLOPs counts the floating-point operations of the matmuls of
// one forward pass of cfg over batch rows that each attend to ctx
// positions with tokens new tokens per row (forward: tokens = ctx = seq;
// one decode step: tokens = 1): the seven projections and the LM head
// (2·in·out per token) and attention's scores and weighted sum (4·ctx·head
// dim per head per token). Elementwise work is left out: it is a few
// percent of the total. Benchmarks turn it into GFLOP/s, comparable
// across backends and with PyTorch on the same shape.
func ForwardFLOPs(cfg model.Config, batch, tokens, ctx int) float64 {
	perToken := 0.0
	for _, m := range lora.Modules {
		if s, ok := cfg.LinearShape(m); ok {
			perToken += 2 * float64(s[0]) * float64(s[1])
		}
	}
	perToken += 4 * float64(ctx) * float64(cfg.HeadDimension()) * float64(cfg.NumAttentionHeads)
	perToken *= float64(cfg.NumHiddenLayers)
	perToken += 2 * float64(cfg.HiddenSize) * float64(cfg.VocabSize)
	return perToken * float64(batch*tokens)
}

// TrainFLOPs is a full fine-tuning step: the forward pass and a backward
// pass of twice its cost (the gradients of both matmul operands).
func TrainFLOPs(cfg model.Config, batch, seq int) float64 {
	return 3 * ForwardFLOPs(cfg, batch, seq, seq)
}
