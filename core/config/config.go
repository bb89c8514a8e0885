// Package config loads toolbrain.toml.
//
// Decoding is strict: an unknown key, a value of the wrong type or a value out
// of range is an error that names the file, the key and its line. Every key
// is optional; Default holds the value of each one, and the embedded
// default.toml documents them (it is the toolbrain.toml at the repository
// root, kept identical by a test).
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/toolbrain/toolbrain/internal/capread"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/runtime/mcp"
	"github.com/toolbrain/toolbrain/sdk"
)

// DefaultTOML is the documented default configuration, embedded in the binary.
//
//go:embed default.toml
var DefaultTOML string

// ErrInvalid wraps every validation error (unknown key, type, range).
var ErrInvalid = errors.New("config: invalid")

// Config is the whole toolbrain.toml.
type Config struct {
	Core     Core     `toml:"core"`
	Generate Generate `toml:"generate"`
	Hub      Hub      `toml:"hub"`
	Plugins  Plugins  `toml:"plugins"`
	// Rewards score each trace; the trace's reward is their weighted sum.
	Rewards []Reward `toml:"rewards"`
	// Algorithm turns a group's rewards into advantages or DPO pairs.
	Algorithm Algorithm `toml:"algorithm"`
	// Judge is the LLM that plugins ask through toolbrain_llm.
	Judge Judge `toml:"judge"`
	// Train configures `toolbrain train` (and the athlete of `eval`).
	Train Train `toml:"train"`
	// Sandbox bounds the CodeAct athlete's code.
	Sandbox Sandbox `toml:"sandbox"`
	// Retrieval gives each task only the tools it needs.
	Retrieval Retrieval `toml:"retrieval"`
	// MCP are the MCP servers whose granted tools the athlete may call,
	// beside the packs' ([[mcp]] entries).
	MCP []mcp.Config `toml:"mcp"`
}

// MCPServer returns the [[mcp]] entry named name.
func (c Config) MCPServer(name string) (mcp.Config, error) {
	names := make([]string, len(c.MCP))
	for i, m := range c.MCP {
		if m.Name == name {
			return m, nil
		}
		names[i] = m.Name
	}
	if len(names) == 0 {
		return mcp.Config{}, fmt.Errorf("config: no [[mcp]] server named %q (the configuration has none)", name)
	}
	return mcp.Config{}, fmt.Errorf("config: no [[mcp]] server named %q (servers: %s)", name, strings.Join(names, ", "))
}

// Train is the [train] table: what `toolbrain train` runs.
type Train struct {
	// Method is grpo (advantages from [algorithm]), dpo (pairs from each
	// group; [algorithm] name = "dpo") or sft (rejection sampling).
	Method string `toml:"method"`
	// Athlete is codeact or tool_calling.
	Athlete string `toml:"athlete"`
	// System is the athlete's system prompt; "" is the athlete's default
	// (for CodeAct, the tools listed as Python functions).
	System string `toml:"system"`
	// Packs are the tool packs (directories or .tar.gz) the athlete uses.
	Packs []string `toml:"packs"`
	// PackConfig holds the configuration values of each pack, by pack
	// name ([train.pack_config.email] corpus = "data/email").
	PackConfig map[string]map[string]string `toml:"pack_config"`
	// Tasks are training task files (JSONL); EvalTasks the held-out ones.
	Tasks     []string `toml:"tasks"`
	EvalTasks string   `toml:"eval_tasks"`
	// Out is the run directory.
	Out string `toml:"out"`

	GroupSize    int     `toml:"group_size"`
	TasksPerStep int     `toml:"tasks_per_step"`
	Steps        int     `toml:"steps"`
	Epochs       float64 `toml:"epochs"`
	Seed         int64   `toml:"seed"`

	LR          float64 `toml:"lr"`
	Schedule    string  `toml:"schedule"`
	WarmupSteps int     `toml:"warmup_steps"`
	WeightDecay float64 `toml:"weight_decay"`
	MaxGradNorm float64 `toml:"max_grad_norm"`
	KLCoef      float64 `toml:"kl_coef"`
	ClipEpsilon float64 `toml:"clip_epsilon"`
	DPOBeta     float64 `toml:"dpo_beta"`
	DPOMargin   float64 `toml:"dpo_margin"`
	// SFTMinReward is the reward a trace needs to be trained on by sft.
	SFTMinReward float64 `toml:"sft_min_reward"`

	LoRAR       int      `toml:"lora_r"`
	LoRAAlpha   float64  `toml:"lora_alpha"`
	LoRATargets []string `toml:"lora_targets"`

	EvalInterval       int `toml:"eval_interval"`
	CheckpointInterval int `toml:"checkpoint_interval"`
	// SuccessThreshold is the reward at which an episode is a success.
	SuccessThreshold float64 `toml:"success_threshold"`
	// FallbackScore is what a reward or judge that fails gives a trace.
	FallbackScore float64 `toml:"fallback_score"`

	MaxTurns     int     `toml:"max_turns"`
	MaxNewTokens int     `toml:"max_new_tokens"`
	MaxLen       int     `toml:"max_len"`
	Temperature  float64 `toml:"temperature"`
	TopP         float64 `toml:"top_p"`
	TopK         int     `toml:"top_k"`
	// RolloutBatch caps the episodes decoded together.
	RolloutBatch int `toml:"rollout_batch"`
	// MicroBatch is the rows of one forward/backward pass of an update
	// (0 = the whole batch).
	MicroBatch int `toml:"micro_batch"`
}

// Retrieval is the [retrieval] table: per-task tool selection. When
// enabled, each task's episodes see only the K tools of the athlete's
// library (packs and [[mcp]] servers) that best fit its prompt.
type Retrieval struct {
	Enabled bool `toml:"enabled"`
	// K is how many tools a task gets.
	K int `toml:"k"`
	// Method is "bm25" or "fused" (BM25 and dense embeddings, by rank).
	Method string `toml:"method"`
	// Embedder is the dense side of "fused": "model" (the loaded model's
	// mean-pooled hidden states; tools are embedded once, at Open, and
	// tasks by the model as training changes its adapter) or a checkpoint
	// directory or id, which stays fixed.
	Embedder string `toml:"embedder"`
	// Rerank reorders the candidates with the [judge] model.
	Rerank bool `toml:"rerank"`
}

// Sandbox is the [sandbox] table: the limits of model-written code.
type Sandbox struct {
	MaxSteps       int64         `toml:"max_steps"`
	Timeout        time.Duration `toml:"timeout"`
	MemoryPages    uint32        `toml:"memory_pages"`
	MaxOutputBytes int           `toml:"max_output_bytes"`
	MaxToolCalls   int           `toml:"max_tool_calls"`
}

// Judge is the [judge] table: the coach's judge model, which answers the
// toolbrain_llm calls of plugins granted "llm" (an LLM judge written as a
// plugin asks it to rank a group's traces). It is an OpenAI-compatible
// endpoint (Endpoint and Model) or a local checkpoint (Checkpoint), or
// neither, in which case toolbrain_llm fails with a message saying so.
type Judge struct {
	// Endpoint is the base URL of an OpenAI-compatible API, such as
	// "http://localhost:8000/v1" (vLLM, llama.cpp, Ollama, OpenAI).
	Endpoint string `toml:"endpoint"`
	// Model is the model name the endpoint serves (required with Endpoint).
	Model string `toml:"model"`
	// APIKeyEnv names the environment variable holding the endpoint's API
	// key; the key itself never goes in the file. Unset or empty: no key.
	APIKeyEnv string `toml:"api_key_env"`
	// Checkpoint is a local model (directory or Hugging Face id) that
	// answers in-process, for when there is no endpoint.
	Checkpoint string `toml:"checkpoint"`
	// Timeout bounds one request attempt (0 = 60s); failed attempts are
	// retried twice.
	Timeout time.Duration `toml:"timeout"`
	// MaxTokens is the answer length when a request sets none (0 = 256).
	MaxTokens int `toml:"max_tokens"`
	// CallTimeout bounds one call of a judge reward on a group, or on a
	// trace for correctness_judge, with all its requests and retries; past
	// it the traces get train.fallback_score, counted as judge timeouts.
	// 0 = no bound beyond Timeout per attempt (and a plugin's own limit).
	CallTimeout time.Duration `toml:"call_timeout"`
}

// The built-in judge rewards, [[rewards]] names that ask the [judge] model
// in process (plugins/judge): they take a rubric and [rewards.config]
// max_tokens and max_prompt_chars.
const (
	// RankingJudge ranks a group best to worst; scores from 1 to 0.
	RankingJudge = "ranking_judge"
	// RelativeJudge scores a group 0 to 1 against each other in one
	// request (ART's RULER).
	RelativeJudge = "relative_judge"
	// CorrectnessJudge asks, trace by trace, whether the final answer
	// matches the task's expected answer: 1 or 0 (ART·E's judge).
	CorrectnessJudge = "correctness_judge"
)

// IsJudgeReward reports whether name is a built-in judge reward.
func IsJudgeReward(name string) bool {
	return name == RankingJudge || name == RelativeJudge || name == CorrectnessJudge
}

// Configured reports whether a judge model is set.
func (j Judge) Configured() bool { return j.Endpoint != "" || j.Checkpoint != "" }

// Reward is one [[rewards]] entry: a built-in reward by name
// (exact_match, token_f1, tool_success, step_efficiency, bfcl) or a plugin.
type Reward struct {
	Name   string  `toml:"name"`
	Weight float64 `toml:"weight"`
	// Plugin is a WebAssembly module or go-plugin executable of kind
	// reward or judge (a judge's ranking becomes scores from 1 to 0); empty
	// means the built-in reward Name. Name then names it in the output
	// ("" = the file's base name).
	Plugin string `toml:"plugin"`
	// MaxTurns configures step_efficiency; Normalize, exact_match.
	MaxTurns  int  `toml:"max_turns"`
	Normalize bool `toml:"normalize"`
	// Manifest is the manifest.toml of a bare .wasm plugin: its kind,
	// limits and the host functions it asks for.
	Manifest string `toml:"manifest"`
	// Grant lists the host functions the plugin may call (tool, llm, log,
	// config), where its manifest asks for them; llm is answered by [judge].
	Grant []string `toml:"grant"`
	// Rubric is given to a judge (plugin or built-in) with every group.
	Rubric string `toml:"rubric"`
	// Config holds the values the plugin reads (config_get, or a go-plugin's
	// Configure), or a built-in judge's max_tokens and max_prompt_chars.
	Config map[string]string `toml:"config"`
}

// Algorithm is the [algorithm] table (plugins/algorithms.Config).
type Algorithm struct {
	// Name is grpo, dr_grpo, rloo, reinforce_pp_baseline or dpo.
	Name string `toml:"name"`
	// ScaleRewards is GRPO's std scaling: group, batch or none.
	ScaleRewards        string  `toml:"scale_rewards"`
	Epsilon             float64 `toml:"epsilon"`
	NormalizeAdvantages bool    `toml:"normalize_advantages"`
	// Plugin is an algorithm plugin (a .wasm module or go-plugin
	// executable) used instead of the built-in Name; Manifest, Grant and
	// Config are as for a reward plugin.
	Plugin   string            `toml:"plugin"`
	Manifest string            `toml:"manifest"`
	Grant    []string          `toml:"grant"`
	Config   map[string]string `toml:"config"`
}

// Plugins configures the plugin runtime and where tool packs live.
type Plugins struct {
	// PackDir is where `toolbrain pack install` puts packs ("" =
	// $XDG_DATA_HOME/toolbrain/packs, else ~/.local/share/toolbrain/packs).
	PackDir string `toml:"pack_dir"`
	// CacheDir holds compiled WebAssembly modules ("" = the user cache
	// directory's toolbrain/wasm).
	CacheDir string `toml:"cache_dir"`
	// Limits override a plugin manifest's limits where set (non-zero);
	// where neither sets one, the runtime's default applies.
	Limits limits.Limits `toml:"limits"`
}

// Core selects the compute backend and the model.
type Core struct {
	// Backend is "go" (pure Go), "cpu" (ToolBrain's SIMD CPU backend) or
	// "xla[:plugin]"; see core/backend.
	Backend string `toml:"backend"`
	// Model is a checkpoint directory or a Hugging Face id. Empty means the
	// tiny random model that `toolbrain run` creates.
	Model string `toml:"model"`
	// Adapter is an optional PEFT LoRA adapter directory.
	Adapter string `toml:"adapter"`
	// Quant quantizes linear weights at load: "", "int8" or "nf4".
	Quant string `toml:"quant"`
}

// Generate holds the decoding defaults.
type Generate struct {
	MaxNewTokens int      `toml:"max_new_tokens"`
	Temperature  float64  `toml:"temperature"`
	TopP         float64  `toml:"top_p"`
	TopK         int      `toml:"top_k"`
	Seed         int64    `toml:"seed"`
	Stop         []string `toml:"stop"`
	Prompt       string   `toml:"prompt"`
	Chat         bool     `toml:"chat"`
}

// Hub says where Hugging Face models are cached and fetched from.
type Hub struct {
	// CacheDir overrides $HF_HUB_CACHE / $HF_HOME/hub / ~/.cache/huggingface/hub.
	CacheDir string `toml:"cache_dir"`
	// Endpoint overrides $HF_ENDPOINT / https://huggingface.co.
	Endpoint string `toml:"endpoint"`
}

// Default returns the configuration used when no file sets a key.
func Default() Config {
	return Config{
		Core:      Core{Backend: "cpu"},
		Rewards:   []Reward{{Name: "exact_match", Weight: 1}},
		Algorithm: Algorithm{Name: "grpo", Grant: []string{}},
		Judge:     Judge{APIKeyEnv: "OPENAI_API_KEY"},
		Retrieval: Retrieval{K: 8, Method: "bm25", Embedder: "model"},
		Train: Train{
			Method: "grpo", Athlete: "codeact", Out: "runs/train", Packs: []string{}, Tasks: []string{},
			GroupSize: 4, TasksPerStep: 2, Epochs: 1, Seed: 1,
			LR: 1e-4, Schedule: "constant", MaxGradNorm: 1, KLCoef: 0.04, ClipEpsilon: 0.2, DPOBeta: 0.1,
			SFTMinReward: 1, LoRAR: 8, LoRAAlpha: 16, LoRATargets: []string{"q_proj", "v_proj"},
			CheckpointInterval: 10, SuccessThreshold: 1,
			MaxTurns: 4, MaxNewTokens: 256, MaxLen: 2048, Temperature: 1, TopP: 1, RolloutBatch: 64,
			MicroBatch: 8,
		},
		Generate: Generate{
			MaxNewTokens: 32,
			Temperature:  0.8,
			TopP:         0.95,
			TopK:         50,
			Seed:         1,
			Prompt:       "The coach said to the athlete:",
		},
	}
}

// PackDirOrDefault returns the configured pack directory or its default.
func (p Plugins) PackDirOrDefault() (string, error) {
	if p.PackDir != "" {
		return p.PackDir, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "toolbrain", "packs"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("config: plugins.pack_dir is not set and there is no home directory: %w", err)
	}
	return filepath.Join(home, ".local", "share", "toolbrain", "packs"), nil
}

// CacheDirOrDefault returns the configured module cache or its default.
func (p Plugins) CacheDirOrDefault() string {
	if p.CacheDir != "" {
		return p.CacheDir
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "toolbrain", "wasm")
	}
	return filepath.Join(os.TempDir(), "toolbrain-wasm")
}

// MaxFileBytes caps a toolbrain.toml: a full one is a few KB, rubrics
// included.
const MaxFileBytes = 4 << 20

// Load reads path over the defaults. An empty path loads the embedded default.
func Load(path string) (Config, error) {
	if path == "" {
		return Parse("toolbrain.toml (embedded)", DefaultTOML)
	}
	data, err := capread.File(path, MaxFileBytes)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, string(data))
}

// Parse decodes src (named name in errors) over the defaults and validates it.
func Parse(name, src string) (Config, error) {
	cfg := Default()
	md, err := toml.Decode(src, &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			if pe.LastKey != "" {
				return Config{}, fmt.Errorf("%w: %s:%d: %s: %s", ErrInvalid, name, pe.Position.Line, pe.LastKey, pe.Message)
			}
			return Config{}, fmt.Errorf("%w: %s:%d: %s", ErrInvalid, name, pe.Position.Line, pe.Message)
		}
		if m := typeErr.FindStringSubmatch(err.Error()); m != nil {
			return Config{}, fmt.Errorf("%w: %s:%s: %s: %s", ErrInvalid, name, m[1], m[2], m[3])
		}
		return Config{}, fmt.Errorf("%w: %s: %w", ErrInvalid, name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return Config{}, fmt.Errorf("%w: %s:%d: unknown key %q", ErrInvalid, name, keyLine(src, k), k.String())
	}
	if err := cfg.Validate(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			// fe stays in the chain for errors.As; its text is "key: msg".
			return Config{}, fmt.Errorf("%w: %s:%d: %w", ErrInvalid, name, keyLine(src, strings.Split(fe.Key, ".")), fe)
		}
		return Config{}, fmt.Errorf("%w: %s: %w", ErrInvalid, name, err)
	}
	return cfg, nil
}

// typeErr matches BurntSushi/toml's type errors, which are not ParseErrors,
// to restate them in the file:line form every other error uses.
var typeErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// FieldError is a value out of its allowed range.
type FieldError struct {
	Key string // dotted, e.g. "generate.top_p"
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// knownBackend: a backend name core/backend accepts, with or without
// options after a colon.
func knownBackend(spec string) bool {
	name, _, _ := strings.Cut(spec, ":")
	return name == "go" || name == "cpu" || name == "xla"
}

// Validate checks every range. The first problem found is returned.
func (c Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case !knownBackend(c.Core.Backend):
		return bad("core.backend", "got %q, want \"go\", \"cpu\" or \"xla[:plugin]\"", c.Core.Backend)
	case c.Core.Quant != "" && c.Core.Quant != "int8" && c.Core.Quant != "nf4":
		return bad("core.quant", "got %q, want \"\", \"int8\" or \"nf4\"", c.Core.Quant)
	case c.Generate.MaxNewTokens < 1 || c.Generate.MaxNewTokens > 1<<20:
		return bad("generate.max_new_tokens", "got %d, want 1..1048576", c.Generate.MaxNewTokens)
	// Written as !(in range) so that NaN, which fails every comparison,
	// is out of range too.
	case !(c.Generate.Temperature >= 0 && c.Generate.Temperature <= 100):
		return bad("generate.temperature", "got %g, want 0 (greedy) .. 100", c.Generate.Temperature)
	case !(c.Generate.TopP > 0 && c.Generate.TopP <= 1):
		return bad("generate.top_p", "got %g, want > 0 and <= 1", c.Generate.TopP)
	case c.Generate.TopK < 0:
		return bad("generate.top_k", "got %d, want >= 0 (0 = off)", c.Generate.TopK)
	}
	switch l := c.Plugins.Limits; {
	case l.MemoryPages > 65536:
		return bad("plugins.limits.memory_pages", "got %d, want at most 65536 (4 GiB, the wasm32 maximum)", l.MemoryPages)
	case l.Timeout < 0:
		return bad("plugins.limits.timeout", "got %v, want a positive duration such as \"2s\"", l.Timeout)
	case l.MaxOutputBytes < 0:
		return bad("plugins.limits.max_output_bytes", "got %d, want >= 0", l.MaxOutputBytes)
	case l.MaxInstances < 0:
		return bad("plugins.limits.max_instances", "got %d, want >= 0 (0 = one per CPU)", l.MaxInstances)
	}
	for i, r := range c.Rewards {
		key := fmt.Sprintf("rewards[%d]", i)
		switch {
		case r.Name == "" && r.Plugin == "":
			return bad(key+".name", "a reward needs a name (built-in) or a plugin")
		case math.IsNaN(r.Weight) || math.IsInf(r.Weight, 0):
			return bad(key+".weight", "got %v, want a finite number", r.Weight)
		case r.MaxTurns < 0:
			return bad(key+".max_turns", "got %d, want >= 0", r.MaxTurns)
		case r.Plugin == "" && (r.Manifest != "" || len(r.Grant) > 0):
			return bad(key+".plugin", "manifest and grant apply to a plugin; this entry has none")
		case r.Plugin == "" && !IsJudgeReward(r.Name) && (len(r.Config) > 0 || r.Rubric != ""):
			return bad(key+".plugin", "rubric and config apply to a plugin or a built-in judge (%s, %s, %s); %q is neither",
				RankingJudge, RelativeJudge, CorrectnessJudge, r.Name)
		case r.Plugin == "" && IsJudgeReward(r.Name) && !c.Judge.Configured():
			return bad(key+".name", "%s asks the [judge] model: set judge.endpoint (and judge.model) or judge.checkpoint", r.Name)
		}
		for _, g := range r.Grant {
			if g != sdk.PermissionTool && g != sdk.PermissionLLM && g != sdk.PermissionLog && g != sdk.PermissionConfig {
				return bad(key+".grant", "got %q, want tool, llm, log or config", g)
			}
		}
	}
	switch a := c.Algorithm; {
	case a.ScaleRewards != "" && a.ScaleRewards != "group" && a.ScaleRewards != "batch" && a.ScaleRewards != "none":
		return bad("algorithm.scale_rewards", "got %q, want group, batch or none", a.ScaleRewards)
	case !(a.Epsilon >= 0):
		return bad("algorithm.epsilon", "got %v, want >= 0", a.Epsilon)
	}
	if err := c.Train.validate(bad); err != nil {
		return err
	}
	switch sb := c.Sandbox; {
	case sb.MaxSteps < 0:
		return bad("sandbox.max_steps", "got %d, want >= 0 (0 = the sandbox default)", sb.MaxSteps)
	case sb.Timeout < 0:
		return bad("sandbox.timeout", "got %v, want a positive duration such as \"5s\"", sb.Timeout)
	case sb.MemoryPages > 65536:
		return bad("sandbox.memory_pages", "got %d, want at most 65536", sb.MemoryPages)
	case sb.MaxOutputBytes < 0:
		return bad("sandbox.max_output_bytes", "got %d, want >= 0", sb.MaxOutputBytes)
	case sb.MaxToolCalls < 0:
		return bad("sandbox.max_tool_calls", "got %d, want >= 0", sb.MaxToolCalls)
	}
	switch r := c.Retrieval; {
	case r.K < 1:
		return bad("retrieval.k", "got %d, want >= 1", r.K)
	case r.Method != "bm25" && r.Method != "fused":
		return bad("retrieval.method", "got %q, want \"bm25\" or \"fused\"", r.Method)
	case r.Method == "fused" && strings.TrimSpace(r.Embedder) == "":
		return bad("retrieval.embedder", "method \"fused\" needs an embedder: \"model\" or a checkpoint")
	case r.Enabled && r.Rerank && !c.Judge.Configured():
		return bad("retrieval.rerank", "re-ranking asks the [judge] model: set judge.endpoint or judge.checkpoint")
	}
	if a := c.Algorithm; a.Plugin == "" && (a.Manifest != "" || len(a.Grant) > 0 || len(a.Config) > 0) {
		return bad("algorithm.plugin", "manifest, grant and config apply to a plugin; [algorithm] has none")
	}
	switch j := c.Judge; {
	case j.Endpoint != "" && j.Checkpoint != "":
		return bad("judge.checkpoint", "set endpoint or checkpoint, not both")
	case j.Endpoint != "" && !strings.HasPrefix(j.Endpoint, "http://") && !strings.HasPrefix(j.Endpoint, "https://"):
		return bad("judge.endpoint", "got %q, want an http:// or https:// URL such as \"http://localhost:8000/v1\"", j.Endpoint)
	case j.Endpoint != "" && j.Model == "":
		return bad("judge.model", "the endpoint needs the name of the model it serves")
	case j.Endpoint == "" && j.Model != "":
		return bad("judge.model", "a model name needs an endpoint (for a local model set judge.checkpoint)")
	case j.Timeout < 0:
		return bad("judge.timeout", "got %v, want a positive duration such as \"60s\"", j.Timeout)
	case j.MaxTokens < 0:
		return bad("judge.max_tokens", "got %d, want >= 0 (0 = 256)", j.MaxTokens)
	case j.CallTimeout < 0:
		return bad("judge.call_timeout", "got %v, want a positive duration such as \"120s\", or \"0s\" for none", j.CallTimeout)
	}
	seen := map[string]bool{}
	for i, m := range c.MCP {
		key := fmt.Sprintf("mcp[%d]", i)
		if err := m.Validate(); err != nil {
			var ce *mcp.ConfigError
			if errors.As(err, &ce) {
				return bad(key+"."+ce.Field, "%s", ce.Msg)
			}
			return bad(key, "%v", err)
		}
		if seen[m.Name] {
			return bad(key+".name", "%q names another [[mcp]] server too", m.Name)
		}
		seen[m.Name] = true
	}
	for i, s := range c.Generate.Stop {
		if s == "" {
			return bad("generate.stop", "entry %d is empty", i)
		}
	}
	return nil
}

// keyLine finds the line where key is set in src: 1-based, 0 if not found.
// BurntSushi/toml keeps key positions private, so this scans the source for
// the table header and then the key, which covers the flat layout that
// toolbrain.toml uses. An array-of-tables element is written "rewards[1]"
// by FieldError: the second [[rewards]] header.
func keyLine(src string, key toml.Key) int {
	if len(key) == 0 {
		return 0
	}
	tableParts, leaf := key[:len(key)-1], key[len(key)-1]
	table, want := strings.Join(tableParts, "."), 0
	if open := strings.IndexByte(table, '['); open > 0 && strings.HasSuffix(table, "]") {
		if n, err := strconv.Atoi(table[open+1 : len(table)-1]); err == nil {
			table, want = table[:open], n
		}
	}
	current, seen, header := "", -1, 0
	for i, line := range strings.Split(src, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") {
			current = strings.Trim(strings.TrimSpace(strings.SplitN(l, "#", 2)[0]), "[] ")
			if current == table && strings.HasPrefix(l, "[[") {
				if seen++; seen == want {
					header = i + 1
				}
			}
			if current == strings.Join(key, ".") {
				return i + 1 // an unknown table
			}
			continue
		}
		name, _, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		name = strings.Trim(strings.TrimSpace(name), `"'`)
		if current == table && name == leaf && (seen < 0 || seen == want) {
			return i + 1
		}
		if current == "" && table != "" && name == strings.Join(key, ".") {
			return i + 1 // dotted key at the top level
		}
	}
	return header // a missing key: the header of its array element, if any
}

// validate checks the [train] table's ranges.
func (t Train) validate(bad func(key, format string, args ...any) error) error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case t.Method != "grpo" && t.Method != "dpo" && t.Method != "sft":
		return bad("train.method", "got %q, want grpo, dpo or sft", t.Method)
	case t.Athlete != "codeact" && t.Athlete != "tool_calling":
		return bad("train.athlete", "got %q, want codeact or tool_calling", t.Athlete)
	case t.GroupSize < 1 || t.GroupSize > 1024:
		return bad("train.group_size", "got %d, want 1..1024", t.GroupSize)
	case t.Method != "sft" && t.GroupSize < 2:
		return bad("train.group_size", "got %d; %s compares the episodes of a group, want at least 2", t.GroupSize, t.Method)
	case t.TasksPerStep < 1:
		return bad("train.tasks_per_step", "got %d, want >= 1", t.TasksPerStep)
	case t.Steps < 0:
		return bad("train.steps", "got %d, want >= 0 (0 = from epochs)", t.Steps)
	case !(t.Epochs > 0) || !finite(t.Epochs):
		return bad("train.epochs", "got %v, want > 0", t.Epochs)
	case !(t.LR > 0) || !finite(t.LR):
		return bad("train.lr", "got %v, want > 0", t.LR)
	case t.Schedule != "constant" && t.Schedule != "linear" && t.Schedule != "cosine":
		return bad("train.schedule", "got %q, want constant, linear or cosine", t.Schedule)
	case t.WarmupSteps < 0:
		return bad("train.warmup_steps", "got %d, want >= 0", t.WarmupSteps)
	case !(t.WeightDecay >= 0) || !finite(t.WeightDecay):
		return bad("train.weight_decay", "got %v, want >= 0", t.WeightDecay)
	case !(t.MaxGradNorm >= 0) || !finite(t.MaxGradNorm):
		return bad("train.max_grad_norm", "got %v, want >= 0 (0 = no clipping)", t.MaxGradNorm)
	case !(t.KLCoef >= 0) || !finite(t.KLCoef):
		return bad("train.kl_coef", "got %v, want >= 0", t.KLCoef)
	case !(t.ClipEpsilon > 0 && t.ClipEpsilon < 1):
		return bad("train.clip_epsilon", "got %v, want in (0, 1)", t.ClipEpsilon)
	case !(t.DPOBeta > 0) || !finite(t.DPOBeta):
		return bad("train.dpo_beta", "got %v, want > 0", t.DPOBeta)
	case !(t.DPOMargin >= 0) || !finite(t.DPOMargin):
		return bad("train.dpo_margin", "got %v, want >= 0", t.DPOMargin)
	case !finite(t.SFTMinReward):
		return bad("train.sft_min_reward", "got %v, want a finite number", t.SFTMinReward)
	case t.LoRAR < 1:
		return bad("train.lora_r", "got %d, want >= 1", t.LoRAR)
	case !(t.LoRAAlpha > 0) || !finite(t.LoRAAlpha):
		return bad("train.lora_alpha", "got %v, want > 0", t.LoRAAlpha)
	case len(t.LoRATargets) == 0:
		return bad("train.lora_targets", "want at least one projection, such as [\"q_proj\", \"v_proj\"]")
	case t.EvalInterval < 0:
		return bad("train.eval_interval", "got %d, want >= 0 (0 = before and after only)", t.EvalInterval)
	case t.CheckpointInterval < 1:
		return bad("train.checkpoint_interval", "got %d, want >= 1", t.CheckpointInterval)
	case !finite(t.SuccessThreshold):
		return bad("train.success_threshold", "got %v, want a finite number", t.SuccessThreshold)
	case !finite(t.FallbackScore):
		return bad("train.fallback_score", "got %v, want a finite number", t.FallbackScore)
	case t.MaxTurns < 1:
		return bad("train.max_turns", "got %d, want >= 1", t.MaxTurns)
	case t.MaxNewTokens < 1:
		return bad("train.max_new_tokens", "got %d, want >= 1", t.MaxNewTokens)
	case t.MaxLen < 2:
		return bad("train.max_len", "got %d, want >= 2", t.MaxLen)
	case !(t.Temperature >= 0 && t.Temperature <= 100):
		return bad("train.temperature", "got %v, want 0 (greedy) .. 100", t.Temperature)
	case !(t.TopP > 0 && t.TopP <= 1):
		return bad("train.top_p", "got %v, want > 0 and <= 1", t.TopP)
	case t.TopK < 0:
		return bad("train.top_k", "got %d, want >= 0 (0 = off)", t.TopK)
	case t.RolloutBatch < 1:
		return bad("train.rollout_batch", "got %d, want >= 1", t.RolloutBatch)
	case t.MicroBatch < 0:
		return bad("train.micro_batch", "got %d, want >= 0 (0 = the whole batch)", t.MicroBatch)
	case t.Method == "dpo" && t.MicroBatch%2 != 0:
		return bad("train.micro_batch", "got %d, want an even number for dpo (its rows are chosen/rejected pairs)", t.MicroBatch)
	}
	for i, p := range t.Packs {
		if p == "" {
			return bad("train.packs", "entry %d is empty", i)
		}
	}
	for i, p := range t.Tasks {
		if p == "" {
			return bad("train.tasks", "entry %d is empty", i)
		}
	}
	return nil
}
