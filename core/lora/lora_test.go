package lora

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/safetensors"
)

const refAdapter = "../../testdata/models/llama-tiny-lora"

func TestLoad_Reference(t *testing.T) {
	a, err := Load(refAdapter)
	if err != nil {
		t.Fatal(err)
	}
	if a.Config.R != 4 || a.Config.Alpha != 8 || a.Scale() != 2 || a.Config.BaseModel != "llama-tiny" ||
		!reflect.DeepEqual(a.Config.TargetModules, []string{"q_proj", "v_proj"}) {
		t.Fatalf("config %+v", a.Config)
	}
	want := []string{
		"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
		"model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj",
	}
	if !reflect.DeepEqual(a.Paths(), want) {
		t.Fatalf("paths %v", a.Paths())
	}
	// llama-tiny: hidden 64, 4 heads of 16, 2 KV heads: q_proj [64, 64], v_proj [32, 64].
	q, v := a.Modules[want[0]], a.Modules[want[1]]
	if !reflect.DeepEqual(q.A.Shape, []int{4, 64}) || !reflect.DeepEqual(q.B.Shape, []int{64, 4}) ||
		!reflect.DeepEqual(v.A.Shape, []int{4, 64}) || !reflect.DeepEqual(v.B.Shape, []int{32, 4}) {
		t.Fatalf("shapes A %v B %v, A %v B %v", q.A.Shape, q.B.Shape, v.A.Shape, v.B.Shape)
	}
}

func TestSave_RoundTrip(t *testing.T) {
	a, err := Load(refAdapter)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := Save(dir, a); err != nil {
		t.Fatal(err)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("adapter changed through Save/Load")
	}
	// The tensor names are PEFT's.
	f, err := safetensors.Open(filepath.Join(dir, WeightsFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := f.Names()[0]; n != "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" {
		t.Fatalf("first tensor %q", n)
	}
}

func TestConfig_Scale(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want float64
	}{
		{"lora", Config{R: 4, Alpha: 8}, 2},
		{"rslora", Config{R: 16, Alpha: 8, UseRSLoRA: true}, 2},
		{"rslora r=2", Config{R: 2, Alpha: 1, UseRSLoRA: true}, 1 / math.Sqrt2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Scale(); math.Abs(got-tt.want) > 1e-15 {
				t.Fatalf("scale %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Config
	}{
		{"list", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["v_proj","q_proj","q_proj"]}`,
			Config{R: 8, Alpha: 16, TargetModules: []string{"q_proj", "v_proj"}}},
		{"bare name string", `{"r":2,"lora_alpha":4,"target_modules":"down_proj","use_rslora":true,"lora_dropout":0.1}`,
			Config{R: 2, Alpha: 4, UseRSLoRA: true, TargetModules: []string{"down_proj"}, Dropout: 0.1}},
		{"alpha default", `{"r":4,"target_modules":["o_proj"],"base_model_name_or_path":"x","layers_to_transform":null}`,
			Config{R: 4, Alpha: 8, TargetModules: []string{"o_proj"}, BaseModel: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseConfig_Errors(t *testing.T) {
	tests := []struct {
		name, json, mention string
	}{
		{"not json", `[`, ""},
		{"prefix tuning", `{"peft_type":"PREFIX_TUNING","r":4}`, "peft_type"},
		{"no r", `{"target_modules":["q_proj"]}`, "r is missing"},
		{"zero r", `{"r":0,"target_modules":["q_proj"]}`, "r must"},
		{"regex", `{"r":4,"target_modules":".*\\.(q|v)_proj"}`, "target_modules"},
		{"unknown module", `{"r":4,"target_modules":["lm_head"]}`, "lm_head"},
		{"no targets", `{"r":4}`, "target_modules"},
		{"dora", `{"r":4,"target_modules":["q_proj"],"use_dora":true}`, "use_dora"},
		{"bias", `{"r":4,"target_modules":["q_proj"],"bias":"all"}`, "bias"},
		{"rank pattern", `{"r":4,"target_modules":["q_proj"],"rank_pattern":{"q_proj":8}}`, "rank_pattern"},
		{"layers", `{"r":4,"target_modules":["q_proj"],"layers_to_transform":[0]}`, "layers_to_transform"},
		{"modules_to_save", `{"r":4,"target_modules":["q_proj"],"modules_to_save":["lm_head"]}`, "modules_to_save"},
		{"zero alpha", `{"r":4,"lora_alpha":0,"target_modules":["q_proj"]}`, "lora_alpha"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
	// The decoder's error stays in the chain under ErrConfig.
	var se *json.SyntaxError
	if _, err := ParseConfig([]byte(`{"r": 4,`)); !errors.As(err, &se) {
		t.Errorf("not json: %v does not wrap a *json.SyntaxError", err)
	}
}

func TestLoad_Errors(t *testing.T) {
	good, err := Load(refAdapter)
	if err != nil {
		t.Fatal(err)
	}
	qA := "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
	tests := []struct {
		name    string
		edit    func(ts map[string]safetensors.Tensor)
		mention string
	}{
		{"missing B", func(ts map[string]safetensors.Tensor) {
			delete(ts, "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight")
		}, "layers.1.self_attn.v_proj has lora_A but no lora_B"},
		{"wrong rank", func(ts map[string]safetensors.Tensor) {
			ts[qA] = f32(qA, []int{3, 64})
		}, "q_proj.lora_A has shape [3 64], want [4, in]"},
		{"untargeted module", func(ts map[string]safetensors.Tensor) {
			n := "base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"
			ts[n] = f32(n, []int{4, 64})
		}, "up_proj"},
		{"foreign tensor", func(ts map[string]safetensors.Tensor) {
			n := "base_model.model.lm_head.weight"
			ts[n] = f32(n, []int{2})
		}, "lm_head"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Save(dir, good); err != nil {
				t.Fatal(err)
			}
			f, err := safetensors.Open(filepath.Join(dir, WeightsFileName))
			if err != nil {
				t.Fatal(err)
			}
			ts := map[string]safetensors.Tensor{}
			for _, n := range f.Names() {
				info, _ := f.Info(n)
				raw, _ := f.Raw(n)
				ts[n] = safetensors.Tensor{Name: n, DType: info.DType, Shape: info.Shape, Data: raw}
			}
			f.Close()
			tt.edit(ts)
			var list []safetensors.Tensor
			for _, v := range ts {
				list = append(list, v)
			}
			if err := safetensors.Write(filepath.Join(dir, WeightsFileName), list, nil); err != nil {
				t.Fatal(err)
			}
			_, err = Load(dir)
			if !errors.Is(err, ErrWeights) || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("got %v, want ErrWeights mentioning %q", err, tt.mention)
			}
		})
	}
	t.Run("no directory", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("got %v", err)
		}
	})
}

func f32(name string, shape []int) safetensors.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return safetensors.Tensor{Name: name, DType: safetensors.F32, Shape: shape, Data: safetensors.EncodeF32(make([]float32, n))}
}

func TestNew(t *testing.T) {
	shape := func(path string) (int, int, bool) {
		switch {
		case strings.HasSuffix(path, "q_proj"):
			return 64, 32, true
		case strings.HasSuffix(path, "down_proj"):
			return 32, 128, true
		}
		return 0, 0, false
	}
	a, err := New(Config{R: 4, Alpha: 8, TargetModules: []string{"q_proj", "down_proj"}}, 2, shape, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Modules) != 4 {
		t.Fatalf("%d modules", len(a.Modules))
	}
	p := a.Modules["model.layers.1.mlp.down_proj"]
	if !reflect.DeepEqual(p.A.Shape, []int{4, 128}) || !reflect.DeepEqual(p.B.Shape, []int{32, 4}) {
		t.Fatalf("shapes %v %v", p.A.Shape, p.B.Shape)
	}
	bound := float32(1 / math.Sqrt(128))
	nonzero := 0
	for _, v := range p.A.Data {
		if v < -bound || v > bound {
			t.Fatalf("A value %v outside ±%v", v, bound)
		}
		if v != 0 {
			nonzero++
		}
	}
	for _, v := range p.B.Data {
		if v != 0 {
			t.Fatal("B must start at zero")
		}
	}
	if nonzero < len(p.A.Data)/2 {
		t.Fatal("A is mostly zero")
	}
	if _, err := New(Config{R: 4, Alpha: 8, TargetModules: []string{"k_proj"}}, 1, shape, 1); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown module: got %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(refAdapter, ConfigFileName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"r":2,"target_modules":"q_proj","use_rslora":true}`))
	f.Add([]byte(`{"r":-1,"lora_alpha":1e309}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v", err)
		}
		if s := c.Scale(); math.IsNaN(s) || math.IsInf(s, 0) || s == 0 {
			t.Fatalf("scale %v", s)
		}
	})
}
