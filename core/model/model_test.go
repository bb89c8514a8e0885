package model

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/toolbrain/toolbrain/core/lora"
)

func TestModel_Logits_Reference(t *testing.T) {
	backend := testBackend(t)
	for _, name := range []string{"llama-tiny", "qwen2-tiny-bf16"} {
		t.Run(name, func(t *testing.T) {
			m, err := Load(backend, filepath.Join(refDir, name), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			cases := loadRef(t, name)
			// All cases in one batch: rows of different lengths exercise padding.
			ids := make([][]int32, len(cases))
			for i, c := range cases {
				ids[i] = c.IDs
			}
			got, err := m.Logits(context.Background(), ids)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cases {
				if d, pt, pv := maxDiff(t, got[i], c.Logits); !(d <= 2e-4) {
					t.Errorf("case %d: max |diff| %.3g at position %d vocab %d", i, d, pt, pv)
				} else {
					t.Logf("case %d: max |diff| %.3g", i, d)
				}
			}
		})
	}
}

func TestModel_Logits_LoRAReference(t *testing.T) {
	backend := testBackend(t)
	m, err := Load(backend, filepath.Join(refDir, "llama-tiny"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a, err := lora.Load(filepath.Join(refDir, "llama-tiny-lora"))
	if err != nil {
		t.Fatal(err)
	}
	cases := loadRef(t, "llama-tiny")
	ids := make([][]int32, len(cases))
	for i, c := range cases {
		ids[i] = c.IDs
	}
	for _, step := range []struct {
		name    string
		adapter *lora.Adapter
		want    func(refCase) [][]float64
	}{
		{"with adapter", a, func(c refCase) [][]float64 { return c.LogitsWithLoRA }},
		{"switched off", nil, func(c refCase) [][]float64 { return c.Logits }},
		{"switched on again", a, func(c refCase) [][]float64 { return c.LogitsWithLoRA }},
	} {
		t.Run(step.name, func(t *testing.T) {
			if err := m.SetAdapter(step.adapter); err != nil {
				t.Fatal(err)
			}
			got, err := m.Logits(context.Background(), ids)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cases {
				if d, pt, pv := maxDiff(t, got[i], step.want(c)); !(d <= 2e-4) {
					t.Errorf("case %d: max |diff| %.3g at position %d vocab %d", i, d, pt, pv)
				} else {
					t.Logf("case %d: max |diff| %.3g", i, d)
				}
			}
		})
	}
}

func TestModel_Logits_Errors(t *testing.T) {
	backend := testBackend(t)
	cfg := tinyConfig()
	m, err := New(backend, cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tests := []struct {
		name string
		ids  [][]int32
	}{
		{"no rows", nil},
		{"id too large", [][]int32{{1, 2}, {int32(cfg.VocabSize)}}},
		{"negative id", [][]int32{{-3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.Logits(context.Background(), tt.ids); !errors.Is(err, ErrInput) {
				t.Fatalf("got %v, want ErrInput", err)
			}
		})
	}
	t.Run("empty rows", func(t *testing.T) {
		got, err := m.Logits(context.Background(), [][]int32{{}, {3}, {}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || len(got[0]) != 0 || len(got[1]) != 1 || len(got[2]) != 0 {
			t.Fatalf("shape %d/%d/%d", len(got[0]), len(got[1]), len(got[2]))
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := m.Logits(ctx, [][]int32{{1}}); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		if _, err := m.NewCache(ctx, 1, 4); !errors.Is(err, context.Canceled) {
			t.Fatalf("NewCache: got %v", err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		want, err := m.Logits(context.Background(), [][]int32{{1, 2, 3}})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := m.Logits(context.Background(), [][]int32{{1, 2, 3}})
				if err == nil && maxAbsDiff(got, want) != 0 {
					err = errors.New("concurrent call gave different logits")
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("closed", func(t *testing.T) {
		m2, err := New(backend, cfg, MapSource(RandomWeights(cfg, 1)), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m2.Close()
		if _, err := m2.Logits(context.Background(), [][]int32{{1}}); err == nil {
			t.Fatal("Logits on a closed model succeeded")
		}
	})
}
