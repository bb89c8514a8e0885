// Package bench measures training throughput: one full training step
// of core/train's Trainer (forward, backward through the efficient
// DotGeneral gradient of core/train/dotgrad, AdamW) on a random model,
// against the forward pass of the same model in the same process.
//
// `toolbrain bench train [--lora R] [--qlora]` calls Train with
// model.BenchConfig(), batch 8, seq 64 and prints the Result as one JSON
// line.
package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/toolbrain/toolbrain/core/backend/cpu"
	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/core/train/dotgrad"
	"github.com/toolbrain/toolbrain/internal/cputime"
)

// ErrOptions marks invalid benchmark arguments.
var ErrOptions = errors.New("bench: invalid options")

// TorchTrainTokensPerSec and TorchForwardTokensPerSec are the PyTorch CPU
// anchor on the benchmark shape (../shared/bench/torch_bench.py, PyTorch
// 1.13 + OpenBLAS, 2 threads, full fine-tune with Adam), measured on the
// reference machine (docs/PERFORMANCE.md).
const (
	TorchTrainTokensPerSec   = 4243
	TorchForwardTokensPerSec = 12665
)

// Options selects what is trained. The zero value is full fine-tuning.
type Options struct {
	// LoRARank > 0 trains LoRA adapters of that rank (alpha = 2·rank) on
	// Targets, with the base frozen; 0 trains every weight.
	LoRARank int
	// Targets are the LoRA target modules (lora.Modules names); nil means
	// all seven projections.
	Targets []string
	// QLoRA holds the frozen base projections in NF4, dequantized in the
	// graph; needs LoRARank > 0.
	QLoRA bool
	// StockGradients builds the step with gomlx's own DotGeneral gradient,
	// to measure what dotgrad saves. Slow and memory-hungry.
	StockGradients bool
}

// Result is one training benchmark, ready to print as JSON.
type Result struct {
	Kind string `json:"kind"` // "train"
	// Backend is the gomlx backend's name ("go", "cpu", "xla"…).
	Backend string `json:"backend"`
	Mode    string `json:"mode"` // "full", "lora" or "qlora"
	Rank    int    `json:"lora_rank,omitempty"`
	Batch   int    `json:"batch"`
	Seq     int    `json:"seq"`
	Steps   int    `json:"steps"`
	// Gradients is "dotgrad" or "stock".
	Gradients       string `json:"gradients"`
	Parameters      int64  `json:"parameters"`
	TrainableParams int64  `json:"trainable_params"`
	// FirstStepMS includes building and compiling the step graph.
	FirstStepMS float64 `json:"first_step_ms"`
	// StepMS is the median step; TokensPerSec is batch·seq/StepMS.
	StepMS       float64 `json:"step_ms"`
	TokensPerSec float64 `json:"train_tokens_per_sec"`
	// StepCPUMS is the median CPU time (user and system, all threads) of
	// a step, 0 where the OS does not report it. On a shared machine it
	// moves far less than StepMS: a step needs this much of the CPUs
	// whatever else runs. TokensPerCPUSec = batch·seq/StepCPUMS.
	StepCPUMS       float64 `json:"step_cpu_ms,omitempty"`
	TokensPerCPUSec float64 `json:"train_tokens_per_cpu_sec,omitempty"`
	// ForwardMS is the median forward pass (with the loss) of the same
	// model on the same batch, each timed right after a step;
	// StepOverForward = StepMS/ForwardMS.
	ForwardMS           float64 `json:"forward_ms"`
	ForwardTokensPerSec float64 `json:"forward_tokens_per_sec"`
	StepOverForward     float64 `json:"step_over_forward"`
	// TrainGFLOPs and ForwardGFLOPs are the matmul work (TrainFLOPs,
	// ForwardFLOPs) per second of a step and of a forward pass. A LoRA
	// step skips the base weights' gradients, so its figure overstates.
	TrainGFLOPs            float64 `json:"train_gflops"`
	ForwardGFLOPs          float64 `json:"forward_gflops"`
	TorchTrainTokensPerSec float64 `json:"torch_train_tokens_per_sec"`
	// PeakRSSBytes is VmHWM from /proc/self/status. When PeakRSSReset is
	// true the high-water mark was reset once the model was loaded, so it
	// covers the resident model and training; otherwise the whole process.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	PeakRSSReset bool  `json:"peak_rss_reset"`
	// FirstLoss and LastLoss are the SFT loss before the first and the
	// last timed step (the same batch every step, so it must fall).
	FirstLoss float64 `json:"first_loss"`
	LastLoss  float64 `json:"last_loss"`
	// AllocPerStep is what the backend allocated per timed step (fresh
	// storage, and buffers its free list served), when it is the "cpu"
	// backend.
	AllocPerStep *cpu.StepAlloc `json:"alloc_per_step,omitempty"`
}

// Train builds a random model of cfg, trains it for steps steps on one
// random batch × seq batch (SFT loss on every next token) and times each
// step and a forward pass after it. The first step (which compiles) is not
// among the timed ones. ctx is checked between steps; cancelling it
// returns ctx's error with nothing measured.
func Train(ctx context.Context, backend backends.Backend, cfg model.Config, batch, seq, steps int, opts Options) (Result, error) {
	if err := checkOptions(cfg, batch, seq, steps, opts); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	prev := dotgrad.SetEnabled(!opts.StockGradients)
	defer dotgrad.SetEnabled(prev)

	r := Result{Kind: "train", Backend: backend.Name(), Mode: "full", Batch: batch, Seq: seq, Steps: steps, Gradients: "dotgrad",
		TorchTrainTokensPerSec: TorchTrainTokensPerSec}
	if opts.StockGradients {
		r.Gradients = "stock"
	}
	if opts.LoRARank > 0 {
		r.Mode, r.Rank = "lora", opts.LoRARank
		if opts.QLoRA {
			r.Mode = "qlora"
		}
	}
	s, err := newSession(backend, cfg, batch, seq, opts)
	if err != nil {
		return r, err
	}
	// The peak covers the resident model and training, not the random
	// host weights the model was built from (a checkpoint streams them).
	r.PeakRSSReset = resetPeakRSS()
	defer s.close()
	r.Parameters = cfg.NumParameters()
	r.TrainableParams = s.trainableParams()

	t0 := time.Now()
	l, err := s.step(ctx)
	if err != nil {
		return r, err
	}
	r.FirstStepMS = ms(time.Since(t0))
	r.FirstLoss = l
	if err := s.forward(ctx); err != nil { // compiles
		return r, err
	}
	// Steps and forward passes alternate so that both see the same load
	// on a shared machine; medians drop the odd preempted call.
	stepT := make([]time.Duration, steps)
	stepCPU := make([]time.Duration, steps)
	fwdT := make([]time.Duration, steps)
	meter := cpu.NewMeter(backend)
	for i := range steps {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		var l float64
		t0, c0 := time.Now(), cputime.Process()
		err := meter.Measure(func() (err error) {
			l, err = s.step(ctx)
			return err
		})
		stepT[i], stepCPU[i] = time.Since(t0), cputime.Process()-c0
		if err != nil {
			return r, err
		}
		r.LastLoss = l
		t0 = time.Now()
		err = s.forward(ctx)
		fwdT[i] = time.Since(t0)
		if err != nil {
			return r, err
		}
	}
	r.StepMS, r.ForwardMS = ms(median(stepT)), ms(median(fwdT))
	r.TokensPerSec = float64(batch*seq) / median(stepT).Seconds()
	if c := median(stepCPU); c > 0 {
		r.StepCPUMS, r.TokensPerCPUSec = ms(c), float64(batch*seq)/c.Seconds()
	}
	r.ForwardTokensPerSec = float64(batch*seq) / median(fwdT).Seconds()
	r.StepOverForward = r.StepMS / r.ForwardMS
	r.TrainGFLOPs = TrainFLOPs(cfg, batch, seq) / median(stepT).Seconds() / 1e9
	r.ForwardGFLOPs = ForwardFLOPs(cfg, batch, seq, seq) / median(fwdT).Seconds() / 1e9
	r.PeakRSSBytes = peakRSS()
	r.AllocPerStep = meter.PerStep(steps)
	return r, nil
}

func checkOptions(cfg model.Config, batch, seq, steps int, opts Options) error {
	switch {
	case batch <= 0 || seq < 2 || steps <= 0:
		return fmt.Errorf("%w: bench train needs batch > 0, seq ≥ 2 and steps > 0 (got %d, %d, %d)", ErrOptions, batch, seq, steps)
	case opts.LoRARank < 0:
		return fmt.Errorf("%w: LoRA rank %d < 0", ErrOptions, opts.LoRARank)
	case opts.QLoRA && opts.LoRARank == 0:
		return fmt.Errorf("%w: QLoRA needs a LoRA rank > 0", ErrOptions)
	case seq > cfg.MaxPositionEmbeddings && cfg.MaxPositionEmbeddings > 0:
		return fmt.Errorf("%w: seq %d exceeds the model's %d positions", ErrOptions, seq, cfg.MaxPositionEmbeddings)
	}
	for _, t := range opts.Targets {
		if !slices.Contains(lora.Modules, t) {
			return fmt.Errorf("%w: LoRA target %q (want one of %s)", ErrOptions, t, strings.Join(lora.Modules, ", "))
		}
	}
	return cfg.Validate()
}

// session is a random model and the Trainer that trains it: the benchmark
// measures the same step that `toolbrain sft` and the coach run.
type session struct {
	m     *model.Model
	tr    *train.Trainer
	batch train.Batch
}

func newSession(backend backends.Backend, cfg model.Config, batch, seq int, opts Options) (*session, error) {
	lo := model.LoadOptions{}
	if opts.QLoRA {
		lo.Quant = model.QuantNF4
	}
	m, err := model.New(backend, cfg, model.MapSource(model.RandomWeights(cfg, 1)), lo)
	if err != nil {
		return nil, fmt.Errorf("bench model: %w", err)
	}
	tc := train.Config{Mode: train.ModeFull, Seed: 7, Loss: train.LossSFT}
	if opts.LoRARank > 0 {
		targets := opts.Targets
		if targets == nil {
			targets = lora.Modules
		}
		tc.Mode = train.ModeLoRA
		tc.LoRA = lora.Config{R: opts.LoRARank, Alpha: float64(2 * opts.LoRARank), TargetModules: slices.Clone(targets)}
	}
	tr, err := train.NewTrainer(m, tc)
	if err != nil {
		m.Close()
		return nil, err
	}
	return &session{m: m, tr: tr, batch: randomBatch(batch, seq, cfg.VocabSize)}, nil
}

func (s *session) trainableParams() int64 { return s.tr.NumTrainable() }

// step runs one optimizer step and returns its loss.
func (s *session) step(ctx context.Context) (float64, error) {
	m, err := s.tr.Step(ctx, s.batch)
	return m.Loss, err
}

// forward runs the policy's forward pass (log-probabilities) on the batch.
func (s *session) forward(ctx context.Context) error {
	_, err := s.tr.LogProbs(ctx, s.batch.IDs, true)
	return err
}

func (s *session) close() { s.m.Close() }

// randomBatch is batch rows of seq random tokens, every next token trained.
func randomBatch(batch, seq, vocab int) train.Batch {
	rng := rand.New(rand.NewPCG(5, 6))
	b := train.Batch{IDs: make([][]int32, batch), Mask: make([][]float32, batch)}
	for i := range b.IDs {
		b.IDs[i], b.Mask[i] = make([]int32, seq), make([]float32, seq)
		for t := range b.IDs[i] {
			b.IDs[i][t] = int32(rng.IntN(vocab))
			if t > 0 {
				b.Mask[i][t] = 1
			}
		}
	}
	return b
}

func resetPeakRSS() bool {
	runtime.GC()
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS reads VmHWM from /proc/self/status in bytes (0 where there is no
// procfs).
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
