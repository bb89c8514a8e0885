package model

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/safetensors"
)

func TestSave_LoadRoundTrip(t *testing.T) {
	backend := testBackend(t)
	for _, cfg := range []Config{tinyConfig(), tinyQwen()} {
		t.Run(string(cfg.Architecture), func(t *testing.T) {
			dir := t.TempDir()
			w := RandomWeights(cfg, 7)
			if err := Save(dir, cfg, w); err != nil {
				t.Fatal(err)
			}
			m, err := Load(backend, dir, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			gotCfg := m.Config()
			gotCfg.TorchDType, gotCfg.HiddenAct = "", ""
			if !reflect.DeepEqual(gotCfg, cfg) {
				t.Fatalf("config changed:\n%+v\n%+v", gotCfg, cfg)
			}
			back, err := m.HostWeights()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, w) {
				t.Fatal("weights changed through Save/Load")
			}
			// No temporary files are left behind.
			ents, _ := os.ReadDir(dir)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if !reflect.DeepEqual(names, []string{"config.json", "model.safetensors"}) {
				t.Fatalf("directory holds %v", names)
			}
		})
	}
}

func tinyQwen() Config {
	c := tinyConfig()
	c.Architecture, c.AttentionBias, c.TieWordEmbeddings, c.RopeTheta = Qwen2, true, true, 1e6
	return c
}

// TestLoad_Sharded splits llama-tiny into shards with an index, as
// transformers does for large models, and expects the same logits.
func TestLoad_Sharded(t *testing.T) {
	backend := testBackend(t)
	src := filepath.Join(refDir, "llama-tiny")
	set, err := safetensors.OpenDir(src)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	dir := t.TempDir()
	cfgJSON, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfgJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	names := set.Names()
	sort.Strings(names)
	weightMap := map[string]string{}
	shards := [][]string{names[:len(names)/2], names[len(names)/2:]}
	for i, part := range shards {
		file := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[i]
		var ts []safetensors.Tensor
		for _, n := range part {
			info, _ := set.Info(n)
			raw, err := set.Raw(n)
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, safetensors.Tensor{Name: n, DType: info.DType, Shape: info.Shape, Data: raw})
			weightMap[n] = file
		}
		if err := safetensors.Write(filepath.Join(dir, file), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), idx, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(backend, dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := loadRef(t, "llama-tiny")[0]
	got, err := m.Logits(context.Background(), [][]int32{c.IDs})
	if err != nil {
		t.Fatal(err)
	}
	if d, _, _ := maxDiff(t, got[0], c.Logits); !(d <= 2e-4) {
		t.Fatalf("sharded checkpoint: max |diff| %.3g", d)
	}
}

func TestNew_Errors(t *testing.T) {
	backend := testBackend(t)
	cfg := tinyConfig()
	tests := []struct {
		name    string
		edit    func(map[string]HostTensor)
		want    error
		mention []string
	}{
		{"missing tensor", func(w map[string]HostTensor) { delete(w, "model.layers.1.mlp.up_proj.weight") },
			ErrMissingTensor, []string{"model.layers.1.mlp.up_proj.weight", "[64 32]"}},
		{"missing head", func(w map[string]HostTensor) { delete(w, "lm_head.weight") },
			ErrMissingTensor, []string{"lm_head.weight"}},
		{"wrong shape", func(w map[string]HostTensor) {
			w["model.layers.0.self_attn.k_proj.weight"] = HostTensor{Shape: []int{32, 32}, Data: make([]float32, 32*32)}
		}, ErrShape, []string{"model.layers.0.self_attn.k_proj.weight", "[32 32]", "[16 32]"}},
		{"short data", func(w map[string]HostTensor) {
			w["model.norm.weight"] = HostTensor{Shape: []int{32}, Data: make([]float32, 3)}
		}, ErrShape, []string{"model.norm.weight"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := RandomWeights(cfg, 1)
			tt.edit(w)
			_, err := New(backend, cfg, MapSource(w), LoadOptions{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			for _, s := range tt.mention {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if err := Save(t.TempDir(), cfg, w); !errors.Is(err, tt.want) {
				t.Errorf("Save: got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("extra tensor", func(t *testing.T) {
		w := RandomWeights(cfg, 1)
		w["model.layers.9.mlp.up_proj.weight"] = HostTensor{Shape: []int{1}, Data: []float32{0}}
		if err := Save(t.TempDir(), cfg, w); !errors.Is(err, ErrShape) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("load without weights", func(t *testing.T) {
		dir := t.TempDir()
		js, _ := json.Marshal(cfg)
		os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644)
		if _, err := Load(backend, dir, LoadOptions{}); !errors.Is(err, safetensors.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestModel_Adapter(t *testing.T) {
	backend := testBackend(t)
	ctx := context.Background()
	cfg := tinyConfig()
	w := RandomWeights(cfg, 3)
	m, err := New(backend, cfg, MapSource(w), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// A random adapter on every module, with non-zero B so it matters.
	a, err := lora.New(lora.Config{R: 2, Alpha: 3, UseRSLoRA: true, TargetModules: lora.Modules}, cfg.NumHiddenLayers, cfg.ModuleShape, 9)
	if err != nil {
		t.Fatal(err)
	}
	for p, pair := range a.Modules {
		for i := range pair.B.Data {
			pair.B.Data[i] = float32(math.Sin(float64(i+len(p)))) * 0.5
		}
	}
	ids := [][]int32{{1, 5, 9, 13, 2}, {7, 3}}
	base, err := m.Logits(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetAdapter(a); err != nil {
		t.Fatal(err)
	}
	adapted, err := m.Logits(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(base, adapted); d < 1e-3 {
		t.Fatalf("adapter changed logits by only %.3g", d)
	}

	t.Run("cache uses the adapter", func(t *testing.T) {
		c, err := m.NewCache(ctx, 2, 8)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got, err := c.Append(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for b := range ids {
			want := adapted[b][len(ids[b])-1]
			if d := maxAbsDiff([][][]float32{{got[b]}}, [][][]float32{{want}}); d > 1e-4 {
				t.Fatalf("row %d: cache with adapter differs by %.3g", b, d)
			}
		}
	})

	t.Run("merged equals unmerged", func(t *testing.T) {
		m2, err := New(backend, cfg, MapSource(w), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer m2.Close()
		if err := m2.MergeAdapter(a); err != nil {
			t.Fatal(err)
		}
		merged, err := m2.Logits(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(merged, adapted); d > 1e-4 {
			t.Fatalf("merged differs from unmerged by %.3g", d)
		}
	})

	t.Run("misfit adapters", func(t *testing.T) {
		other := tinyConfig()
		other.HiddenSize = 48
		wrong, err := lora.New(lora.Config{R: 2, Alpha: 4, TargetModules: []string{"q_proj"}}, 1, other.ModuleShape, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetAdapter(wrong); !errors.Is(err, lora.ErrWeights) || !strings.Contains(err.Error(), "q_proj") {
			t.Fatalf("wrong shapes: got %v", err)
		}
		deep := tinyConfig()
		deep.NumHiddenLayers = 3
		tooDeep, _ := lora.New(lora.Config{R: 2, Alpha: 4, TargetModules: []string{"v_proj"}}, 3, deep.ModuleShape, 1)
		if err := m.SetAdapter(tooDeep); !errors.Is(err, lora.ErrWeights) || !strings.Contains(err.Error(), "model.layers.2") {
			t.Fatalf("extra layer: got %v", err)
		}
		// The failed calls left the previous adapter in place.
		if m.Adapter() != a {
			t.Fatal("a failed SetAdapter replaced the adapter")
		}
	})

	if err := m.SetAdapter(nil); err != nil {
		t.Fatal(err)
	}
	off, err := m.Logits(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(off, base); d != 0 {
		t.Fatalf("switching the adapter off left a difference of %.3g", d)
	}
}

func maxAbsDiff(a, b [][][]float32) float64 {
	worst := 0.0
	for i := range a {
		for j := range a[i] {
			for k := range a[i][j] {
				d := math.Abs(float64(a[i][j][k] - b[i][j][k]))
				if math.IsNaN(d) {
					return math.Inf(1)
				}
				worst = max(worst, d)
			}
		}
	}
	return worst
}
