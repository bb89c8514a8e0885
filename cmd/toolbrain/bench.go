package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/gomlx/gomlx/backends"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train/bench"
)

// benchCmd runs `toolbrain bench forward|decode` on the benchmark shape of
// docs/PERFORMANCE.md (hidden 256, 2 layers, 4 heads, FFN 1024, vocab 512) and prints
// one JSON line.
func benchCmd(kind string) func(context.Context, *cmdIO, []string) error {
	return func(ctx context.Context, o *cmdIO, args []string) error {
		fs := newFlags(o, "bench "+kind, "[--batch N] [--seq N] [--iters N] [--backend go|cpu|xla]")
		batch := fs.Int("batch", 8, "batch size")
		seq := fs.Int("seq", 64, "tokens per row (forward) or cache length (decode)")
		iters := fs.Int("iters", 10, "warm iterations (forward) or timed steps (train)")
		be := fs.String("backend", backend.Default, "gomlx backend")
		hidden := fs.Int("hidden", 0, "override hidden size (0 = benchmark shape)")
		layers := fs.Int("layers", 0, "override layer count")
		if kind == "train" {
			fs.Int("lora", 0, "train LoRA adapters of this rank on every projection (0 = full fine-tuning)")
			fs.Bool("qlora", false, "hold the frozen base in NF4 (needs --lora)")
		}
		preset := fs.String("shape", "bench", "model shape: bench (the benchmark shape of docs/PERFORMANCE.md) or qwen2.5-0.5b (random weights)")
		quantFlag := fs.String("quant", "", "quantize linear weights: int8 or nf4")
		if _, err := parseFlags(fs, args); err != nil {
			return err
		}
		switch {
		case *batch < 1 || *seq < 1 || *iters < 1:
			return fmt.Errorf("%w: --batch, --seq and --iters must be at least 1 (got %d, %d, %d)", errUsage, *batch, *seq, *iters)
		case *hidden < 0 || *layers < 0:
			return fmt.Errorf("%w: --hidden and --layers must not be negative (got %d, %d)", errUsage, *hidden, *layers)
		}
		b, err := backend.New(*be)
		if err != nil {
			return err
		}
		defer b.Finalize()
		var cfg model.Config
		switch *preset {
		case "bench":
			cfg = model.BenchConfig()
		case "qwen2.5-0.5b":
			cfg = model.Qwen25HalfBConfig()
		default:
			return fmt.Errorf("%w: --shape must be bench or qwen2.5-0.5b, got %q", errUsage, *preset)
		}
		opts := model.LoadOptions{Quant: *quantFlag}
		if *hidden > 0 {
			cfg.HiddenSize = *hidden
		}
		if *layers > 0 {
			cfg.NumHiddenLayers = *layers
		}
		if kind == "train" {
			return benchTrain(ctx, o, b, cfg, *batch, *seq, *iters, *quantFlag, fs)
		}
		var r model.BenchResult
		switch kind {
		case "forward":
			r, err = model.BenchForward(ctx, b, cfg, *batch, *seq, *iters, opts)
		case "decode":
			r, err = model.BenchDecode(ctx, b, cfg, *batch, *seq, opts)
		default:
			err = fmt.Errorf("%w: unknown benchmark %q", errUsage, kind)
		}
		if err != nil {
			return err
		}
		// Every token of a forward pass and every decode step attends to
		// up to seq positions: the same matmul work per token.
		gflops := r.TokensPerSec * bench.ForwardFLOPs(cfg, 1, 1, *seq) / 1e9
		return writeJSON(o.stdout, modelBench{BenchResult: r, Backend: b.Name(), GFLOPs: gflops})
	}
}

// modelBench is a forward or decode benchmark with the backend that ran it
// and its matmul rate (bench.ForwardFLOPs per second).
type modelBench struct {
	model.BenchResult
	Backend string  `json:"backend"`
	GFLOPs  float64 `json:"gflops"`
}

// benchTrain is `toolbrain bench train [--lora R] [--qlora]`: training
// steps of core/train's Trainer against forward passes, in one process.
func benchTrain(ctx context.Context, o *cmdIO, b backends.Backend, cfg model.Config, batch, seq, steps int, quant string, fs *flag.FlagSet) error {
	rank, _ := strconv.Atoi(fs.Lookup("lora").Value.String())
	qlora := fs.Lookup("qlora").Value.String() == "true"
	if quant != "" {
		return fmt.Errorf("%w: use --qlora for a quantized base", errUsage)
	}
	r, err := bench.Train(ctx, b, cfg, batch, seq, steps, bench.Options{LoRARank: rank, QLoRA: qlora})
	if errors.Is(err, bench.ErrOptions) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err != nil {
		return err
	}
	return writeJSON(o.stdout, r)
}
