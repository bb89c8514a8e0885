// Package sft runs supervised fine-tuning: the loop of `toolbrain sft`
// (seeded epochs over the examples, checkpoints, resume, held-out loss)
// and the reading of its data files, in a chat-segment or a chat-message
// format.
package sft

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
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/core/train"
)

// Options configure Run.
type Options struct {
	// Dir is the run directory: checkpoints, and what the caller saves.
	Dir string
	// Batch is the examples per step; Steps the steps of the whole run.
	Batch, Steps int
	// Seed orders the examples (a permutation per epoch).
	Seed int64
	// SaveEvery checkpoints every so many steps (and at the end).
	SaveEvery int
	// Resume continues the run in Dir from its last checkpoint; without it
	// a Dir holding checkpoints is an error.
	Resume bool
	// Eval, if set, is held-out data whose loss is measured before and
	// after.
	Eval []train.Example
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
}

// Summary is what a run did.
type Summary struct {
	Steps          int     `json:"steps"`
	FirstLoss      float64 `json:"first_loss"`
	LastLoss       float64 `json:"last_loss"`
	EvalLossBefore float64 `json:"eval_loss_before,omitempty"`
	EvalLossAfter  float64 `json:"eval_loss_after,omitempty"`
	Output         string  `json:"output"`
	TokensPerSec   float64 `json:"train_tokens_per_sec"`
}

// Run trains tr on ex for o.Steps steps of o.Batch examples.
func Run(ctx context.Context, tr *train.Trainer, ex []train.Example, o Options) (Summary, error) {
	var sum Summary
	if o.Batch < 1 || o.Steps < 1 || o.SaveEvery < 1 {
		return sum, fmt.Errorf("%w: batch, steps and save-every must be positive", train.ErrConfig)
	}
	start := 0
	if o.Resume {
		r, err := tr.LoadCheckpoint(o.Dir)
		if err != nil {
			return sum, err
		}
		start = int(r.DataPosition)
	} else if _, err := os.Stat(filepath.Join(o.Dir, train.CheckpointsDir)); err == nil {
		return sum, fmt.Errorf("%s already holds a run: resume it, or choose another directory", o.Dir)
	}
	var err error
	if o.Eval != nil {
		if sum.EvalLossBefore, err = HeldOutLoss(ctx, tr, o.Eval, o.Batch); err != nil {
			return sum, err
		}
	}
	var bar *progressbar.ProgressBar
	if o.Progress != nil {
		bar = progressbar.NewOptions(o.Steps-start, progressbar.OptionSetWriter(o.Progress), progressbar.OptionSetDescription("sft"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.Progress) }))
	}
	began, tokens := time.Now(), 0.0
	for step := start; step < o.Steps; step++ {
		m, err := tr.Step(ctx, train.SFTBatch(Batch(ex, o.Batch, step, o.Seed)))
		if err != nil {
			return sum, fmt.Errorf("step %d: %w", step+1, err)
		}
		if step == start {
			sum.FirstLoss = m.Loss
		}
		sum.LastLoss, sum.Steps = m.Loss, step+1
		tokens += m.Tokens
		if bar != nil {
			bar.Describe(fmt.Sprintf("sft loss %.4f", m.Loss))
			_ = bar.Add(1)
		}
		if (step+1)%o.SaveEvery == 0 || step+1 == o.Steps {
			if err := tr.SaveCheckpoint(o.Dir, train.Resume{DataPosition: int64(step + 1)}); err != nil {
				return sum, err
			}
		}
	}
	if el := time.Since(began).Seconds(); el > 0 {
		sum.TokensPerSec = tokens / el
	}
	if o.Eval != nil {
		if sum.EvalLossAfter, err = HeldOutLoss(ctx, tr, o.Eval, o.Batch); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// Batch is the batch of step: the examples of a per-epoch permutation
// drawn from (seed, epoch), so a resumed run sees the same order.
func Batch(ex []train.Example, size, step int, seed int64) []train.Example {
	perEpoch := (len(ex) + size - 1) / size
	epoch, i := step/perEpoch, step%perEpoch
	perm := rand.New(rand.NewPCG(uint64(seed), uint64(epoch))).Perm(len(ex))
	var out []train.Example
	for _, j := range perm[i*size : min((i+1)*size, len(ex))] {
		out = append(out, ex[j])
	}
	return out
}

// HeldOutLoss is the mean NLL of the masked tokens of ex under the
// current policy (adapters on).
func HeldOutLoss(ctx context.Context, tr *train.Trainer, ex []train.Example, batch int) (float64, error) {
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

// Reader picks the reader of a data file by its first line: a JSON list
// is ToolBrain's chat-segment format, a JSON object {"messages": [...]} is
// a conversation rendered by the checkpoint's chat template (assistant
// messages trained on). Rows longer than the model's context are errors.
func Reader(ck *checkpoint.Checkpoint, tok *tokenizer.Tokenizer, path string) (func(string) ([]train.Example, error), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	first, err := bufio.NewReader(io.LimitReader(f, train.MaxLineBytes)).ReadString('\n')
	f.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	maxLen := ck.Config.MaxPositionEmbeddings
	if !strings.HasPrefix(strings.TrimSpace(first), "{") {
		bos := int32(-1)
		if id, ok := tok.BOS(); ok {
			bos = id
		}
		return func(p string) ([]train.Example, error) { return train.ReadSFT(p, tok.EncodeOrdinary, bos, maxLen) }, nil
	}
	tmpl, err := ck.ChatTemplate()
	if err != nil {
		return nil, fmt.Errorf("%s holds chat messages, which need the checkpoint's chat template: %w", path, err)
	}
	c := tok.Config()
	parse := train.MessagesParser(tmpl, chattemplate.Options{BOSToken: c.BOSToken, EOSToken: c.EOSToken})
	// The template writes the special tokens (BOS included) as text.
	return func(p string) ([]train.Example, error) { return train.ReadSFTWith(p, parse, tok.Encode, -1, maxLen) }, nil
}
