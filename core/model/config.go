package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/toolbrain/toolbrain/internal/capread"
)

// Sentinel errors. Each is wrapped with the name of the file, field or tensor
// at fault, so callers test with errors.Is and people read the message.
var (
	// ErrConfig marks a config.json that is malformed, inconsistent or asks
	// for a feature this package does not implement.
	ErrConfig = errors.New("model: invalid config")
	// ErrUnsupported marks an architecture or option that is valid in
	// Hugging Face but not implemented here.
	ErrUnsupported = errors.New("model: unsupported")
	// ErrMissingTensor marks a weight the configuration needs that the
	// checkpoint lacks.
	ErrMissingTensor = errors.New("model: missing tensor")
	// ErrShape marks a tensor whose shape differs from what the
	// configuration implies.
	ErrShape = errors.New("model: shape mismatch")
	// ErrInput marks bad arguments to Logits or a cache (token id out of
	// range, too many tokens, wrong batch size).
	ErrInput = errors.New("model: invalid input")
	// ErrClosed is returned by a cache used after Close.
	ErrClosed = errors.New("model: cache closed")
)

// Architecture names the decoder family. Llama and Qwen2 share the graph;
// they differ only in defaults (Qwen2 always has q/k/v biases).
type Architecture string

const (
	Llama Architecture = "llama"
	Qwen2 Architecture = "qwen2"
)

// Config is the subset of a Hugging Face config.json that the decoder
// needs. Field names follow config.json; LoadConfig fills the defaults that
// transformers applies when a key is absent.
type Config struct {
	Architecture          Architecture // from architectures / model_type
	HiddenSize            int
	IntermediateSize      int
	NumHiddenLayers       int
	NumAttentionHeads     int
	NumKeyValueHeads      int // GQA; 0 means NumAttentionHeads (see KVHeads)
	HeadDim               int // 0 means HiddenSize/NumAttentionHeads (see HeadDimension)
	RopeTheta             float64
	RMSNormEps            float64
	VocabSize             int
	MaxPositionEmbeddings int
	TieWordEmbeddings     bool // the LM head reuses the embeddings
	// AttentionBias adds biases to q, k, v (and, for Llama, o) projections.
	// Always true for Qwen2, whose o_proj has no bias.
	AttentionBias bool
	// BOSTokenID is bos_token_id, -1 when config.json has none.
	BOSTokenID int
	// EOSTokenIDs is eos_token_id as a list (config.json may give one id).
	EOSTokenIDs []int
	TorchDType  string // informative: weights are always float32 in memory
	HiddenAct   string // "" or "silu"
}

// HeadDimension is head_dim when config.json gives it, else
// hidden_size / num_attention_heads.
func (c Config) HeadDimension() int {
	if c.HeadDim > 0 {
		return c.HeadDim
	}
	if c.NumAttentionHeads == 0 {
		return 0
	}
	return c.HiddenSize / c.NumAttentionHeads
}

// KVHeads is num_key_value_heads, defaulting to num_attention_heads (no GQA).
func (c Config) KVHeads() int {
	if c.NumKeyValueHeads > 0 {
		return c.NumKeyValueHeads
	}
	return c.NumAttentionHeads
}

// rawConfig mirrors config.json with pointers and raw values where
// transformers' defaults or polymorphic fields need care.
type rawConfig struct {
	Architectures         []string         `json:"architectures"`
	ModelType             string           `json:"model_type"`
	HiddenSize            int              `json:"hidden_size"`
	IntermediateSize      int              `json:"intermediate_size"`
	NumHiddenLayers       int              `json:"num_hidden_layers"`
	NumAttentionHeads     int              `json:"num_attention_heads"`
	NumKeyValueHeads      *int             `json:"num_key_value_heads"`
	HeadDim               *int             `json:"head_dim"`
	RopeTheta             *float64         `json:"rope_theta"`
	RMSNormEps            *float64         `json:"rms_norm_eps"`
	VocabSize             int              `json:"vocab_size"`
	MaxPositionEmbeddings int              `json:"max_position_embeddings"`
	TieWordEmbeddings     *bool            `json:"tie_word_embeddings"`
	AttentionBias         *bool            `json:"attention_bias"`
	MLPBias               *bool            `json:"mlp_bias"`
	BOSTokenID            json.RawMessage  `json:"bos_token_id"`
	EOSTokenID            json.RawMessage  `json:"eos_token_id"`
	RopeScaling           *json.RawMessage `json:"rope_scaling"`
	HiddenAct             string           `json:"hidden_act"`
	TorchDType            string           `json:"torch_dtype"`
	UseSlidingWindow      *bool            `json:"use_sliding_window"`
	PretrainingTP         *int             `json:"pretraining_tp"`
}

// MaxConfigBytes caps config.json, which comes with a downloaded model and
// is a few KB in every real checkpoint.
const MaxConfigBytes = 16 << 20

// LoadConfig reads and validates a Hugging Face config.json.
func LoadConfig(path string) (Config, error) {
	data, err := capread.File(path, MaxConfigBytes)
	if err != nil {
		return Config{}, fmt.Errorf("load config %s: %w", path, err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("load config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses config.json bytes, applies transformers' defaults and
// validates the result.
func ParseConfig(data []byte) (Config, error) {
	var r rawConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	arch, err := architecture(r.Architectures, r.ModelType)
	if err != nil {
		return Config{}, err
	}
	c := Config{
		Architecture:          arch,
		HiddenSize:            r.HiddenSize,
		IntermediateSize:      r.IntermediateSize,
		NumHiddenLayers:       r.NumHiddenLayers,
		NumAttentionHeads:     r.NumAttentionHeads,
		VocabSize:             r.VocabSize,
		MaxPositionEmbeddings: r.MaxPositionEmbeddings,
		TorchDType:            r.TorchDType,
		HiddenAct:             r.HiddenAct,
		RopeTheta:             10000,
		RMSNormEps:            1e-6,
	}
	if r.NumKeyValueHeads != nil {
		c.NumKeyValueHeads = *r.NumKeyValueHeads
	} else {
		c.NumKeyValueHeads = r.NumAttentionHeads
	}
	if r.HeadDim != nil {
		c.HeadDim = *r.HeadDim
	}
	if r.RopeTheta != nil {
		c.RopeTheta = *r.RopeTheta
	}
	if r.RMSNormEps != nil {
		c.RMSNormEps = *r.RMSNormEps
	}
	// transformers defaults tie_word_embeddings to false for Llama and Qwen2
	// configs (PretrainedConfig's default of true is overridden by both).
	if r.TieWordEmbeddings != nil {
		c.TieWordEmbeddings = *r.TieWordEmbeddings
	}
	switch arch {
	case Qwen2:
		// Qwen2Attention hard-codes bias=True for q, k and v.
		c.AttentionBias = true
		if r.UseSlidingWindow != nil && *r.UseSlidingWindow {
			return Config{}, fmt.Errorf("%w: use_sliding_window=true is not implemented", ErrUnsupported)
		}
	case Llama:
		if r.AttentionBias != nil {
			c.AttentionBias = *r.AttentionBias
		}
	}
	if r.MLPBias != nil && *r.MLPBias {
		return Config{}, fmt.Errorf("%w: mlp_bias=true is not implemented", ErrUnsupported)
	}
	if r.PretrainingTP != nil && *r.PretrainingTP > 1 {
		return Config{}, fmt.Errorf("%w: pretraining_tp=%d is not implemented", ErrUnsupported, *r.PretrainingTP)
	}
	if r.RopeScaling != nil && string(*r.RopeScaling) != "null" {
		var rs map[string]any
		if err := json.Unmarshal(*r.RopeScaling, &rs); err != nil {
			return Config{}, fmt.Errorf("%w: rope_scaling: %w", ErrConfig, err)
		}
		typ, _ := rs["rope_type"].(string)
		if typ == "" {
			typ, _ = rs["type"].(string)
		}
		// "default" is plain RoPE; anything else changes the frequencies.
		if typ != "default" {
			return Config{}, fmt.Errorf("%w: rope_scaling type %q is not implemented (only plain RoPE)", ErrUnsupported, typ)
		}
	}
	if c.BOSTokenID, err = parseBOS(r.BOSTokenID); err != nil {
		return Config{}, err
	}
	if c.EOSTokenIDs, err = parseEOS(r.EOSTokenID); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func architecture(archs []string, modelType string) (Architecture, error) {
	fromArch := Architecture("")
	for _, a := range archs {
		switch a {
		case "LlamaForCausalLM":
			fromArch = Llama
		case "Qwen2ForCausalLM":
			fromArch = Qwen2
		default:
			return "", fmt.Errorf("%w: architectures %q (want LlamaForCausalLM or Qwen2ForCausalLM)", ErrUnsupported, a)
		}
	}
	fromType := Architecture("")
	switch modelType {
	case "llama":
		fromType = Llama
	case "qwen2":
		fromType = Qwen2
	case "":
	default:
		return "", fmt.Errorf("%w: model_type %q (want llama or qwen2)", ErrUnsupported, modelType)
	}
	switch {
	case fromArch == "" && fromType == "":
		return "", fmt.Errorf("%w: neither architectures nor model_type is set", ErrConfig)
	case fromArch == "":
		return fromType, nil
	case fromType != "" && fromType != fromArch:
		return "", fmt.Errorf("%w: architectures %v disagrees with model_type %q", ErrConfig, archs, modelType)
	}
	return fromArch, nil
}

// parseBOS accepts an integer or null (no BOS token: -1).
func parseBOS(raw json.RawMessage) (int, error) {
	ids, err := parseIDs("bos_token_id", raw)
	if err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return -1, nil
	}
	return ids[0], nil
}

func parseEOS(raw json.RawMessage) ([]int, error) {
	return parseIDs("eos_token_id", raw)
}

// parseIDs accepts an integer, a list of integers or null.
func parseIDs(field string, raw json.RawMessage) ([]int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one float64
	if err := json.Unmarshal(raw, &one); err == nil {
		if one != math.Trunc(one) || one < 0 {
			return nil, fmt.Errorf("%w: %s %v is not a token id", ErrConfig, field, one)
		}
		return []int{int(one)}, nil
	}
	var many []float64
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("%w: %s must be an integer or a list of integers, got %s", ErrConfig, field, truncate(raw))
	}
	ids := make([]int, len(many))
	for i, v := range many {
		if v != math.Trunc(v) || v < 0 {
			return nil, fmt.Errorf("%w: %s[%d] %v is not a token id", ErrConfig, field, i, v)
		}
		ids[i] = int(v)
	}
	return ids, nil
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// Validate checks that the sizes are positive and consistent. It names the
// first field at fault.
func (c Config) Validate() error {
	if c.Architecture != Llama && c.Architecture != Qwen2 {
		return fmt.Errorf("%w: model_type %q", ErrUnsupported, c.Architecture)
	}
	positive := []struct {
		name string
		v    int
	}{
		{"hidden_size", c.HiddenSize},
		{"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads},
		{"num_key_value_heads", c.KVHeads()},
		{"vocab_size", c.VocabSize},
		{"max_position_embeddings", c.MaxPositionEmbeddings},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return fmt.Errorf("%w: %s must be positive, got %d", ErrConfig, p.name, p.v)
		}
	}
	// Guard against absurd sizes from a corrupt file before anything is
	// allocated from them.
	const maxDim = 1 << 20
	for _, p := range positive {
		if p.v > maxDim && p.name != "max_position_embeddings" {
			return fmt.Errorf("%w: %s=%d is too large", ErrConfig, p.name, p.v)
		}
	}
	if c.HeadDim < 0 {
		return fmt.Errorf("%w: head_dim must be positive, got %d", ErrConfig, c.HeadDim)
	}
	if c.HeadDim == 0 && c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("%w: hidden_size %d is not a multiple of num_attention_heads %d (and head_dim is not set)",
			ErrConfig, c.HiddenSize, c.NumAttentionHeads)
	}
	if hd := c.HeadDimension(); hd <= 0 || hd%2 != 0 {
		return fmt.Errorf("%w: head_dim %d must be positive and even for rotary embeddings", ErrConfig, hd)
	}
	if c.NumAttentionHeads%c.KVHeads() != 0 {
		return fmt.Errorf("%w: num_attention_heads %d is not a multiple of num_key_value_heads %d",
			ErrConfig, c.NumAttentionHeads, c.KVHeads())
	}
	if !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) {
		return fmt.Errorf("%w: rope_theta must be positive, got %v", ErrConfig, c.RopeTheta)
	}
	if !(c.RMSNormEps > 0) || math.IsInf(c.RMSNormEps, 0) {
		return fmt.Errorf("%w: rms_norm_eps must be positive, got %v", ErrConfig, c.RMSNormEps)
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return fmt.Errorf("%w: hidden_act %q (only silu)", ErrUnsupported, c.HiddenAct)
	}
	return nil
}

// MarshalJSON writes the config in Hugging Face form (architectures,
// model_type, eos_token_id as an int or list), so Save produces a
// config.json that transformers loads.
func (c Config) MarshalJSON() ([]byte, error) {
	archName := map[Architecture]string{Llama: "LlamaForCausalLM", Qwen2: "Qwen2ForCausalLM"}[c.Architecture]
	m := map[string]any{
		"architectures":           []string{archName},
		"model_type":              string(c.Architecture),
		"hidden_size":             c.HiddenSize,
		"intermediate_size":       c.IntermediateSize,
		"num_hidden_layers":       c.NumHiddenLayers,
		"num_attention_heads":     c.NumAttentionHeads,
		"num_key_value_heads":     c.KVHeads(),
		"rope_theta":              c.RopeTheta,
		"rms_norm_eps":            c.RMSNormEps,
		"vocab_size":              c.VocabSize,
		"max_position_embeddings": c.MaxPositionEmbeddings,
		"tie_word_embeddings":     c.TieWordEmbeddings,
		"hidden_act":              "silu",
	}
	if c.HeadDim > 0 {
		m["head_dim"] = c.HeadDim
	}
	if c.Architecture == Llama {
		m["attention_bias"] = c.AttentionBias
		m["mlp_bias"] = false
	}
	if c.BOSTokenID >= 0 {
		m["bos_token_id"] = c.BOSTokenID
	}
	switch len(c.EOSTokenIDs) {
	case 0:
	case 1:
		m["eos_token_id"] = c.EOSTokenIDs[0]
	default:
		m["eos_token_id"] = c.EOSTokenIDs
	}
	if c.TorchDType != "" {
		m["torch_dtype"] = c.TorchDType
	}
	return json.MarshalIndent(m, "", "  ")
}

// UnmarshalJSON parses config.json form, as ParseConfig does.
func (c *Config) UnmarshalJSON(data []byte) error {
	parsed, err := ParseConfig(data)
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}
