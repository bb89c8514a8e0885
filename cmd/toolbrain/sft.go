package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/toolbrain/toolbrain/core/checkpoint"
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
	var tf trainFlags
	tf.register(fs)
	resume := fs.Bool("resume", false, "continue the run in --out from its last checkpoint")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		return fmt.Errorf("%w: --data and --out are required", errUsage)
	}
	if err := tf.check(); err != nil {
		return err
	}
	if tf.qlora {
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
	total := tf.total(len(examples))
	cfg := tf.config(train.LossSFT, total)
	if a := l.model.Adapter(); a != nil {
		// --adapter: continue training that adapter (it was checked against
		// the base when it loaded); the Trainer applies it from now on.
		if tf.full {
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
	sum, err := sft.Run(ctx, tr, examples, sft.Options{Dir: *out, Batch: tf.batch, Steps: total, Seed: tf.seed, SaveEvery: tf.saveEvery,
		Resume: *resume, Eval: held, Progress: progress})
	if err != nil {
		return err
	}
	if sum.Output, err = saveTrained(*out, tf.full, l.ckpt, tr); err != nil {
		return err
	}
	return writeJSON(o.stdout, sum)
}

// trainFlags are the training flags `toolbrain sft` and `toolbrain
// distill` share.
type trainFlags struct {
	steps, batch, warmup, rank, saveEvery int
	lr, alpha, clip                       float64
	schedule, targets                     string
	rslora, qlora, full                   bool
	seed                                  int64
}

func (f *trainFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.steps, "steps", 0, "optimizer steps (default: one epoch)")
	fs.IntVar(&f.batch, "batch", 4, "sequences per step")
	fs.Float64Var(&f.lr, "lr", 2e-4, "peak learning rate")
	fs.IntVar(&f.warmup, "warmup", 0, "warmup steps")
	fs.StringVar(&f.schedule, "schedule", optim.Constant, "learning-rate schedule: constant, linear or cosine")
	fs.IntVar(&f.rank, "lora-r", 8, "LoRA rank")
	fs.Float64Var(&f.alpha, "lora-alpha", 16, "LoRA alpha")
	fs.StringVar(&f.targets, "lora-targets", "q_proj,v_proj", "comma-separated projections to adapt (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj)")
	fs.BoolVar(&f.rslora, "rslora", false, "scale by alpha/sqrt(r) (rsLoRA)")
	fs.BoolVar(&f.qlora, "qlora", false, "hold the frozen base in NF4 (QLoRA)")
	fs.BoolVar(&f.full, "full", false, "full fine-tuning instead of LoRA (small models)")
	fs.IntVar(&f.saveEvery, "save-every", 50, "checkpoint every N steps (and at the end)")
	fs.Float64Var(&f.clip, "max-grad-norm", 1, "clip gradients to this global norm (0 = off)")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the data order and the adapter initialisation")
}

func (f *trainFlags) check() error {
	if f.batch < 1 || f.steps < 0 || f.saveEvery < 1 {
		return fmt.Errorf("%w: --batch and --save-every must be positive, --steps not negative", errUsage)
	}
	if f.qlora && f.full {
		return fmt.Errorf("%w: --qlora trains adapters; it cannot go with --full", errUsage)
	}
	return nil
}

// total is --steps, or one epoch over n examples.
func (f *trainFlags) total(n int) int {
	if f.steps > 0 {
		return f.steps
	}
	return (n + f.batch - 1) / f.batch
}

// config is the trainer's configuration for a run of total steps.
func (f *trainFlags) config(lossName string, total int) train.Config {
	cfg := train.Config{
		Mode:        train.ModeLoRA,
		LoRA:        lora.Config{R: f.rank, Alpha: f.alpha, UseRSLoRA: f.rslora, TargetModules: strings.Split(f.targets, ",")},
		Seed:        f.seed,
		Loss:        lossName,
		Optimizer:   optim.AdamW{LR: f.lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0},
		Schedule:    optim.Schedule{Kind: f.schedule, WarmupSteps: f.warmup, TotalSteps: total},
		MaxGradNorm: f.clip,
	}
	if f.full {
		cfg.Mode = train.ModeFull
	}
	return cfg
}

// saveTrained writes what tr trained into the run directory out: the
// whole model (with the tokenizer files of ck) under full fine-tuning,
// else the adapter. It returns the path written.
func saveTrained(out string, full bool, ck *checkpoint.Checkpoint, tr *train.Trainer) (string, error) {
	if full {
		dir := filepath.Join(out, "model")
		if err := model.Save(dir, ck.Config, tr.Weights()); err != nil {
			return "", err
		}
		return dir, copyTokenizerFiles(ck.Dir, dir)
	}
	dir := filepath.Join(out, "adapter")
	return dir, tr.SaveAdapter(dir)
}
