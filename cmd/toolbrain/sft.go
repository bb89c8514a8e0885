package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/core/train/optim"
)

// sftSummary is what `toolbrain sft` prints when it finishes.
type sftSummary struct {
	Steps          int     `json:"steps"`
	FirstLoss      float64 `json:"first_loss"`
	LastLoss       float64 `json:"last_loss"`
	EvalLossBefore float64 `json:"eval_loss_before,omitempty"`
	EvalLossAfter  float64 `json:"eval_loss_after,omitempty"`
	Output         string  `json:"output"`
	TokensPerSec   float64 `json:"train_tokens_per_sec"`
}

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
	read, err := sftReader(l, tok, *data)
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
	var sum sftSummary
	if held != nil {
		if sum.EvalLossBefore, err = heldOutLoss(ctx, tr, held, *batch); err != nil {
			return err
		}
	}
	bar := progressbar.NewOptions(total-start, progressbar.OptionSetWriter(o.stderr), progressbar.OptionSetDescription("sft"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.stderr) }))
	began, tokens := time.Now(), 0.0
	for step := start; step < total; step++ {
		m, err := tr.Step(ctx, train.SFTBatch(sftBatch(examples, *batch, step, *seed)))
		if err != nil {
			return fmt.Errorf("step %d: %w", step+1, err)
		}
		if step == start {
			sum.FirstLoss = m.Loss
		}
		sum.LastLoss, sum.Steps = m.Loss, step+1
		tokens += m.Tokens
		bar.Describe(fmt.Sprintf("sft loss %.4f", m.Loss))
		_ = bar.Add(1)
		if (step+1)%*saveEvery == 0 || step+1 == total {
			if err := tr.SaveCheckpoint(*out, train.Resume{DataPosition: int64(step + 1)}); err != nil {
				return err
			}
		}
	}
	if el := time.Since(began).Seconds(); el > 0 {
		sum.TokensPerSec = tokens / el
	}
	if held != nil {
		if sum.EvalLossAfter, err = heldOutLoss(ctx, tr, held, *batch); err != nil {
			return err
		}
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

// sftBatch is the batch of step: the examples of a per-epoch permutation
// drawn from (seed, epoch), so a resumed run sees the same order.
func sftBatch(ex []train.Example, size, step int, seed int64) []train.Example {
	perEpoch := (len(ex) + size - 1) / size
	epoch, i := step/perEpoch, step%perEpoch
	perm := rand.New(rand.NewPCG(uint64(seed), uint64(epoch))).Perm(len(ex))
	var out []train.Example
	for _, j := range perm[i*size : min((i+1)*size, len(ex))] {
		out = append(out, ex[j])
	}
	return out
}

// heldOutLoss is the mean NLL of the masked tokens of ex under the current
// policy (adapters on).
func heldOutLoss(ctx context.Context, tr *train.Trainer, ex []train.Example, batch int) (float64, error) {
	var nll, n float64
	for i := 0; i < len(ex); i += batch {
		part := ex[i:min(i+batch, len(ex))]
		ids := make([][]int32, len(part))
		for j, e := range part {
			ids[j] = e.IDs
		}
		lp, err := tr.LogProbs(ctx, ids, true)
		if err != nil {
			return 0, err
		}
		for j, e := range part {
			for t, m := range e.Mask {
				if m > 0 && t > 0 {
					nll -= float64(lp[j][t])
					n++
				}
			}
		}
	}
	if n == 0 {
		return 0, errors.New("held-out data has no assistant tokens")
	}
	return nll / n, nil
}

// sftReader picks the reader of a data file by its first line: a JSON list
// is ToolBrain's chat-segment format, a JSON object {"messages": [...]} is a
// conversation rendered by the checkpoint's chat template (assistant
// messages trained on).
func sftReader(l *loaded, tok *tokenizer.Tokenizer, path string) (func(string) ([]train.Example, error), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	first, err := bufio.NewReader(f).ReadString('\n')
	f.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	maxLen := l.ckpt.Config.MaxPositionEmbeddings
	if !strings.HasPrefix(strings.TrimSpace(first), "{") {
		bos := int32(-1)
		if id, ok := tok.BOS(); ok {
			bos = id
		}
		return func(p string) ([]train.Example, error) { return train.ReadSFT(p, tok.EncodeOrdinary, bos, maxLen) }, nil
	}
	tmpl, err := l.ckpt.ChatTemplate()
	if err != nil {
		return nil, fmt.Errorf("%s holds chat messages, which need the checkpoint's chat template: %w", path, err)
	}
	c := tok.Config()
	parse := train.MessagesParser(tmpl, chattemplate.Options{BOSToken: c.BOSToken, EOSToken: c.EOSToken})
	// The template writes the special tokens (BOS included) as text.
	return func(p string) ([]train.Example, error) { return train.ReadSFTWith(p, parse, tok.Encode, -1, maxLen) }, nil
}
