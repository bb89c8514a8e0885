package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/coach/wire"
	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/internal/atomicfile"
	"github.com/toolbrain/toolbrain/runtime/sandbox"
)

// errInterrupted marks a run stopped by Ctrl-C after checkpointing.
var errInterrupted = errors.New("interrupted")

// runConfigFile is the configuration a run was started with, kept in its
// directory so that --resume continues with the same settings.
const runConfigFile = "config.toml"

const trainSynopsis = "[--config FILE] [--resume RUN] [--model M] [--tasks FILE] [--eval-tasks FILE] [--out RUN] [--steps N] [--seed N]"

func trainCmd(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "train", trainSynopsis)
	cfgPath := fs.String("config", "", "toolbrain.toml: [train], [[rewards]], [algorithm], [judge], [sandbox], [core] (default: ./toolbrain.toml, else the embedded default; with --resume, the run's own config.toml)")
	resume := fs.String("resume", "", "continue the run in this directory from its last checkpoint")
	modelName := fs.String("model", "", "checkpoint directory or Hugging Face id (default: [core] model)")
	tasks := fs.String("tasks", "", "comma-separated training task files (default: [train] tasks)")
	evalTasks := fs.String("eval-tasks", "", "held-out task file (default: [train] eval_tasks)")
	out := fs.String("out", "", "run directory (default: [train] out)")
	steps := fs.Int("steps", 0, "steps of the run (default: [train] steps, else [train] epochs over the tasks)")
	seed := fs.Int64("seed", 0, "seed of the run (default: [train] seed)")
	interp := fs.String("interpreter", "", "CodeAct interpreter module (default: the embedded Starlark one)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *steps < 0 {
		return fmt.Errorf("%w: --steps must not be negative", errUsage)
	}
	path := *cfgPath
	if path == "" && *resume != "" {
		if _, err := os.Stat(filepath.Join(*resume, runConfigFile)); err == nil {
			path = filepath.Join(*resume, runConfigFile)
		}
	}
	cfg, cfgName, err := loadConfig(path)
	if err != nil {
		return err
	}
	if *out != "" {
		cfg.Train.Out = *out
	}
	if *resume != "" {
		cfg.Train.Out = *resume
	}
	if *seed != 0 {
		cfg.Train.Seed = *seed
	}
	if *steps > 0 {
		cfg.Train.Steps = *steps
	}
	opts := wire.Options{Model: *modelName, EvalTasks: *evalTasks}
	if *tasks != "" {
		opts.Tasks = strings.Split(*tasks, ",")
	}
	if *interp != "" {
		if opts.Interpreter, err = os.ReadFile(*interp); err != nil {
			return fmt.Errorf("--interpreter: %w", err)
		}
	}
	env, err := wire.Open(ctx, cfg, opts, true)
	if err != nil {
		return fmt.Errorf("%s: %w", cfgName, err)
	}
	defer env.Close()
	warn(o, "train", env.Warnings)
	total := wire.Steps(cfg.Train, len(env.Tasks))
	c, _, err := env.NewCoach(total)
	if err != nil {
		return err
	}
	dir := cfg.Train.Out
	if *resume == "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := saveRunConfig(dir, cfgName, path); err != nil {
			return err
		}
	}
	var progress io.Writer
	if !*quiet {
		progress = o.stderr
	}
	fmt.Fprintf(o.stderr, "train: %s on %d tasks (%d held out), %d steps of %d groups × %d episodes, run directory %s\n",
		cfg.Train.Method, len(env.Tasks), len(env.EvalTasks), total, cfg.Train.TasksPerStep, cfg.Train.GroupSize, dir)
	phase := "training"
	if cfg.Train.Method != coach.MethodSFT {
		phase = "RL"
	}
	sum, err := c.Run(ctx, coach.RunOptions{
		Dir: dir, Steps: total, Resume: *resume != "", EvalTasks: env.EvalTasks,
		EvalEvery: cfg.Train.EvalInterval, CheckpointEvery: cfg.Train.CheckpointInterval,
		Progress: progress, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnStep: func(m coach.StepMetrics) {
			if m.Eval != nil && progress == nil {
				fmt.Fprintf(o.stderr, "step %d: held-out success %s\n", m.Step, percent(*m.Eval))
			}
		},
	})
	if errors.Is(err, coach.ErrInterrupted) {
		fmt.Fprintf(o.stderr, "\ntrain: %v\ncontinue with: toolbrain train --resume %s\n", err, dir)
		return errInterrupted
	}
	if err != nil {
		return err
	}
	if sum.EvalBefore != nil {
		fmt.Fprintf(o.stderr, "held-out success before %s: %s\n", phase, percent(*sum.EvalBefore))
		fmt.Fprintf(o.stderr, "held-out success after %s: %s\n", phase, percent(*sum.EvalAfter))
	}
	fmt.Fprintf(o.stderr, "adapter: %s; report: %s\n", sum.Adapter, sum.Report)
	return writeJSON(o.stdout, sum)
}

// warn prints what a run goes on without (an MCP tool with an invalid
// schema).
func warn(o *cmdIO, cmd string, ws []error) {
	for _, w := range ws {
		fmt.Fprintf(o.stderr, "%s: warning: %v (the run goes on without it)\n", cmd, w)
	}
}

// percent is a success rate as people read it.
func percent(r coach.EvalResult) string {
	return fmt.Sprintf("%.1f%% (%d of %d tasks, 95%% CI %.1f–%.1f%%)", 100*r.SuccessRate, r.Successes, r.Tasks, 100*r.CILow, 100*r.CIHigh)
}

// saveRunConfig keeps the configuration of a new run in its directory.
func saveRunConfig(dir, name, path string) error {
	src := config.DefaultTOML
	if path != "" || name != "embedded default" {
		if path == "" {
			path = name
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src = string(b)
	}
	return atomicfile.WriteFile(filepath.Join(dir, runConfigFile), []byte(src), 0o644)
}

func evalCmd(ctx context.Context, o *cmdIO, args []string) error {
	if len(args) > 0 && args[0] == "bfcl" {
		return evalBFCL(ctx, o, args[1:])
	}
	fs := newFlags(o, "eval", "--model M [--adapter A] --tasks FILE [--json] [--traces OUT.jsonl] [--config FILE]")
	cfgPath := fs.String("config", "", "toolbrain.toml: [train] athlete, packs and rollout settings, [[rewards]], [sandbox] (default: ./toolbrain.toml, else the embedded default)")
	modelName := fs.String("model", "", "checkpoint directory or Hugging Face id (default: [core] model)")
	adapter := fs.String("adapter", "", "PEFT LoRA adapter directory, such as a run's adapter/ (default: [core] adapter)")
	tasks := fs.String("tasks", "", "task file, JSONL (default: [train] eval_tasks)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	tracesOut := fs.String("traces", "", "write the episodes' traces to this JSONL file")
	interp := fs.String("interpreter", "", "CodeAct interpreter module (default: the embedded Starlark one)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, cfgName, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	cfg.Train.Tasks = nil
	opts := wire.Options{Model: *modelName, Adapter: *adapter, EvalTasks: *tasks}
	if *interp != "" {
		if opts.Interpreter, err = os.ReadFile(*interp); err != nil {
			return fmt.Errorf("--interpreter: %w", err)
		}
	}
	env, err := wire.Open(ctx, cfg, opts, false)
	if err != nil {
		if errors.Is(err, sandbox.ErrNoInterpreter) {
			return err
		}
		return fmt.Errorf("%s: %w", cfgName, err)
	}
	defer env.Close()
	warn(o, "eval", env.Warnings)
	if len(env.EvalTasks) == 0 {
		return fmt.Errorf("%w: --tasks is required (or set [train] eval_tasks)", errUsage)
	}
	r, traces, _, err := coach.Evaluate(ctx, env.Executor, env.Scorer, env.EvalTasks, coach.EvalOptions{SuccessThreshold: cfg.Train.SuccessThreshold})
	if err != nil {
		return err
	}
	if *tracesOut != "" {
		var buf bytes.Buffer
		if err := agent.WriteJSONL(&buf, traces...); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(*tracesOut, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if *asJSON {
		return writeJSON(o.stdout, r)
	}
	fmt.Fprintf(o.stdout, "success     %s\nmean reward %.4f\nmean turns  %.2f\ntool errors %d (turns whose code or tool call failed)\nno answer   %d\n",
		percent(r), r.MeanReward, r.MeanTurns, r.ToolErrors, r.NoAnswer)
	if r.RewardFallbacks > 0 {
		fmt.Fprintf(o.stdout, "reward fallbacks %d (a reward or judge failed; see the log)\n", r.RewardFallbacks)
	}
	if j := r.JudgeCauses; j != (coach.JudgeCauses{}) {
		fmt.Fprintf(o.stdout, "judge fallbacks: %d failed, %d timed out, %d unreadable answers\n", j.Failures, j.Timeouts, j.Unreadable)
	}
	return nil
}
