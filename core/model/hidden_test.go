package model

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/toolbrain/toolbrain/core/safetensors"
)

// TestModel_MeanHidden checks the pooled hidden states against the logits:
// the LM head is linear, so head · mean(hidden) = mean(logits) over a row.
func TestModel_MeanHidden(t *testing.T) {
	dir := filepath.Join(refDir, "llama-tiny")
	m, err := Load(testBackend(t), dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head, shape, err := f.Float32("lm_head.weight")
	if err != nil {
		t.Fatal(err)
	}
	vocab, hidden := shape[0], shape[1]
	cases := loadRef(t, "llama-tiny")
	ids := make([][]int32, len(cases))
	for i, c := range cases {
		ids[i] = c.IDs
	}
	ctx := context.Background()
	emb, err := m.MeanHidden(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := m.Logits(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for b := range ids {
		if len(emb[b]) != hidden {
			t.Fatalf("row %d: %d values, want hidden size %d", b, len(emb[b]), hidden)
		}
		worst := 0.0
		for v := range vocab {
			var proj float64
			for i := range hidden {
				proj += float64(head[v*hidden+i]) * float64(emb[b][i])
			}
			var mean float64
			for _, l := range logits[b] {
				mean += float64(l[v])
			}
			mean /= float64(len(logits[b]))
			worst = max(worst, math.Abs(proj-mean))
		}
		if !(worst < 1e-3) {
			t.Errorf("row %d: head·MeanHidden differs from the mean logits by %.3g", b, worst)
		}
	}
	// A row alone pools to the same vector as in the padded batch.
	alone, err := m.MeanHidden(ctx, ids[:1])
	if err != nil {
		t.Fatal(err)
	}
	for i := range alone[0] {
		if d := math.Abs(float64(alone[0][i] - emb[0][i])); d > 1e-4 {
			t.Fatalf("row 0 alone differs from row 0 in the batch at %d by %.3g", i, d)
		}
	}
}

func TestModel_MeanHidden_Errors(t *testing.T) {
	m, err := Load(testBackend(t), filepath.Join(refDir, "llama-tiny"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		ids  [][]int32
		want error
	}{
		{name: "no rows", ctx: ctx, ids: nil, want: ErrInput},
		{name: "token out of range", ctx: ctx, ids: [][]int32{{1, 99999}}, want: ErrInput},
		{name: "negative token", ctx: ctx, ids: [][]int32{{-1}}, want: ErrInput},
		{name: "cancelled", ctx: cancelled, ids: [][]int32{{1}}, want: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.MeanHidden(tt.ctx, tt.ids); !errors.Is(err, tt.want) {
				t.Errorf("MeanHidden: %v, want %v", err, tt.want)
			}
		})
	}
	got, err := m.MeanHidden(ctx, [][]int32{{}, {1, 2}})
	if err != nil || got[0] != nil || len(got[1]) != m.Config().HiddenSize {
		t.Errorf("an empty row beside a real one: %v, %v", got, err)
	}
}
