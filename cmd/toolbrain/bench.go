package main

import (
	"context"
	"fmt"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/model"
)

// benchCmd runs `toolbrain bench forward|decode` on the benchmark shape of
// DESIGN.md (hidden 256, 2 layers, 4 heads, FFN 1024, vocab 512) and prints
// one JSON line.
func benchCmd(kind string) func(context.Context, *cmdIO, []string) error {
	return func(ctx context.Context, o *cmdIO, args []string) error {
		fs := newFlags(o, "bench "+kind, "[--batch N] [--seq N] [--iters N] [--backend go|xla]")
		batch := fs.Int("batch", 8, "batch size")
		seq := fs.Int("seq", 64, "tokens per row (forward) or cache length (decode)")
		iters := fs.Int("iters", 10, "warm iterations (forward)")
		be := fs.String("backend", "go", "gomlx backend")
		hidden := fs.Int("hidden", 0, "override hidden size (0 = benchmark shape)")
		layers := fs.Int("layers", 0, "override layer count")
		preset := fs.String("shape", "bench", "model shape: bench (DESIGN.md's benchmark shape) or qwen2.5-0.5b (random weights)")
		quantFlag := fs.String("quant", "", "quantize linear weights: int8 or nf4")
		if _, err := parseFlags(fs, args); err != nil {
			return err
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
		return writeJSON(o.stdout, r)
	}
}
