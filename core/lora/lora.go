// Package lora reads and writes PEFT LoRA adapters for the Llama/Qwen2
// decoder in core/model.
//
// An adapter adds scale·B·A to a projection's weight W [out, in], with
// A [r, in] and B [out, r]; scale is lora_alpha/r, or lora_alpha/√r under
// rsLoRA. core/model applies it unmerged in the graph (y = x·Wᵀ +
// scale·(x·Aᵀ)·Bᵀ), so it can be switched off for a reference policy.
//
// On disk an adapter is a PEFT directory: adapter_config.json and
// adapter_model.safetensors with keys such as
// base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight.
package lora

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/toolbrain/toolbrain/core/safetensors"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
)

// File names of a PEFT adapter directory.
const (
	ConfigFileName  = "adapter_config.json"
	WeightsFileName = "adapter_model.safetensors"
)

// Sentinel errors, wrapped with the file, field or tensor at fault.
var (
	// ErrConfig marks an adapter_config.json that is malformed or asks for a
	// PEFT feature not implemented here.
	ErrConfig = errors.New("lora: invalid adapter config")
	// ErrWeights marks adapter tensors that are missing, unexpected or
	// inconsistently shaped.
	ErrWeights = errors.New("lora: invalid adapter weights")
)

// Modules are the projections of a decoder layer, the ones an adapter may
// target: attention's first (AttentionModules), then the MLP's, in the
// order the graph reads them. This list and ModulePath are the one home of
// module names and paths; core/model and core/train read them from here.
var Modules = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// AttentionModules are the Modules under self_attn; the rest are under mlp.
var AttentionModules = Modules[:4]

// ModulePath returns the Hugging Face prefix of a layer's projection, e.g.
// "model.layers.3.self_attn.q_proj" for (3, "q_proj").
func ModulePath(layer int, module string) string {
	sub := "mlp"
	if slices.Contains(AttentionModules, module) {
		sub = "self_attn"
	}
	return "model.layers." + strconv.Itoa(layer) + "." + sub + "." + module
}

// Config is the part of adapter_config.json that matters for inference and
// training.
type Config struct {
	// R is the rank.
	R int
	// Alpha is lora_alpha.
	Alpha float64
	// UseRSLoRA selects scale = Alpha/√R instead of Alpha/R.
	UseRSLoRA bool
	// TargetModules lists projection names among Modules, sorted.
	TargetModules []string
	// BaseModel is base_model_name_or_path (informative).
	BaseModel string
	// Dropout is lora_dropout; training may use it, inference ignores it.
	Dropout float64
}

// Scale is the factor applied to B·A.
func (c Config) Scale() float64 {
	if c.UseRSLoRA {
		return c.Alpha / math.Sqrt(float64(c.R))
	}
	return c.Alpha / float64(c.R)
}

// Validate checks the rank, alpha and target names.
func (c Config) Validate() error {
	if c.R <= 0 || c.R > 1<<16 {
		return fmt.Errorf("%w: r must be in 1..65536, got %d", ErrConfig, c.R)
	}
	if math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0) || c.Alpha == 0 {
		return fmt.Errorf("%w: lora_alpha must be finite and non-zero, got %v", ErrConfig, c.Alpha)
	}
	if s := c.Scale(); s == 0 || math.IsInf(s, 0) || math.IsNaN(s) {
		return fmt.Errorf("%w: lora_alpha %v with r %d gives an unusable scale %v", ErrConfig, c.Alpha, c.R, s)
	}
	if len(c.TargetModules) == 0 {
		return fmt.Errorf("%w: target_modules is empty", ErrConfig)
	}
	for _, m := range c.TargetModules {
		if !slices.Contains(Modules, m) {
			return fmt.Errorf("%w: target_modules entry %q is not one of %v", ErrConfig, m, Modules)
		}
	}
	return nil
}

// rawConfig mirrors adapter_config.json. Fields that would change the math
// are read so they can be rejected rather than silently ignored.
type rawConfig struct {
	PeftType          string          `json:"peft_type"`
	R                 *int            `json:"r"`
	LoraAlpha         *float64        `json:"lora_alpha"`
	UseRSLoRA         bool            `json:"use_rslora"`
	UseDoRA           bool            `json:"use_dora"`
	TargetModules     json.RawMessage `json:"target_modules"`
	BaseModel         string          `json:"base_model_name_or_path"`
	LoraDropout       float64         `json:"lora_dropout"`
	Bias              string          `json:"bias"`
	FanInFanOut       bool            `json:"fan_in_fan_out"`
	RankPattern       map[string]any  `json:"rank_pattern"`
	AlphaPattern      map[string]any  `json:"alpha_pattern"`
	LayersToTransform json.RawMessage `json:"layers_to_transform"`
	ModulesToSave     []string        `json:"modules_to_save"`
	TaskType          string          `json:"task_type"`
}

// ParseConfig parses adapter_config.json bytes.
func ParseConfig(data []byte) (Config, error) {
	var r rawConfig
	if err := json.Unmarshal(data, &r); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if r.PeftType != "" && r.PeftType != "LORA" {
		return Config{}, fmt.Errorf("%w: peft_type %q (only LORA)", ErrConfig, r.PeftType)
	}
	if r.R == nil {
		return Config{}, fmt.Errorf("%w: r is missing", ErrConfig)
	}
	c := Config{R: *r.R, Alpha: 8, UseRSLoRA: r.UseRSLoRA, BaseModel: r.BaseModel, Dropout: r.LoraDropout}
	if r.LoraAlpha != nil {
		c.Alpha = *r.LoraAlpha
	}
	switch {
	case r.UseDoRA:
		return Config{}, fmt.Errorf("%w: use_dora=true is not implemented", ErrConfig)
	case r.Bias != "" && r.Bias != "none":
		return Config{}, fmt.Errorf("%w: bias %q is not implemented (only \"none\")", ErrConfig, r.Bias)
	case r.FanInFanOut:
		return Config{}, fmt.Errorf("%w: fan_in_fan_out=true is not implemented", ErrConfig)
	case len(r.RankPattern) > 0:
		return Config{}, fmt.Errorf("%w: rank_pattern is not implemented", ErrConfig)
	case len(r.AlphaPattern) > 0:
		return Config{}, fmt.Errorf("%w: alpha_pattern is not implemented", ErrConfig)
	case len(r.ModulesToSave) > 0:
		return Config{}, fmt.Errorf("%w: modules_to_save is not implemented", ErrConfig)
	}
	if lt := bytes.TrimSpace(r.LayersToTransform); len(lt) > 0 && string(lt) != "null" {
		return Config{}, fmt.Errorf("%w: layers_to_transform is not implemented", ErrConfig)
	}
	tm := bytes.TrimSpace(r.TargetModules)
	switch {
	case len(tm) == 0 || string(tm) == "null":
		return Config{}, fmt.Errorf("%w: target_modules is missing", ErrConfig)
	case tm[0] == '"':
		// PEFT treats a string as a regular expression matched against full
		// module paths; only a bare module name is accepted here.
		var s string
		if err := json.Unmarshal(tm, &s); err != nil {
			return Config{}, fmt.Errorf("%w: target_modules: %w", ErrConfig, err)
		}
		if !slices.Contains(Modules, s) {
			return Config{}, fmt.Errorf("%w: target_modules as a string (%q) is a regular expression in PEFT; "+
				"only a list of module names is supported", ErrConfig, s)
		}
		c.TargetModules = []string{s}
	default:
		if err := json.Unmarshal(tm, &c.TargetModules); err != nil {
			return Config{}, fmt.Errorf("%w: target_modules: %w", ErrConfig, err)
		}
	}
	c.TargetModules = sortedUnique(c.TargetModules)
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func sortedUnique(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return slices.Compact(s)
}

// MarshalJSON writes adapter_config.json as PEFT does.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"peft_type":               "LORA",
		"task_type":               "CAUSAL_LM",
		"r":                       c.R,
		"lora_alpha":              c.Alpha,
		"use_rslora":              c.UseRSLoRA,
		"use_dora":                false,
		"target_modules":          c.TargetModules,
		"base_model_name_or_path": c.BaseModel,
		"lora_dropout":            c.Dropout,
		"bias":                    "none",
		"fan_in_fan_out":          false,
		"inference_mode":          true,
	}, "", "  ")
}

// UnmarshalJSON parses adapter_config.json form, as ParseConfig does.
func (c *Config) UnmarshalJSON(data []byte) error {
	parsed, err := ParseConfig(data)
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}

// Tensor is a float32 tensor in host memory, row-major.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Pair is one adapted projection: A [r, in] and B [out, r].
type Pair struct {
	A, B Tensor
}

// Adapter is a loaded LoRA adapter.
type Adapter struct {
	Config Config
	// Modules maps a Hugging Face module path without the PEFT prefix
	// ("model.layers.0.self_attn.q_proj") to its pair.
	Modules map[string]Pair
}

// Scale is Config.Scale.
func (a *Adapter) Scale() float64 { return a.Config.Scale() }

// Paths returns the adapted module paths, sorted.
func (a *Adapter) Paths() []string {
	p := make([]string, 0, len(a.Modules))
	for k := range a.Modules {
		p = append(p, k)
	}
	sort.Strings(p)
	return p
}

const peftPrefix = "base_model.model."

// keyRE matches the PEFT tensor names this package reads and writes.
var keyRE = regexp.MustCompile(`^base_model\.model\.(model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+))\.lora_([AB])(?:\.default)?\.weight$`)

// Load reads a PEFT adapter directory.
func Load(dir string) (*Adapter, error) {
	cfgPath := filepath.Join(dir, ConfigFileName)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("load adapter %s: %w", dir, err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("load adapter %s: %w", cfgPath, err)
	}
	wPath := filepath.Join(dir, WeightsFileName)
	f, err := safetensors.Open(wPath)
	if err != nil {
		return nil, fmt.Errorf("load adapter %s: %w", dir, err)
	}
	defer f.Close()
	a := &Adapter{Config: cfg, Modules: map[string]Pair{}}
	for _, name := range f.Names() {
		m := keyRE.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("load adapter %s: %w: unexpected tensor %q (only lora_A/lora_B of layer projections)", wPath, ErrWeights, name)
		}
		path, module, which := m[1], m[4], m[5]
		if !slices.Contains(cfg.TargetModules, module) {
			return nil, fmt.Errorf("load adapter %s: %w: tensor %q is for %s, which target_modules %v does not list",
				wPath, ErrWeights, name, module, cfg.TargetModules)
		}
		vals, shape, err := f.Float32(name)
		if err != nil {
			return nil, fmt.Errorf("load adapter %s: %w", wPath, err)
		}
		p := a.Modules[path]
		t := Tensor{Shape: shape, Data: vals}
		if which == "A" {
			p.A = t
		} else {
			p.B = t
		}
		a.Modules[path] = p
	}
	if len(a.Modules) == 0 {
		return nil, fmt.Errorf("load adapter %s: %w: no lora_A/lora_B tensors", wPath, ErrWeights)
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("load adapter %s: %w", dir, err)
	}
	return a, nil
}

// Validate checks that every module has both tensors, that A is [r, in] and
// B is [out, r] for the configured rank, and that the data lengths match.
// Whether in and out fit a base model is checked by core/model.
func (a *Adapter) Validate() error {
	if err := a.Config.Validate(); err != nil {
		return err
	}
	if len(a.Modules) == 0 {
		return fmt.Errorf("%w: no modules", ErrWeights)
	}
	r := a.Config.R
	for _, path := range a.Paths() {
		p := a.Modules[path]
		module := path[strings.LastIndexByte(path, '.')+1:]
		if !slices.Contains(a.Config.TargetModules, module) {
			return fmt.Errorf("%w: %s is not among target_modules %v", ErrWeights, path, a.Config.TargetModules)
		}
		switch {
		case p.A.Shape == nil:
			return fmt.Errorf("%w: %s has lora_B but no lora_A", ErrWeights, path)
		case p.B.Shape == nil:
			return fmt.Errorf("%w: %s has lora_A but no lora_B", ErrWeights, path)
		case len(p.A.Shape) != 2 || p.A.Shape[0] != r:
			return fmt.Errorf("%w: %s.lora_A has shape %v, want [%d, in]", ErrWeights, path, p.A.Shape, r)
		case len(p.B.Shape) != 2 || p.B.Shape[1] != r:
			return fmt.Errorf("%w: %s.lora_B has shape %v, want [out, %d]", ErrWeights, path, p.B.Shape, r)
		case len(p.A.Data) != p.A.Shape[0]*p.A.Shape[1] || len(p.B.Data) != p.B.Shape[0]*p.B.Shape[1]:
			return fmt.Errorf("%w: %s: data length does not match shape", ErrWeights, path)
		}
	}
	return nil
}

// Save writes a PEFT adapter directory (creating it if needed). Each file is
// replaced atomically.
func Save(dir string, a *Adapter) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("save adapter %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save adapter %s: %w", dir, err)
	}
	var ts []safetensors.Tensor
	for _, path := range a.Paths() {
		p := a.Modules[path]
		ts = append(ts,
			safetensors.Tensor{Name: peftPrefix + path + ".lora_A.weight", DType: safetensors.F32,
				Shape: slices.Clone(p.A.Shape), Data: safetensors.EncodeF32(p.A.Data)},
			safetensors.Tensor{Name: peftPrefix + path + ".lora_B.weight", DType: safetensors.F32,
				Shape: slices.Clone(p.B.Shape), Data: safetensors.EncodeF32(p.B.Data)})
	}
	if err := safetensors.Write(filepath.Join(dir, WeightsFileName), ts, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("save adapter %s: %w", dir, err)
	}
	cfgJSON, err := json.Marshal(a.Config)
	if err != nil {
		return fmt.Errorf("save adapter %s: %w", dir, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ConfigFileName), append(cfgJSON, '\n'), 0o644); err != nil {
		return fmt.Errorf("save adapter %s: %w", dir, err)
	}
	return nil
}

// Shape gives the [out, in] shape of the projection at a module path, as
// the base model defines it; New uses it to size A and B.
type Shape func(path string) (out, in int, ok bool)

// New returns a fresh adapter for layers 0..numLayers-1 with PEFT's
// initialisation: A uniform in ±1/√in (kaiming-uniform with a=√5, as
// nn.Linear) and B zero, so the adapted model starts equal to the base.
func New(cfg Config, numLayers int, shape Shape, seed int64) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.TargetModules = sortedUnique(cfg.TargetModules)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x2545f4914f6cdd1d))
	a := &Adapter{Config: cfg, Modules: map[string]Pair{}}
	for l := 0; l < numLayers; l++ {
		for _, m := range cfg.TargetModules {
			path := ModulePath(l, m)
			out, in, ok := shape(path)
			if !ok {
				return nil, fmt.Errorf("%w: the base model has no module %s", ErrConfig, path)
			}
			bound := 1 / math.Sqrt(float64(in))
			av := make([]float32, cfg.R*in)
			for i := range av {
				av[i] = float32((rng.Float64()*2 - 1) * bound)
			}
			a.Modules[path] = Pair{
				A: Tensor{Shape: []int{cfg.R, in}, Data: av},
				B: Tensor{Shape: []int{out, cfg.R}, Data: make([]float32, out*cfg.R)},
			}
		}
	}
	return a, nil
}
