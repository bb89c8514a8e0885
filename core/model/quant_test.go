package model

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/toolbrain/toolbrain/core/lora"
)

// TestModel_Quantized loads the reference checkpoints with int8 and NF4
// projections and checks three things: (1) the in-graph dequantization
// equals the quantizer's own Go dequantization (a float32 model built from
// HostWeights gives the same logits); (2) the logits stay near the float64
// reference; (3) Model.Save writes the quantized form, which Load reads back
// unchanged and smaller.
func TestModel_Quantized(t *testing.T) {
	backend := testBackend(t)
	ctx := context.Background()
	tests := []struct {
		model, quant string
		maxRefErr    float64 // vs the float64 reference logits
		maxRatio     float64 // resident linear bytes / float32 bytes
	}{
		{"llama-tiny", QuantInt8, 0.15, 0.27},
		{"llama-tiny", QuantNF4, 3, 0.2},
		{"qwen2-tiny-bf16", QuantInt8, 0.15, 0.3},
		{"qwen2-tiny-bf16", QuantNF4, 3, 0.23},
	}
	for _, tt := range tests {
		t.Run(tt.model+"/"+tt.quant, func(t *testing.T) {
			dir := filepath.Join(refDir, tt.model)
			full, err := Load(backend, dir, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer full.Close()
			m, err := Load(backend, dir, LoadOptions{Quant: tt.quant})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			fl, fo := full.WeightBytes()
			ql, qo := m.WeightBytes()
			if qo != fo || float64(ql)/float64(fl) > tt.maxRatio {
				t.Fatalf("weight bytes: linear %d (float %d), other %d (float %d)", ql, fl, qo, fo)
			}
			t.Logf("resident linear bytes %d vs %d float32 (%.3f)", ql, fl, float64(ql)/float64(fl))
			cases := loadRef(t, tt.model)
			ids := [][]int32{cases[0].IDs}
			got, err := m.Logits(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			d, _, _ := maxDiff(t, got[0], cases[0].Logits)
			if d > tt.maxRefErr || d < 1e-6 {
				t.Fatalf("max |quantized - reference| = %.3g, want in (1e-6, %g]", d, tt.maxRefErr)
			}
			t.Logf("max |quantized - reference| = %.3g", d)

			deq, err := m.HostWeights()
			if err != nil {
				t.Fatal(err)
			}
			plain, err := New(backend, m.Config(), MapSource(deq), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			want, err := plain.Logits(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(got, want); d > 1e-5 {
				t.Fatalf("in-graph dequantization differs from Go dequantization by %.3g", d)
			}

			// An unmerged adapter on top of quantized projections.
			if tt.model == "llama-tiny" {
				a, err := lora.Load(filepath.Join(refDir, "llama-tiny-lora"))
				if err != nil {
					t.Fatal(err)
				}
				for _, mm := range []*Model{m, plain} {
					if err := mm.SetAdapter(a); err != nil {
						t.Fatal(err)
					}
				}
				qa, err := m.Logits(ctx, ids)
				if err != nil {
					t.Fatal(err)
				}
				pa, err := plain.Logits(ctx, ids)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(qa, pa); d > 1e-5 || maxAbsDiff(qa, got) < 1e-3 {
					t.Fatalf("adapter on quantized weights: differs from dequantized by %.3g", d)
				}
				m.SetAdapter(nil)
			}

			out := t.TempDir()
			if err := m.Save(out); err != nil {
				t.Fatal(err)
			}
			back, err := Load(backend, out, LoadOptions{}) // stored format wins
			if err != nil {
				t.Fatal(err)
			}
			defer back.Close()
			if bl, _ := back.WeightBytes(); bl != ql {
				t.Fatalf("reloaded linear bytes %d, want %d", bl, ql)
			}
			again, err := back.Logits(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(again, got); d != 0 {
				t.Fatalf("saved quantized checkpoint changed logits by %.3g", d)
			}
		})
	}
	t.Run("unknown format", func(t *testing.T) {
		_, err := Load(backend, filepath.Join(refDir, "llama-tiny"), LoadOptions{Quant: "fp8"})
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("got %v", err)
		}
	})
}
