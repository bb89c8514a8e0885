package bench

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/backend/cpu"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train"
)

// modelTolerance: whole-model logits and gradients on "cpu" agree with
// "go" within this fraction of the largest magnitude (issue 13).
const modelTolerance = 1e-5

// TestCPUBackend_MatchesGo runs the same random model on the "go" backend
// and on "cpu" with each GEMM kernel this CPU has, full, QLoRA and LoRA on
// an int8 base, and compares logits and the gradients of the SFT loss.
func TestCPUBackend_MatchesGo(t *testing.T) {
	cfg := smallConfig()
	batch := randomBatch(2, 16, cfg.VocabSize)
	ref := goBackend(t)
	defer ref.Finalize()
	for _, quant := range []string{"", model.QuantNF4, model.QuantInt8} {
		want := logitsAndGrads(t, ref, cfg, batch, quant)
		for _, kernel := range []string{"avx512", "avx2", "generic"} {
			b, err := backend.New("cpu:kernel=" + kernel)
			if err != nil {
				continue // this CPU lacks the kernel
			}
			t.Run(fmt.Sprintf("%s/quant=%q", kernel, quant), func(t *testing.T) {
				defer b.Finalize()
				got := logitsAndGrads(t, b, cfg, batch, quant)
				// Every projection's matmuls (forward, and the input
				// gradient's in training) run on the codes.
				if n := b.(*cpu.Backend).CodedDots(); quant != "" && n == 0 {
					t.Errorf("no matmul ran on the %s codes", quant)
				}
				worst := 0.0
				for name := range want {
					d, scale := maxDiff(got[name], want[name])
					if d > modelTolerance*scale {
						t.Errorf("%s: differ by %.3g (largest %.3g), want ≤ %g relative", name, d, scale, modelTolerance)
					}
					if scale > 0 {
						worst = math.Max(worst, d/scale)
					}
				}
				t.Logf("%d tensors (logits and gradients), worst relative difference %.2g", len(want), worst)
			})
		}
	}
}

// logitsAndGrads returns "logits" and "grad #i" of a fresh random model.
func logitsAndGrads(t *testing.T, b backends.Backend, cfg model.Config, batch train.Batch, quant string) map[string][]float32 {
	t.Helper()
	m, err := model.New(b, cfg, model.MapSource(model.RandomWeights(cfg, 1)), model.LoadOptions{Quant: quant})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out := map[string][]float32{}
	logits, err := m.Logits(context.Background(), batch.IDs)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range logits {
		for _, tok := range row {
			out["logits"] = append(out["logits"], tok...)
		}
	}
	tc := train.Config{Mode: train.ModeFull, Seed: 7, Loss: train.LossSFT}
	if quant != "" {
		tc.Mode = train.ModeLoRA
		tc.LoRA.R, tc.LoRA.Alpha, tc.LoRA.TargetModules = 4, 8, []string{"q_proj", "v_proj", "down_proj"}
	}
	tr, err := train.NewTrainer(m, tc)
	if err != nil {
		t.Fatal(err)
	}
	_, grads, err := tr.Gradients(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range grads {
		out[fmt.Sprintf("grad #%d", i)] = g
	}
	return out
}

func maxDiff(got, want []float32) (d, scale float64) {
	if len(got) != len(want) {
		return math.Inf(1), 0
	}
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	return d, scale
}
