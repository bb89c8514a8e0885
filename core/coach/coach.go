// Package coach trains an athlete with reinforcement learning: the Brain
// of the seed's Coach–Athlete split (core/agent holds the athletes).
//
// One step:
//
//  1. take the step's tasks (a seeded permutation per epoch, so a resumed
//     run sees the same order) and ask the Executor for a group of
//     episodes on each: the exact token ids the model generated, with tool
//     output masked;
//  2. score every group with the Scorer (reward plugins, built-ins and
//     judges, weighted; a failing plugin costs only a fallback score);
//  3. turn the rewards into advantages (GRPO and its kin) or preference
//     pairs (DPO) with the sdk.Algorithm, or keep the traces that reach
//     a reward threshold (SFT by rejection sampling);
//  4. build the batch from the recorded ids — never re-tokenized text —
//     and take one optimizer step with core/train; the reference policy
//     of the KL term is the same base with the adapter switched off;
//  5. hand the new adapter to the Executor.
//
// Groups whose rewards are all equal carry no signal for a group-relative
// algorithm: they are left out of the batch and counted, never silently
// dropped. Run adds the loop around Step: metrics (one JSONL line a
// step), evaluation on held-out tasks, atomic checkpoints, resume, and
// the learning curves and report at the end.
package coach

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/sdk"
)

// Methods.
const (
	MethodGRPO = "grpo" // advantages from the algorithm, clipped surrogate + KL
	MethodDPO  = "dpo"  // preference pairs from each group
	MethodSFT  = "sft"  // rejection sampling: train on the traces that pass
)

// ErrConfig marks an invalid coach configuration.
var ErrConfig = errors.New("coach: invalid config")

// Config configures a Coach. Zero fields take the documented defaults.
type Config struct {
	// Method is MethodGRPO (default), MethodDPO or MethodSFT. The
	// trainer's loss must match: grpo, dpo, sft.
	Method string
	// GroupSize is the episodes per task (default 4).
	GroupSize int
	// TasksPerStep is the groups per step (default 2).
	TasksPerStep int
	// Seed drives the task order and the rollouts' random streams.
	Seed int64
	// SFTMinReward is the reward a trace needs to be trained on (SFT).
	SFTMinReward float64
	// DPOMargin is the least reward gap of a DPO pair.
	DPOMargin float64
	// SuccessThreshold is the reward at which an episode counts as a
	// success, for metrics and evaluation (default 1).
	SuccessThreshold float64
}

func (c Config) withDefaults() (Config, error) {
	if c.Method == "" {
		c.Method = MethodGRPO
	}
	if c.GroupSize == 0 {
		c.GroupSize = 4
	}
	if c.TasksPerStep == 0 {
		c.TasksPerStep = 2
	}
	if c.SuccessThreshold == 0 {
		c.SuccessThreshold = 1
	}
	switch {
	case c.Method != MethodGRPO && c.Method != MethodDPO && c.Method != MethodSFT:
		return c, fmt.Errorf("%w: method %q (want grpo, dpo or sft)", ErrConfig, c.Method)
	case c.GroupSize < 1:
		return c, fmt.Errorf("%w: group size %d < 1", ErrConfig, c.GroupSize)
	case c.Method != MethodSFT && c.GroupSize < 2:
		return c, fmt.Errorf("%w: %s compares the episodes of a group: group size must be at least 2", ErrConfig, c.Method)
	case c.TasksPerStep < 1:
		return c, fmt.Errorf("%w: tasks per step %d < 1", ErrConfig, c.TasksPerStep)
	case !finite(c.SFTMinReward) || !finite(c.DPOMargin) || !finite(c.SuccessThreshold) || c.DPOMargin < 0:
		return c, fmt.Errorf("%w: sft_min_reward, dpo_margin and success_threshold must be finite, dpo_margin ≥ 0", ErrConfig)
	}
	return c, nil
}

// Coach runs training steps. Its methods must not be called concurrently.
type Coach struct {
	cfg       Config
	trainer   *train.Trainer
	exec      Executor
	scorer    *Scorer
	algorithm sdk.Algorithm
	tasks     []sdk.Task
	step      int // steps taken (with or without an update)
}

// Parts are what a Coach works with.
type Parts struct {
	// Trainer updates the policy; its loss must match Config.Method.
	Trainer *train.Trainer
	// Executor runs the rollouts.
	Executor Executor
	// Scorer scores them.
	Scorer *Scorer
	// Algorithm turns rewards into advantages (grpo) or pairs (dpo); not
	// used by sft.
	Algorithm sdk.Algorithm
	// Tasks are the training tasks.
	Tasks []sdk.Task
}

// New checks cfg and the parts and returns a coach at step 0.
func New(cfg Config, p Parts) (*Coach, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	switch {
	case p.Trainer == nil || p.Executor == nil || p.Scorer == nil:
		return nil, fmt.Errorf("%w: a coach needs a trainer, an executor and a scorer", ErrConfig)
	case len(p.Scorer.Components) == 0:
		return nil, fmt.Errorf("%w: no rewards", ErrConfig)
	case p.Algorithm == nil && cfg.Method != MethodSFT:
		return nil, fmt.Errorf("%w: %s needs an algorithm", ErrConfig, cfg.Method)
	case len(p.Tasks) == 0:
		return nil, fmt.Errorf("%w: no training tasks", ErrConfig)
	}
	if loss := p.Trainer.Config().Loss; loss != cfg.Method {
		return nil, fmt.Errorf("%w: method %s needs the trainer's %s loss, it has %s", ErrConfig, cfg.Method, cfg.Method, loss)
	}
	return &Coach{cfg: cfg, trainer: p.Trainer, exec: p.Executor, scorer: p.Scorer, algorithm: p.Algorithm, tasks: p.Tasks}, nil
}

// Config returns the configuration with defaults filled in.
func (c *Coach) Config() Config { return c.cfg }

// StepCount is the number of steps taken.
func (c *Coach) StepCount() int { return c.step }

// Group is one task's episodes and their scoring.
type Group struct {
	Task   sdk.Task
	Traces []sdk.Trace
	GroupScore
}

// StepMetrics describe one step. They are written as one JSON line.
type StepMetrics struct {
	Step  int     `json:"step"`
	Epoch float64 `json:"epoch"`
	// Rewards over every episode of the step.
	RewardMean float64 `json:"reward_mean"`
	RewardStd  float64 `json:"reward_std"`
	// Success is the fraction of episodes whose reward reached the
	// success threshold.
	Success   float64 `json:"success"`
	Episodes  int     `json:"episodes"`
	MeanTurns float64 `json:"mean_turns"`
	// Updated is false when no group carried a signal (no optimizer step).
	Updated bool `json:"updated"`
	Rows    int  `json:"rows"`
	// Trainer figures (0 without an update).
	Loss         float64 `json:"loss"`
	KL           float64 `json:"kl"`
	ClipFraction float64 `json:"clip_fraction"`
	GradNorm     float64 `json:"grad_norm"`
	LR           float64 `json:"lr"`
	// Throughput: generated tokens per second of rollout, trained tokens
	// (the masked ones) per second of optimizer step.
	RolloutTokensPerSec float64 `json:"rollout_tokens_per_sec"`
	TrainTokensPerSec   float64 `json:"train_tokens_per_sec"`
	// SandboxErrors counts turns whose code or tool call failed.
	SandboxErrors int `json:"sandbox_errors"`
	// SkippedGroups had all-equal rewards (GRPO), no pair above the margin
	// (DPO) or no trace above the threshold (SFT).
	SkippedGroups   int `json:"skipped_groups"`
	RewardFallbacks int `json:"reward_fallbacks"`
	JudgeFallbacks  int `json:"judge_fallbacks"`
	// JudgeCauses splits JudgeFallbacks into failures, timeouts and
	// unreadable answers (judge_failures, judge_timeouts,
	// judge_unreadable).
	JudgeCauses
	// Seconds of each phase.
	RolloutSeconds float64 `json:"rollout_seconds"`
	ScoreSeconds   float64 `json:"score_seconds"`
	TrainSeconds   float64 `json:"train_seconds"`
	// Eval is set on steps followed by an evaluation.
	Eval *EvalResult `json:"eval,omitempty"`
	// Errors holds the first reward failures of the step, for the log.
	Errors []string `json:"errors,omitempty"`
}

// StepTasks returns the tasks of step s: a continuous walk over seeded
// per-epoch permutations of the training tasks.
func (c *Coach) StepTasks(s int) []sdk.Task {
	n := len(c.tasks)
	out := make([]sdk.Task, c.cfg.TasksPerStep)
	var perm []int
	permEpoch := -1
	for j := range out {
		k := s*c.cfg.TasksPerStep + j
		if e := k / n; e != permEpoch {
			perm = rand.New(rand.NewPCG(uint64(c.cfg.Seed), uint64(e))).Perm(n)
			permEpoch = e
		}
		out[j] = c.tasks[perm[k%n]]
	}
	return out
}

// Step runs one step: rollouts, scores, advantages, one optimizer update,
// and the new policy handed to the executor. On an error (ctx ended, the
// model or the trainer failed) the trainer is unchanged and the step is
// not counted, so it can be retried or the run resumed.
func (c *Coach) Step(ctx context.Context) (StepMetrics, []*Group, error) {
	m := StepMetrics{Step: c.step + 1, Epoch: float64((c.step+1)*c.cfg.TasksPerStep) / float64(len(c.tasks))}
	tasks := c.StepTasks(c.step)
	reqs := make([]RolloutRequest, len(tasks))
	for j, t := range tasks {
		reqs[j] = RolloutRequest{Task: t, Episodes: c.cfg.GroupSize, Seed: mix(uint64(c.cfg.Seed)<<20 ^ uint64(c.step)<<8 ^ uint64(j))}
	}
	t0 := time.Now()
	traces, err := c.exec.Rollout(ctx, reqs)
	if err != nil {
		return m, nil, fmt.Errorf("coach: step %d: rollout: %w", m.Step, err)
	}
	if len(traces) != len(reqs) {
		return m, nil, fmt.Errorf("coach: step %d: executor returned %d groups for %d requests", m.Step, len(traces), len(reqs))
	}
	m.RolloutSeconds = time.Since(t0).Seconds()

	t1 := time.Now()
	groups := make([]*Group, len(tasks))
	for j, t := range tasks {
		if len(traces[j]) != c.cfg.GroupSize {
			return m, nil, fmt.Errorf("coach: step %d: executor returned %d traces for a group of %d", m.Step, len(traces[j]), c.cfg.GroupSize)
		}
		s, err := c.scorer.Score(ctx, t, traces[j])
		if err != nil {
			return m, nil, fmt.Errorf("coach: step %d: score: %w", m.Step, err)
		}
		groups[j] = &Group{Task: t, Traces: traces[j], GroupScore: s}
	}
	m.ScoreSeconds = time.Since(t1).Seconds()
	c.describeRollouts(&m, groups)

	batch, err := c.batch(ctx, groups, &m)
	if err != nil {
		return m, nil, fmt.Errorf("coach: step %d: %w", m.Step, err)
	}
	if len(batch.IDs) > 0 {
		t2 := time.Now()
		tm, err := c.trainer.Step(ctx, batch)
		if err != nil {
			return m, nil, fmt.Errorf("coach: step %d: train: %w", m.Step, err)
		}
		m.TrainSeconds = time.Since(t2).Seconds()
		m.Updated, m.Rows = true, len(batch.IDs)
		m.Loss, m.GradNorm, m.LR = tm.Loss, tm.GradNorm, tm.LR
		m.KL, m.ClipFraction = tm.Extra["kl"], tm.Extra["clip_ratio"]
		if m.TrainSeconds > 0 {
			m.TrainTokensPerSec = tm.Tokens / m.TrainSeconds
		}
		if err := c.exec.SetPolicy(ctx, c.trainer.Adapter()); err != nil {
			return m, nil, fmt.Errorf("coach: step %d: hand the policy to the executor: %w", m.Step, err)
		}
	}
	c.step++
	return m, groups, nil
}

// batch builds the step's training batch as the method says.
func (c *Coach) batch(ctx context.Context, groups []*Group, m *StepMetrics) (train.Batch, error) {
	var b train.Batch
	var err error
	switch c.cfg.Method {
	case MethodSFT:
		b, m.SkippedGroups, err = sftBatch(groups, c.cfg.SFTMinReward)
		return b, err
	}
	req := sdk.AdvantageRequest{Groups: make([]sdk.Group, len(groups))}
	for g, grp := range groups {
		req.Groups[g].Rewards = grp.Rewards
		for i := range grp.Traces {
			req.Groups[g].Lengths = append(req.Groups[g].Lengths, grp.Traces[i].GeneratedTokens())
		}
	}
	resp, err := c.algorithm.Advantages(ctx, req)
	if err == nil {
		err = resp.Validate(req)
	}
	if err != nil {
		return b, fmt.Errorf("algorithm: %w", err)
	}
	switch c.cfg.Method {
	case MethodDPO:
		if resp.Pairs == nil {
			return b, errors.New("algorithm: method dpo needs preference pairs, and the algorithm returned advantages (set [algorithm] name = \"dpo\")")
		}
		b, m.SkippedGroups, err = dpoBatch(groups, resp.Pairs, c.cfg.DPOMargin)
	default:
		if resp.Advantages == nil {
			return b, errors.New("algorithm: method grpo needs per-trace advantages (set [algorithm] name to grpo, dr_grpo, rloo or reinforce_pp_baseline)")
		}
		b, m.SkippedGroups, err = grpoBatch(groups, resp.Advantages)
	}
	return b, err
}

// describeRollouts fills the reward, success, turn, error and throughput
// figures of m.
func (c *Coach) describeRollouts(m *StepMetrics, groups []*Group) {
	var rewards []float64
	turns, gen, ok := 0, 0, 0
	for _, g := range groups {
		m.RewardFallbacks += g.Fallbacks
		m.JudgeFallbacks += g.JudgeFallbacks
		m.JudgeCauses.Add(g.Judge)
		if len(m.Errors) < 4 {
			m.Errors = append(m.Errors, g.Errors...)
		}
		for i := range g.Traces {
			tr := &g.Traces[i]
			rewards = append(rewards, g.Rewards[i])
			if g.Rewards[i] >= c.cfg.SuccessThreshold {
				ok++
			}
			turns += len(tr.Turns)
			gen += tr.GeneratedTokens()
			m.SandboxErrors += turnErrors(tr)
		}
	}
	m.Episodes = len(rewards)
	m.RewardMean, m.RewardStd = meanStd(rewards)
	if m.Episodes > 0 {
		m.Success = float64(ok) / float64(m.Episodes)
		m.MeanTurns = float64(turns) / float64(m.Episodes)
	}
	if m.RolloutSeconds > 0 {
		m.RolloutTokensPerSec = float64(gen) / m.RolloutSeconds
	}
}

// turnErrors counts a trace's turns whose code, tool call or parse failed.
func turnErrors(tr *sdk.Trace) int {
	n := 0
	for _, t := range tr.Turns {
		failed := t.Error != ""
		for _, o := range t.Observations {
			failed = failed || o.IsError
		}
		if failed {
			n++
		}
	}
	return n
}

func meanStd(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return 0, 0
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)))
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
