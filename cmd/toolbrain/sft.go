package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/core/train/optim"
	"github.com/toolbrain/toolbrain/core/train/sft"
)

func sftCmd(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "sft", "--model DIR --data FILE.jsonl --out RUN [--eval FILE.jsonl] [--steps N] [--resume]")
	var mf modelFlags
	mf.register(fs)
	data := fs.String("data", "", "training data, one example per line: a JSON list of {\"role\": \"assistant\"|\"other\", \"text\": ...} segments, or {\"messages\": [...]} rendered by the chat template")
	evalData := fs.String("eval", "", "held-out data in the same format: its loss is reported before and after")
	out := fs.String("out", "", "run directory: checkpoints, and the trained adapter (or model) at the end")
	steps := fs.Int("steps", 0, "optimizer steps (default: one epoch)")
	batch := fs.Int("batch", 4, "sequences per step")
	lr := fs.Float64("lr", 2e-4, "peak learning rate")
	warmup := fs.Int("warmup", 0, "warmup steps")
	schedule := fs.String("schedule", optim.Constant, "learning-rate schedule: constant, linear or cosine")
	rank := fs.Int("lora-r", 8, "LoRA rank")
	alpha := fs.Float64("lora-alpha", 16, "LoRA alpha")
	targets := fs.String("lora-targets", "q_proj,v_proj", "comma-separated projections to adapt (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)")
	rslora := fs.Bool("rslora", false, "scale by alpha/sqrt(r) (rsLoRA)")
	qlora := fs.Bool("qlora", false, "hold the frozen base in NF4 (QLoRA)")
	full := fs.Bool("full", false, "full fine-tuning instead of LoRA (small models)")
	saveEvery := fs.Int("save-every", 50, "checkpoint every N steps (and at the end)")
	clip := fs.Float64("max-grad-norm", 1, "clip gradients to this global norm (0 = off)")
	seed := fs.Int64("seed", 1, "seed of the data order and the adapter initialisation")
	resume := fs.Bool("resume", false, "continue the run in --out from its last checkpoint")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		return fmt.Errorf("%w: --data and --out are required", errUsage)
	}
	if *batch < 1 || *steps < 0 || *saveEvery < 1 {
		return fmt.Errorf("%w: --batch and --save-every must be positive, --steps not negative", errUsage)
	}
	if *qlora && *full {
		return fmt.Errorf("%w: --qlora trains adapters; it cannot go with --full", errUsage)
	}
	if *qlora {
		mf.quant = model.QuantNF4
	}
	l, err := mf.load()
	if err != nil {
		return err
	}
	defer l.model.Close()
	tok, err := l.ckpt.Tokenizer()
	if err != nil {
		return err
	}
	read, err := sft.Reader(l.ckpt, tok, *data)
	if err != nil {
		return err
	}
	examples, err := read(*data)
	if err != nil {
		return err
	}
	var held []train.Example
	if *evalData != "" {
		if held, err = read(*evalData); err != nil {
			return err
		}
	}
	perEpoch := (len(examples) + *batch - 1) / *batch
	total := *steps
	if total == 0 {
		total = perEpoch
	}
	cfg := train.Config{
		Mode:        train.ModeLoRA,
		LoRA:        lora.Config{R: *rank, Alpha: *alpha, UseRSLoRA: *rslora, TargetModules: strings.Split(*targets, ",")},
		Seed:        *seed,
		Loss:        train.LossSFT,
		Optimizer:   optim.AdamW{LR: *lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0},
		Schedule:    optim.Schedule{Kind: *schedule, WarmupSteps: *warmup, TotalSteps: total},
		MaxGradNorm: *clip,
	}
	if *full {
		cfg.Mode = train.ModeFull
	}
	if a := l.model.Adapter(); a != nil {
		// --adapter: continue training that adapter (it was checked against
		// the base when it loaded); the Trainer applies it from now on.
		if *full {
			return fmt.Errorf("%w: --adapter trains an adapter; it cannot go with --full", errUsage)
		}
		if err := l.model.SetAdapter(nil); err != nil {
			return err
		}
		cfg.Adapter = a
	}
	tr, err := train.NewTrainer(l.model, cfg)
	if err != nil {
		return err
	}
	start := 0
	if *resume {
		r, err := tr.LoadCheckpoint(*out)
		if err != nil {
			return err
		}
		start = int(r.DataPosition)
		fmt.Fprintf(o.stderr, "resuming %s at step %d\n", *out, start)
	} else if _, err := os.Stat(filepath.Join(*out, train.CheckpointsDir)); err == nil {
		return fmt.Errorf("%s already holds a run: pass --resume to continue it, or choose another --out", *out)
	}
	var progress io.Writer = o.stderr
	if *resume {
		fmt.Fprintf(o.stderr, "resuming %s\n", *out)
	}
	sum, err := sft.Run(ctx, tr, examples, sft.Options{Dir: *out, Batch: *batch, Steps: total, Seed: *seed, SaveEvery: *saveEvery,
		Resume: *resume, Eval: held, Progress: progress})
	if err != nil {
		return err
	}
	if *full {
		sum.Output = filepath.Join(*out, "model")
		if err := model.Save(sum.Output, l.ckpt.Config, tr.Weights()); err != nil {
			return err
		}
		if err := copyTokenizerFiles(l.ckpt.Dir, sum.Output); err != nil {
			return err
		}
	} else {
		sum.Output = filepath.Join(*out, "adapter")
		if err := tr.SaveAdapter(sum.Output); err != nil {
			return err
		}
	}
	return writeJSON(o.stdout, sum)
}
