package coach

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/internal/atomicfile"
	"github.com/toolbrain/toolbrain/sdk"
)

// Run-directory layout (besides core/train's checkpoints/ and latest).
const (
	MetricsFile = "metrics.jsonl" // one StepMetrics line a step; step 0 holds the evaluation before training
	AdapterDir  = "adapter"       // the trained adapter (PEFT), written at the end
	ReportFile  = "report.md"     // the summary, written at the end
	// EvalTracesDir holds one JSONL file of held-out traces for each
	// evaluation, named by step (eval/step-000000.jsonl is the one before
	// training): what the agent wrote, the tools' replies and its answer.
	EvalTracesDir = "eval"
	CurvesFile    = "curves.png" // training reward and success by step
	LossFile      = "loss.png"   // loss and KL by step
	EvalFile      = "eval.png"   // held-out success by step, when evaluated
)

// ErrInterrupted is returned by Run when ctx ended: the last completed
// step is checkpointed, and Run with Resume continues from it.
var ErrInterrupted = errors.New("coach: run interrupted")

// RunOptions configure Run.
type RunOptions struct {
	// Dir is the run directory (created if needed).
	Dir string
	// Steps is the number of steps of the whole run, resumed steps
	// included.
	Steps int
	// Resume continues the run in Dir from its latest checkpoint. Without
	// it, a Dir that already holds checkpoints is an error.
	Resume bool
	// EvalTasks are held-out tasks, evaluated before training, every
	// EvalEvery steps (0: only before and after) and at the end.
	EvalTasks []sdk.Task
	EvalEvery int
	// CheckpointEvery saves a checkpoint every so many steps (0 = 10);
	// one is always saved at the end and on interruption.
	CheckpointEvery int
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
	// Log receives a line per step and per event (nil: discarded).
	Log *slog.Logger
	// OnStep, if set, sees every step's metrics; OnEval every evaluation
	// (step 0 is the one before training).
	OnStep func(StepMetrics)
	OnEval func(step int, r EvalResult)
}

// Summary is the outcome of Run.
type Summary struct {
	Steps   int `json:"steps"`
	Updates int `json:"updates"`
	// EvalBefore and EvalAfter are the held-out results before the first
	// and after the last step (nil without eval tasks).
	EvalBefore *EvalResult `json:"eval_before,omitempty"`
	EvalAfter  *EvalResult `json:"eval_after,omitempty"`
	// Adapter is the directory of the trained adapter.
	Adapter string  `json:"adapter"`
	Report  string  `json:"report"`
	Seconds float64 `json:"seconds"`
	// Interrupted is true when ctx ended before the last step.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Run trains for o.Steps steps, writing metrics, checkpoints, the
// adapter, curves and a report into o.Dir. When ctx ends it checkpoints
// the last completed step and returns ErrInterrupted (wrapped with the
// cause); the same call with Resume continues exactly where it stopped:
// with the same seed, N steps, an interruption and M more steps give the
// adapter of N+M uninterrupted steps.
func (c *Coach) Run(ctx context.Context, o RunOptions) (Summary, error) {
	began := time.Now()
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 10
	}
	if o.Steps < 1 {
		return Summary{}, fmt.Errorf("%w: steps %d < 1", ErrConfig, o.Steps)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("coach: run directory: %w", err)
	}
	history, err := c.start(ctx, o, log)
	if err != nil {
		return Summary{}, err
	}
	mf, err := os.OpenFile(filepath.Join(o.Dir, MetricsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Summary{}, fmt.Errorf("coach: %w", err)
	}
	defer mf.Close()
	record := func(m StepMetrics) error {
		history = append(history, m)
		line, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if _, err := mf.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("coach: write %s: %w", MetricsFile, err)
		}
		return nil
	}
	evaluate := func(step int) (*EvalResult, error) {
		r, traces, _, err := Evaluate(ctx, c.exec, c.scorer, o.EvalTasks, EvalOptions{SuccessThreshold: c.cfg.SuccessThreshold})
		if err != nil {
			return nil, err
		}
		if err := writeEvalTraces(o.Dir, step, traces); err != nil {
			return nil, err
		}
		log.Info("eval", "step", step, "success", r.SuccessRate, "ci95_low", r.CILow, "ci95_high", r.CIHigh, "mean_reward", r.MeanReward)
		if o.OnEval != nil {
			o.OnEval(step, r)
		}
		return &r, nil
	}

	sum := Summary{Adapter: filepath.Join(o.Dir, AdapterDir), Report: filepath.Join(o.Dir, ReportFile)}
	if len(o.EvalTasks) > 0 && c.step == 0 {
		r, err := evaluate(0)
		if err != nil {
			return c.interrupted(ctx, o, sum, err)
		}
		if err := record(StepMetrics{Step: 0, Eval: r}); err != nil {
			return sum, err
		}
	}

	var bar *progressbar.ProgressBar
	if o.Progress != nil {
		bar = progressbar.NewOptions(o.Steps, progressbar.OptionSetWriter(o.Progress), progressbar.OptionSetDescription(c.cfg.Method),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.Progress) }))
		_ = bar.Set(c.step)
	}
	for c.step < o.Steps {
		m, _, err := c.Step(ctx)
		if err != nil {
			return c.interrupted(ctx, o, sum, err)
		}
		last := c.step == o.Steps
		if len(o.EvalTasks) > 0 && (last || (o.EvalEvery > 0 && c.step%o.EvalEvery == 0)) {
			if m.Eval, err = evaluate(c.step); err != nil {
				// The step itself is complete: keep it.
				if rerr := record(m); rerr != nil {
					return sum, rerr
				}
				return c.interrupted(ctx, o, sum, err)
			}
		}
		if err := record(m); err != nil {
			return sum, err
		}
		log.Info("step", "step", m.Step, "reward", m.RewardMean, "success", m.Success, "loss", m.Loss, "kl", m.KL,
			"skipped_groups", m.SkippedGroups, "fallbacks", m.RewardFallbacks,
			"judge_failures", m.Failures, "judge_timeouts", m.Timeouts, "judge_unreadable", m.Unreadable)
		for _, e := range m.Errors {
			log.Warn("reward fell back", "step", m.Step, "error", e)
		}
		if o.OnStep != nil {
			o.OnStep(m)
		}
		if bar != nil {
			bar.Describe(fmt.Sprintf("%s step %d reward %.3f success %.0f%%", c.cfg.Method, m.Step, m.RewardMean, 100*m.Success))
			_ = bar.Set(c.step)
		}
		if last || c.step%o.CheckpointEvery == 0 {
			if err := c.checkpoint(o.Dir); err != nil {
				return sum, err
			}
		}
	}
	if err := mf.Sync(); err != nil {
		return sum, fmt.Errorf("coach: %w", err)
	}
	if err := c.trainer.SaveAdapter(sum.Adapter); err != nil {
		return sum, fmt.Errorf("coach: save adapter: %w", err)
	}
	sum.Steps = c.step
	for _, m := range history {
		if m.Updated {
			sum.Updates++
		}
		if m.Eval != nil {
			if sum.EvalBefore == nil {
				sum.EvalBefore = m.Eval
			}
			sum.EvalAfter = m.Eval
		}
	}
	sum.Seconds = time.Since(began).Seconds()
	if err := WriteReport(o.Dir, c.cfg, history, sum); err != nil {
		return sum, err
	}
	return sum, nil
}

// start prepares the run directory: a fresh run refuses a directory
// holding checkpoints; a resumed one restores the latest checkpoint,
// hands its adapter to the executor and keeps the metrics of the steps it
// covers. It returns those metrics.
func (c *Coach) start(ctx context.Context, o RunOptions, log *slog.Logger) ([]StepMetrics, error) {
	latest := filepath.Join(o.Dir, train.LatestFile)
	metrics := filepath.Join(o.Dir, MetricsFile)
	if !o.Resume {
		if _, err := os.Stat(latest); err == nil {
			return nil, fmt.Errorf("coach: %s already holds a run: resume it, or choose another directory", o.Dir)
		}
		if err := os.Remove(metrics); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("coach: %w", err)
		}
		return nil, c.exec.SetPolicy(ctx, c.trainer.Adapter())
	}
	r, err := c.trainer.LoadCheckpoint(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("coach: resume: %w", err)
	}
	c.step = int(r.DataPosition)
	if err := c.exec.SetPolicy(ctx, c.trainer.Adapter()); err != nil {
		return nil, fmt.Errorf("coach: resume: %w", err)
	}
	history, err := readMetrics(metrics, c.step)
	if err != nil {
		return nil, err
	}
	// Steps after the checkpoint are run again: their lines go.
	var buf bytes.Buffer
	for _, m := range history {
		line, _ := json.Marshal(m)
		buf.Write(append(line, '\n'))
	}
	if err := atomicfile.WriteFile(metrics, buf.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("coach: %w", err)
	}
	log.Info("resumed", "dir", o.Dir, "step", c.step)
	return history, nil
}

// checkpoint saves the trainer and the coach's position atomically.
func (c *Coach) checkpoint(dir string) error {
	if err := c.trainer.SaveCheckpoint(dir, train.Resume{DataPosition: int64(c.step)}); err != nil {
		return fmt.Errorf("coach: %w", err)
	}
	return nil
}

// interrupted ends a run that failed at err: when ctx ended, the last
// completed step is checkpointed and the error says how to resume.
func (c *Coach) interrupted(ctx context.Context, o RunOptions, sum Summary, err error) (Summary, error) {
	sum.Steps = c.step
	if ctx.Err() == nil {
		return sum, err
	}
	sum.Interrupted = true
	if cerr := c.checkpoint(o.Dir); cerr != nil {
		return sum, errors.Join(fmt.Errorf("%w after step %d: %w", ErrInterrupted, c.step, ctx.Err()), cerr)
	}
	return sum, fmt.Errorf("%w after step %d (checkpointed in %s; resume to continue): %w", ErrInterrupted, c.step, o.Dir, ctx.Err())
}

// readMetrics reads a run's metrics lines up to step upTo.
func readMetrics(path string, upTo int) ([]StepMetrics, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("coach: %w", err)
	}
	defer f.Close()
	var out []StepMetrics
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var m StepMetrics
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			// A line cut by a kill is the last one; anything after a
			// checkpoint is redone anyway.
			break
		}
		if m.Step <= upTo {
			out = append(out, m)
		}
	}
	return out, nil
}

// writeEvalTraces writes one evaluation's traces to the run directory
// (EvalTracesDir), atomically.
func writeEvalTraces(dir string, step int, traces []sdk.Trace) error {
	var buf bytes.Buffer
	if err := agent.WriteJSONL(&buf, traces...); err != nil {
		return fmt.Errorf("coach: eval traces: %w", err)
	}
	path := filepath.Join(dir, EvalTracesDir, fmt.Sprintf("step-%06d.jsonl", step))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("coach: %w", err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("coach: %w", err)
	}
	return nil
}
