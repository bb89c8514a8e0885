package bench

import (
	"context"
	"errors"
	"math"
	"runtime"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/model"
)

func goBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// smallConfig is a GQA model small enough for unit tests.
func smallConfig() model.Config {
	c := model.BenchConfig()
	c.HiddenSize, c.IntermediateSize, c.NumKeyValueHeads, c.VocabSize = 64, 128, 2, 128
	return c
}

func TestTrain(t *testing.T) {
	b := goBackend(t)
	cfg := smallConfig()
	// LoRA parameters: r·(in+out) per adapted projection per layer.
	loraParams := func(r int, modules ...string) int64 {
		var n int64
		for _, m := range modules {
			s, _ := cfg.LinearShape(m)
			n += int64(r * (s[0] + s[1]))
		}
		return n * int64(cfg.NumHiddenLayers)
	}
	tests := []struct {
		name      string
		opts      Options
		mode      string
		trainable int64
	}{
		{"full", Options{}, "full", cfg.NumParameters()},
		{"lora", Options{LoRARank: 4}, "lora", loraParams(4, "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")},
		{"lora_targets", Options{LoRARank: 2, Targets: []string{"q_proj", "v_proj"}}, "lora", loraParams(2, "q_proj", "v_proj")},
		{"qlora", Options{LoRARank: 4, QLoRA: true}, "qlora", loraParams(4, "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Train(context.Background(), b, cfg, 2, 16, 4, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Mode != tc.mode || r.Gradients != "dotgrad" || r.Batch != 2 || r.Seq != 16 || r.Steps != 4 {
				t.Errorf("result header %+v", r)
			}
			if r.TrainableParams != tc.trainable {
				t.Errorf("trainable params %d, want %d", r.TrainableParams, tc.trainable)
			}
			// The same batch every step: the loss must fall (Adam's first
			// steps move every weight by about lr).
			if !(r.LastLoss < r.FirstLoss) {
				t.Errorf("loss did not fall: %v → %v", r.FirstLoss, r.LastLoss)
			}
			if r.StepMS <= 0 || r.ForwardMS <= 0 || r.TokensPerSec <= 0 || r.StepOverForward <= 0 {
				t.Errorf("timings %+v", r)
			}
			// A step computes: it takes CPU time, and no more per token
			// than its tokens allow.
			if want := float64(r.Batch*r.Seq) / (r.StepCPUMS / 1000); runtime.GOOS == "linux" &&
				(r.StepCPUMS <= 0 || math.Abs(r.TokensPerCPUSec-want) > 1e-3*want) {
				t.Errorf("CPU time per step %v ms, %v tokens per CPU second", r.StepCPUMS, r.TokensPerCPUSec)
			}
			if r.PeakRSSBytes <= 0 {
				t.Errorf("peak RSS %d", r.PeakRSSBytes)
			}
		})
	}
}

func TestTrain_Errors(t *testing.T) {
	b := goBackend(t)
	cfg := smallConfig()
	tests := []struct {
		name              string
		batch, seq, steps int
		opts              Options
	}{
		{"zero_batch", 0, 16, 1, Options{}},
		{"short_seq", 2, 1, 1, Options{}},
		{"zero_steps", 2, 16, 0, Options{}},
		{"negative_rank", 2, 16, 1, Options{LoRARank: -1}},
		{"qlora_without_rank", 2, 16, 1, Options{QLoRA: true}},
		{"unknown_target", 2, 16, 1, Options{LoRARank: 2, Targets: []string{"w_proj"}}},
		{"seq_beyond_context", 1, cfg.MaxPositionEmbeddings + 1, 1, Options{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Train(context.Background(), b, cfg, tc.batch, tc.seq, tc.steps, tc.opts); !errors.Is(err, ErrOptions) {
				t.Errorf("err = %v, want ErrOptions", err)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, b, cfg, 2, 16, 2, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// BenchmarkTrainStep times one training step (forward, backward, AdamW) on
// the benchmark shape (hidden 256, 2 layers, 4 heads, FFN 1024, vocab 512,
// batch 8 × 64), and the forward pass alone, on the "go" and "cpu"
// backends.
//
//	go test -run XXX -bench . ./core/train/bench
func BenchmarkTrainStep(b *testing.B) {
	for _, name := range []string{"go", "cpu"} {
		be, err := backend.New(name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) { benchTrainStep(b, be) })
		be.Finalize()
	}
}

func benchTrainStep(b *testing.B, be backends.Backend) {
	cfg := model.BenchConfig()
	const batch, seq = 8, 64
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"full", Options{}},
		{"lora8", Options{LoRARank: 8}},
		{"qlora8", Options{LoRARank: 8, QLoRA: true}},
	} {
		s, err := newSession(be, cfg, batch, seq, c.opts)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for _, kind := range []string{"step", "forward"} {
			run := func() error { _, err := s.step(ctx); return err }
			if kind == "forward" {
				run = func() error { return s.forward(ctx) }
			}
			b.Run(c.name+"/"+kind, func(b *testing.B) {
				if err := run(); err != nil { // compiles
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					if err := run(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(batch*seq*b.N)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
		s.close()
	}
}

// TestTrain_UploadsRecycled checks that a training step on "cpu" takes
// the storage of its uploaded weights from the backend's free list: the
// trainer hands the previous step's uploads back, so a step allocates far
// less than the weights it uploads.
func TestTrain_UploadsRecycled(t *testing.T) {
	b, err := backend.New("cpu")
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.BenchConfig() // weights large enough for the free list (≥ 1,024 elements)
	r, err := Train(context.Background(), b, cfg, 4, 32, 3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.AllocPerStep == nil {
		t.Fatal("no allocation figures on cpu")
	}
	weights := float64(cfg.NumParameters() * 4)
	if got := r.AllocPerStep.FreshBytes; got > weights/4 {
		t.Errorf("a step allocated %.0f fresh bytes; the weights it uploads are %.0f", got, weights)
	}
}
