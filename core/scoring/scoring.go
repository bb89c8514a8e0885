// Package scoring builds, from toolbrain.toml, what scores an athlete's
// traces: the [[rewards]] list (built-in rewards, reward plugins and LLM
// judge plugins, each weighted), the [algorithm] (built-in or a plugin),
// and the plugin host they run on, with the [judge] model answering the
// plugins' toolbrain_llm calls.
//
// The coach and `toolbrain score` both take their rewards from here, and
// see them only through the sdk interfaces: a reward loaded from a
// third-party WASM module or go-plugin process is the same to them as a
// built-in.
package scoring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/toolbrain/toolbrain/core/bfcl"
	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/plugins/algorithms"
	"github.com/toolbrain/toolbrain/plugins/judge"
	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// Host runs the plugins of a configuration: WebAssembly modules on one
// wazero host, go-plugin executables as processes, and the judge model
// that answers their toolbrain_llm calls. Close releases all of them.
type Host struct {
	WASM *wasmhost.Host
	// Judge is the [judge] model; nil when none is configured.
	Judge sdk.LLM

	cfg     config.Config
	mu      sync.Mutex
	closers []func()
}

// NewHost starts the plugin host of cfg ([plugins] cache and limits,
// [judge]). A local judge checkpoint is loaded now, so that a broken one
// fails before any plugin runs.
func NewHost(ctx context.Context, cfg config.Config) (*Host, error) {
	j, closeJudge, err := judgeModel(cfg)
	if err != nil {
		return nil, err
	}
	h := &Host{Judge: j, cfg: cfg, closers: []func(){closeJudge}}
	h.WASM, err = wasmhost.NewHost(ctx, wasmhost.HostConfig{CacheDir: cfg.Plugins.CacheDirOrDefault(), LLM: h.LLM()})
	if err != nil {
		closeJudge()
		return nil, fmt.Errorf("plugin host: %w", err)
	}
	return h, nil
}

// Close closes every plugin loaded through h, the WASM host and the
// judge model.
func (h *Host) Close(ctx context.Context) {
	h.mu.Lock()
	closers := h.closers
	h.closers = nil
	h.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	h.WASM.Close(ctx)
}

func (h *Host) onClose(f func()) {
	h.mu.Lock()
	h.closers = append(h.closers, f)
	h.mu.Unlock()
}

// LLM is the runtime's toolbrain_llm callback: the judge model, or nil.
func (h *Host) LLM() sdk.LLM {
	if h.Judge == nil {
		return nil // an untyped nil, which the hosts test for
	}
	return h.Judge
}

// judgeModel builds the [judge] model: an OpenAI-compatible endpoint or a
// local checkpoint; nil and a no-op close when none is configured.
func judgeModel(cfg config.Config) (sdk.LLM, func(), error) {
	j := cfg.Judge
	switch {
	case j.Endpoint != "":
		key := ""
		if j.APIKeyEnv != "" {
			key = os.Getenv(j.APIKeyEnv)
		}
		e, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: j.Endpoint, Model: j.Model, APIKey: key, Timeout: j.Timeout, MaxTokens: j.MaxTokens})
		if err != nil {
			return nil, func() {}, fmt.Errorf("judge.endpoint: %w", err)
		}
		return e, func() {}, nil
	case j.Checkpoint != "":
		l, err := llm.OpenLocal(llm.LocalConfig{Model: j.Checkpoint, Backend: cfg.Core.Backend, HubCacheDir: cfg.Hub.CacheDir,
			Options: llm.LocalOptions{MaxTokens: j.MaxTokens}})
		if err != nil {
			return nil, func() {}, fmt.Errorf("judge.checkpoint: %w", err)
		}
		return l, func() { l.Close() }, nil
	}
	return nil, func() {}, nil
}

// BFCLReward is the [[rewards]] name of BFCL's checker as a reward
// (bfcl.Reward) on tasks written by `toolbrain data bfcl`. It is built in
// here rather than in plugins/rewards, whose rewards depend on the sdk
// alone: the checker is core/bfcl's.
const BFCLReward = "bfcl"

// Rewards loads the [[rewards]] list of the host's configuration, each
// with its name (a plugin's is its file's base name when the entry has
// none; repeated names get #2, #3) and weight. Plugins stay open until
// the host closes. An entry that cannot load is an error naming it.
func (h *Host) Rewards(ctx context.Context) ([]coach.Reward, error) {
	var out []coach.Reward
	seen := map[string]int{}
	for i, r := range h.cfg.Rewards {
		name := r.Name
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(r.Plugin), filepath.Ext(r.Plugin))
		}
		if seen[name]++; seen[name] > 1 {
			name = fmt.Sprintf("%s#%d", name, seen[name])
		}
		c := coach.Reward{Name: name, Weight: r.Weight}
		if r.Plugin == "" && config.IsJudgeReward(r.Name) {
			var err error
			if c.Reward, c.PerTrace, err = builtinJudge(r, h.LLM()); err != nil {
				return nil, fmt.Errorf("rewards[%d]: %w", i, err)
			}
			c.Judge = true
		} else if r.Plugin == "" && r.Name == BFCLReward {
			c.Reward = rewards.PerTrace{Of: bfcl.Reward{}}
		} else if r.Plugin == "" {
			b, err := rewards.Builtin(rewards.Config{Name: r.Name, Weight: r.Weight, MaxTurns: r.MaxTurns, Normalize: r.Normalize})
			if err != nil {
				return nil, fmt.Errorf("rewards[%d]: %w", i, err)
			}
			c.Reward = rewards.PerTrace{Of: b}
		} else {
			p, kind, err := h.open(ctx, r.Plugin, r.Manifest, r.Grant, r.Config)
			if err != nil {
				return nil, fmt.Errorf("rewards[%d].plugin %s: %w", i, r.Plugin, err)
			}
			switch kind {
			case sdk.KindReward:
				if r.Rubric != "" {
					return nil, fmt.Errorf("rewards[%d].rubric: %s is a reward plugin; a rubric is for a judge", i, r.Plugin)
				}
				c.Reward = p
			case sdk.KindJudge:
				c.Reward, c.Judge = judge.GroupReward{Judge: pluginJudge{p}, Rubric: r.Rubric}, true
			default:
				return nil, fmt.Errorf("rewards[%d].plugin: %s is a %s plugin; a reward is a reward or judge plugin", i, r.Plugin, kind)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// builtinJudge is a built-in judge reward ([config.RankingJudge],
// [config.RelativeJudge], [config.CorrectnessJudge]) over the [judge]
// model, and whether the coach scores it trace by trace.
func builtinJudge(r config.Reward, model sdk.LLM) (sdk.GroupReward, bool, error) {
	if model == nil {
		return nil, false, fmt.Errorf("%s asks the [judge] model, and none is configured", r.Name)
	}
	opts, err := judge.RankerFromConfig(r.Config)
	if err != nil {
		return nil, false, fmt.Errorf("%s config: %w", r.Name, err)
	}
	switch r.Name {
	case config.RankingJudge:
		return judge.GroupReward{Judge: judge.Model{Of: opts, LLM: model}, Rubric: r.Rubric}, false, nil
	case config.RelativeJudge:
		return judge.GroupReward{Judge: judge.Model{Of: judge.Relative(opts), LLM: model}, Rubric: r.Rubric}, false, nil
	}
	c := judge.Correctness(opts)
	if r.Rubric != "" {
		c.Rubric = r.Rubric
	}
	return judge.CorrectnessReward{Correctness: c, LLM: model}, true, nil
}

// pluginJudge is a judge plugin whose time limit (contract.ErrTimeout)
// reads as a timeout to the coach, which counts judge timeouts apart.
type pluginJudge struct{ of sdk.Judge }

func (p pluginJudge) Judge(ctx context.Context, req sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	resp, err := p.of.Judge(ctx, req)
	if errors.Is(err, contract.ErrTimeout) {
		err = timeoutError{err}
	}
	return resp, err
}

// timeoutError marks err as a timeout (net.Error's Timeout method).
type timeoutError struct{ error }

func (timeoutError) Timeout() bool   { return true }
func (e timeoutError) Unwrap() error { return e.error }

// plugin is what both transports' plugins offer.
type plugin interface {
	sdk.Reward
	sdk.GroupReward
	sdk.Judge
	sdk.Algorithm
	Close(context.Context) error
}

// open starts a plugin on the transport its file calls for and says its
// kind: a process's Info, a module's manifest or, without one, what the
// module exports. It closes with the host.
func (h *Host) open(ctx context.Context, path, manifest string, grant []string, values map[string]string) (plugin, sdk.Kind, error) {
	perms := contract.Permissions{HostFunctions: grant}
	if IsExecutable(path) {
		p, err := goplugin.Open(ctx, path, goplugin.Config{Limits: h.cfg.Plugins.Limits, Grant: perms, LLM: h.LLM(), Config: values})
		if err != nil {
			return nil, "", err
		}
		h.onClose(func() { p.Close(context.Background()) })
		return p, p.Kind(), nil
	}
	m := contract.Manifest{Name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))}
	if manifest != "" {
		var err error
		if m, err = ReadManifest(manifest); err != nil {
			return nil, "", err
		}
	}
	p, err := h.WASM.LoadFile(ctx, path, m, contract.PluginConfig{Limits: h.cfg.Plugins.Limits, Grant: perms, Config: values})
	if err != nil {
		return nil, "", err
	}
	h.onClose(func() { p.Close(context.Background()) })
	kind := m.Kind
	if kind == "" {
		switch {
		case p.Exports(sdk.JudgeFunction) && !p.Exports(sdk.RewardFunction):
			kind = sdk.KindJudge
		case p.Exports(sdk.AlgorithmFunction) && !p.Exports(sdk.RewardFunction):
			kind = sdk.KindAlgorithm
		default:
			kind = sdk.KindReward
		}
	}
	return p, kind, nil
}

// Algorithm is the [algorithm]: a plugin of kind algorithm when
// algorithm.plugin is set, else the built-in algorithm.name.
func (h *Host) Algorithm(ctx context.Context) (sdk.Algorithm, error) {
	a := h.cfg.Algorithm
	if a.Plugin == "" {
		return Builtin(h.cfg)
	}
	p, kind, err := h.open(ctx, a.Plugin, a.Manifest, a.Grant, a.Config)
	if err != nil {
		return nil, fmt.Errorf("algorithm.plugin %s: %w", a.Plugin, err)
	}
	if kind != sdk.KindAlgorithm {
		return nil, fmt.Errorf("algorithm.plugin: %s is a %s plugin, not an algorithm", a.Plugin, kind)
	}
	return p, nil
}

// Builtin is the built-in algorithm named by [algorithm].
func Builtin(cfg config.Config) (sdk.Algorithm, error) {
	a := cfg.Algorithm
	alg, err := algorithms.FromConfig(algorithms.Config{Name: a.Name, ScaleRewards: algorithms.Scale(a.ScaleRewards),
		Epsilon: a.Epsilon, NormalizeAdvantages: a.NormalizeAdvantages})
	if err != nil {
		return nil, fmt.Errorf("[algorithm]: %w", err)
	}
	return alg, nil
}

// Check validates what it can of the scoring configuration without
// starting a plugin: built-in rewards and the algorithm build, plugin
// files and manifests exist and parse.
func Check(cfg config.Config) error {
	var list []rewards.Config
	for i, r := range cfg.Rewards {
		if r.Plugin == "" && config.IsJudgeReward(r.Name) {
			if _, err := judge.RankerFromConfig(r.Config); err != nil {
				return fmt.Errorf("rewards[%d] %s config: %w", i, r.Name, err)
			}
			continue
		}
		if r.Plugin != "" {
			if err := checkPluginFiles(fmt.Sprintf("rewards[%d]", i), r.Plugin, r.Manifest); err != nil {
				return err
			}
			continue
		}
		if r.Name == BFCLReward { // built in here, as in Rewards
			continue
		}
		list = append(list, rewards.Config{Name: r.Name, Weight: r.Weight, MaxTurns: r.MaxTurns, Normalize: r.Normalize})
	}
	if _, err := rewards.FromConfig(list); err != nil {
		return err
	}
	if cfg.Algorithm.Plugin != "" {
		return checkPluginFiles("algorithm", cfg.Algorithm.Plugin, cfg.Algorithm.Manifest)
	}
	_, err := Builtin(cfg)
	return err
}

func checkPluginFiles(key, path, manifest string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s.plugin: %w", key, err)
	}
	if manifest != "" {
		if _, err := ReadManifest(manifest); err != nil {
			return fmt.Errorf("%s.manifest: %w", key, err)
		}
	}
	return nil
}

// ReadManifest decodes the contract.Manifest of a bare .wasm file (the
// manifest.toml beside a plugin's source). Unknown keys are errors, as in
// toolbrain.toml.
func ReadManifest(path string) (contract.Manifest, error) {
	var m contract.Manifest
	md, err := toml.DecodeFile(path, &m)
	if err != nil {
		return m, fmt.Errorf("manifest %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return m, fmt.Errorf("manifest %s: unknown key %q", path, und[0].String())
	}
	return m, nil
}

// IsExecutable reports whether path is a regular file with an execute bit
// that is not a WebAssembly module: a go-plugin plugin.
func IsExecutable(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil {
		return false
	}
	return string(magic) != "\x00asm"
}

// ErrNoRewards is returned where a configuration scores with an empty
// [[rewards]] list.
var ErrNoRewards = errors.New("scoring: no [[rewards]] configured")
