package model

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/toolbrain/toolbrain/core/lora"
)

// HostTensor is a float32 tensor in host memory, row-major.
type HostTensor struct {
	Shape []int
	Data  []float32
}

// Source supplies weights by Hugging Face name. *safetensors.Set satisfies
// it; tests and `model init` use a map (MapSource).
type Source interface {
	// Float32 returns the tensor converted to float32 and its shape.
	Float32(name string) ([]float32, []int, error)
	// Has reports whether the tensor exists.
	Has(name string) bool
}

// MapSource serves weights from memory.
type MapSource map[string]HostTensor

var _ Source = MapSource(nil)

// Float32 implements Source. The data is shared, not copied.
func (m MapSource) Float32(name string) ([]float32, []int, error) {
	t, ok := m[name]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s", ErrMissingTensor, name)
	}
	return t.Data, t.Shape, nil
}

// Has implements Source.
func (m MapSource) Has(name string) bool { _, ok := m[name]; return ok }

// Tensor kinds, which decide initialisation and quantization.
type tensorKind int

const (
	kindEmbed tensorKind = iota
	kindNorm
	kindLinear
	kindBias
	kindHead
)

// tensorSpec is one weight the configuration calls for.
type tensorSpec struct {
	name  string
	shape []int
	kind  tensorKind
}

// LinearShape returns the [out, in] shape of a projection module
// ("q_proj", ..., "down_proj"), or false for an unknown module.
func (c Config) LinearShape(module string) ([2]int, bool) {
	d, i := c.HiddenSize, c.IntermediateSize
	hd := c.HeadDimension()
	switch module {
	case "q_proj":
		return [2]int{c.NumAttentionHeads * hd, d}, true
	case "k_proj", "v_proj":
		return [2]int{c.KVHeads() * hd, d}, true
	case "o_proj":
		return [2]int{d, c.NumAttentionHeads * hd}, true
	case "gate_proj", "up_proj":
		return [2]int{i, d}, true
	case "down_proj":
		return [2]int{d, i}, true
	}
	return [2]int{}, false
}

// hasBias reports whether a projection carries a bias: q, k, v under
// attention_bias (always for Qwen2), and o only for Llama with
// attention_bias, as in the Hugging Face modeling code.
func (c Config) hasBias(module string) bool {
	switch module {
	case "q_proj", "k_proj", "v_proj":
		return c.AttentionBias
	case "o_proj":
		return c.AttentionBias && c.Architecture == Llama
	}
	return false
}

// specs lists every tensor of the checkpoint in graph-parameter order.
func (c Config) specs() []tensorSpec {
	d := c.HiddenSize
	out := []tensorSpec{{"model.embed_tokens.weight", []int{c.VocabSize, d}, kindEmbed}}
	for l := 0; l < c.NumHiddenLayers; l++ {
		p := "model.layers." + strconv.Itoa(l) + "."
		out = append(out,
			tensorSpec{p + "input_layernorm.weight", []int{d}, kindNorm},
			tensorSpec{p + "post_attention_layernorm.weight", []int{d}, kindNorm})
		for _, m := range lora.Modules {
			s, _ := c.LinearShape(m)
			path := lora.ModulePath(l, m)
			out = append(out, tensorSpec{path + ".weight", []int{s[0], s[1]}, kindLinear})
			if c.hasBias(m) {
				out = append(out, tensorSpec{path + ".bias", []int{s[0]}, kindBias})
			}
		}
	}
	out = append(out, tensorSpec{"model.norm.weight", []int{d}, kindNorm})
	if !c.TieWordEmbeddings {
		out = append(out, tensorSpec{"lm_head.weight", []int{c.VocabSize, d}, kindHead})
	}
	return out
}

// TensorShapes returns every weight name the configuration calls for, with
// its shape.
func (c Config) TensorShapes() map[string][]int {
	m := map[string][]int{}
	for _, s := range c.specs() {
		m[s.name] = s.shape
	}
	return m
}

// NumParameters counts the scalar weights.
func (c Config) NumParameters() int64 {
	var n int64
	for _, s := range c.specs() {
		n += int64(numel(s.shape))
	}
	return n
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// RandomWeights returns a full set of weights for cfg under Hugging Face
// names: normal(0, 0.02) for embeddings, projections and the head (the
// transformers initializer_range default), zero biases and unit norms. The
// same seed gives the same weights.
func RandomWeights(cfg Config, seed int64) map[string]HostTensor {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	w := map[string]HostTensor{}
	for _, s := range cfg.specs() {
		data := make([]float32, numel(s.shape))
		switch s.kind {
		case kindNorm:
			for i := range data {
				data[i] = 1
			}
		case kindBias:
		default:
			for i := range data {
				data[i] = float32(rng.NormFloat64() * 0.02)
			}
		}
		w[s.name] = HostTensor{Shape: slices.Clone(s.shape), Data: data}
	}
	return w
}

// fetch reads one tensor from src and checks its shape.
func fetch(src Source, s tensorSpec) ([]float32, error) {
	if !src.Has(s.name) {
		return nil, fmt.Errorf("%w: %s (want shape %v)", ErrMissingTensor, s.name, s.shape)
	}
	data, shape, err := src.Float32(s.name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.name, err)
	}
	if !slices.Equal(shape, s.shape) {
		return nil, fmt.Errorf("%w: %s has shape %v, want %v", ErrShape, s.name, shape, s.shape)
	}
	if len(data) != numel(s.shape) {
		return nil, fmt.Errorf("%w: %s has %d values for shape %v", ErrShape, s.name, len(data), s.shape)
	}
	return data, nil
}
