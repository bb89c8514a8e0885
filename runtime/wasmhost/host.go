package wasmhost

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"golang.org/x/sync/singleflight"

	"github.com/toolbrain/toolbrain/internal/capread"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/internal/typed"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/sdk"
)

// Host runs WebAssembly plugins. It is safe for concurrent use.
type Host struct {
	cfg    HostConfig
	logger *slog.Logger
	// assumed holds the names of plugins loaded without a stated SDK
	// version, so the warning is given once each.
	assumed sync.Map
	rt      wazero.Runtime
	cache   wazero.CompilationCache

	mu sync.Mutex
	// trustedRT runs trusted plugins (PluginConfig.Trusted): compiled
	// without wazero's termination checks. Started on first use.
	trustedRT wazero.Runtime
	compiled  map[compileKey]compiledModule
	closed    bool

	// flight makes concurrent compiles of one module wait for one compile.
	flight singleflight.Group
}

// compileKey names a compiled module: a module compiled for one runtime
// cannot be instantiated in the other.
type compileKey struct {
	sum     [32]byte
	trusted bool
}

// NewHost starts a wazero runtime with the Extism host functions and, when
// cfg.CacheDir is set, a compilation cache in that directory (created if
// missing). Cancelling ctx affects only this call.
func NewHost(ctx context.Context, cfg HostConfig) (*Host, error) {
	h := &Host{cfg: cfg, logger: cfg.Logger, compiled: map[compileKey]compiledModule{}}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("create wasm cache %s: %w", cfg.CacheDir, err)
		}
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("open wasm cache %s: %w", cfg.CacheDir, err)
		}
		h.cache = cache
	}
	// CloseOnContextDone is what stops a plugin that loops forever: wazero
	// then checks, at every loop head, whether the call's context is done.
	rt, err := h.newRuntime(ctx, true)
	if err != nil {
		if h.cache != nil {
			h.cache.Close(ctx)
		}
		return nil, err
	}
	h.rt = rt
	return h, nil
}

// newRuntime starts a wazero runtime with WASI and the host modules, sharing
// h's compilation cache.
func (h *Host) newRuntime(ctx context.Context, terminate bool) (wazero.Runtime, error) {
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(terminate)
	if h.cache != nil {
		rc = rc.WithCompilationCache(h.cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate wasi: %w", err)
	}
	if err := defineHostModules(ctx, h, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return rt, nil
}

// runtimeFor returns the runtime that runs trusted or guarded plugins; h.mu
// must be held.
func (h *Host) runtimeFor(ctx context.Context, trusted bool) (wazero.Runtime, error) {
	if !trusted {
		return h.rt, nil
	}
	if h.trustedRT == nil {
		rt, err := h.newRuntime(ctx, false)
		if err != nil {
			return nil, err
		}
		h.trustedRT = rt
	}
	return h.trustedRT, nil
}

// Close closes every plugin loaded by h and releases the runtime. Calls in
// flight fail with ErrClosed or a closed-module trap.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	trusted := h.trustedRT
	h.mu.Unlock()
	err := h.rt.Close(ctx)
	if trusted != nil {
		err = errors.Join(err, trusted.Close(ctx))
	}
	if h.cache != nil {
		err = errors.Join(err, h.cache.Close(ctx))
	}
	return err
}

// compiledModule is a compiled module with what the scan of its binary found.
type compiledModule struct {
	wazero.CompiledModule
	// minPages is the largest initial size of its memories, exported or
	// not, imported or defined.
	minPages uint64
}

// compile returns the compiled module for wasm, compiling (and scanning) it
// at most once per host (and, with a cache directory, compiling it once per
// machine). h.mu is held only to read and change the host's state, not while
// compiling: concurrent loads of one module wait for a single compile, loads
// of others go ahead. A caller whose ctx ends stops waiting; the compile
// goes on for the others (bounded by the compile timeout).
func (h *Host) compile(ctx context.Context, wasm []byte, trusted bool) (wazero.Runtime, compiledModule, error) {
	key := compileKey{sum: sha256.Sum256(wasm), trusted: trusted}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, compiledModule{}, contract.ErrClosed
	}
	rt, err := h.runtimeFor(ctx, trusted)
	if err != nil {
		h.mu.Unlock()
		return nil, compiledModule{}, err
	}
	c, ok := h.compiled[key]
	h.mu.Unlock()
	if ok {
		return rt, c, nil
	}
	flight := fmt.Sprintf("%x/%t", key.sum, key.trusted)
	ch := h.flight.DoChan(flight, func() (any, error) {
		return h.compileNew(context.WithoutCancel(ctx), rt, wasm, key)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, compiledModule{}, r.Err
		}
		return rt, r.Val.(compiledModule), nil
	case <-ctx.Done():
		return nil, compiledModule{}, ctx.Err()
	}
}

// testHookCompile, when set (by tests only), runs in compileNew just before
// the compile: a test holds a compile open there, at any machine speed.
var testHookCompile func(wasm []byte)

// compileNew compiles wasm on rt and records it under key; it runs once per
// key at a time (h.flight), without h.mu.
func (h *Host) compileNew(ctx context.Context, rt wazero.Runtime, wasm []byte, key compileKey) (compiledModule, error) {
	h.mu.Lock()
	c, ok := h.compiled[key] // compiled by a flight that ended just now
	h.mu.Unlock()
	if ok {
		return c, nil
	}
	mins, err := preflight(wasm)
	if err != nil {
		return compiledModule{}, err
	}
	if testHookCompile != nil {
		testHookCompile(wasm)
	}
	m, err := compileWithin(ctx, rt, wasm, h.compileTimeout())
	if err != nil && h.cache != nil && isCacheError(err) {
		// A damaged cache file would fail every later run: drop it and
		// compile again, which writes a good one.
		path, derr := h.discardCacheEntry(ctx, wasm, key.trusted)
		if derr != nil {
			return compiledModule{}, fmt.Errorf("compilation cache %s: %w (and it could not be discarded: %w)", h.cfg.CacheDir, err, derr)
		}
		h.logger.Warn("discarded a damaged compilation cache entry; recompiling", "path", path, "err", err)
		if m, err = compileWithin(ctx, rt, wasm, h.compileTimeout()); err != nil {
			return compiledModule{}, fmt.Errorf("compilation cache %s: %w", path, err)
		}
	}
	if err != nil {
		return compiledModule{}, fmt.Errorf("%w: %w", ErrBadModule, err)
	}
	cm := compiledModule{CompiledModule: m, minPages: minPages(m, mins)}
	h.mu.Lock()
	h.compiled[key] = cm
	h.mu.Unlock()
	return cm, nil
}

// LoadFile reads a .wasm file and loads it (see [Host.Load]).
func (h *Host) LoadFile(ctx context.Context, path string, m contract.Manifest, cfg contract.PluginConfig) (*Plugin, error) {
	wasm, err := capread.File(path, MaxModuleBytes)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	p, err := h.Load(ctx, wasm, m, cfg)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return p, nil
}

// Load compiles wasm (or takes it from the cache), checks that it imports
// only functions this host offers and fits its memory limit, negotiates its
// SDK version, checks that it exports its kind's function, and returns the
// plugin with one warm instance. m.Name is required; the effective limits are
// m.Limits overridden by cfg.Limits, the effective permissions m.Permissions
// ∩ cfg.Grant.
//
// A panic inside wazero while loading (a module it should have refused) is
// recovered and returned as an ErrBadModule naming the plugin: no input
// reaches a panic of the caller.
func (h *Host) Load(ctx context.Context, wasm []byte, m contract.Manifest, cfg contract.PluginConfig) (p *Plugin, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("plugin %q: %w: the WebAssembly runtime panicked: %v", m.Name, ErrBadModule, r)
		}
	}()
	if m.Name == "" {
		return nil, fmt.Errorf("%w: manifest has no name", contract.ErrBadConfig)
	}
	if m.Kind != "" && !m.Kind.Valid() {
		return nil, fmt.Errorf("plugin %q: %w: unknown kind %q", m.Name, contract.ErrBadConfig, m.Kind)
	}
	limits, err := m.Limits.Override(cfg.Limits).WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %w: %w", m.Name, contract.ErrBadConfig, err)
	}
	rt, compiled, err := h.compile(ctx, wasm, cfg.Trusted)
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %w", m.Name, err)
	}
	for _, f := range compiled.ImportedFunctions() {
		if err := knownImport(f); err != nil {
			return nil, fmt.Errorf("plugin %q: %w", m.Name, err)
		}
	}
	if compiled.minPages > uint64(limits.MemoryPages) {
		return nil, fmt.Errorf("plugin %q: %w: module needs %d pages at start, limit %d", m.Name, ErrMemoryLimit, compiled.minPages, limits.MemoryPages)
	}
	p = &Plugin{
		host: h, rt: rt, trusted: cfg.Trusted, name: m.Name, kind: m.Kind, compiled: compiled.CompiledModule, limits: limits,
		perms:   m.Permissions.Intersect(cfg.Grant),
		config:  cfg.Config,
		vars:    varStore{m: map[string][]byte{}},
		exports: map[string]bool{},
		sem:     make(chan struct{}, limits.MaxInstances),
	}
	for name := range compiled.ExportedFunctions() {
		p.exports[name] = true
	}
	p.typedMethods = typed.New(p.Call, p.Exports, func(function string, err error) error {
		return fmt.Errorf("plugin %q: %s: %w", p.name, function, err)
	})
	if m.Kind != "" && !p.exports[m.Kind.Function()] {
		return nil, fmt.Errorf("plugin %q: %w %q, which a %s plugin must", m.Name, contract.ErrNoFunction, m.Kind.Function(), m.Kind)
	}
	// Instantiate once now: a module that cannot start should fail at load,
	// not on the first reward of a training run.
	in, err := p.newInstance(ctx)
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %w", m.Name, err)
	}
	version := m.SDKVersion
	if p.exports[sdk.VersionFunction] {
		out, err, healthy := in.call(ctx, sdk.VersionFunction, nil)
		if err != nil {
			in.close()
			return nil, fmt.Errorf("plugin %q: %s: %w", m.Name, sdk.VersionFunction, err)
		}
		version = string(out)
		if !healthy {
			in.close()
			in = nil
		}
	}
	if version == "" {
		// A plugin built with an upstream Extism PDK and no ToolBrain
		// manifest states no version: the common case for rewards written
		// in other languages. It is loaded as written for this SDK, and
		// the assumption is said once per plugin name.
		version = sdk.Version
		if _, said := h.assumed.LoadOrStore(m.Name, true); !said {
			h.logger.Warn("plugin states no SDK version; assuming the current one (set sdk_version in its manifest, or export "+sdk.VersionFunction+")",
				"plugin", m.Name, "sdk_version", sdk.Version)
		}
	}
	if err := sdk.Negotiate(sdk.Version, version); err != nil {
		in.close()
		return nil, fmt.Errorf("plugin %q: %w", m.Name, err)
	}
	p.sdkVersion = version
	if in != nil {
		p.idle = append(p.idle, in)
	}
	return p, nil
}

func (h *Host) compileTimeout() time.Duration {
	if h.cfg.CompileTimeout > 0 {
		return h.cfg.CompileTimeout
	}
	return limits.DefaultCompileTimeout
}

// compileWithin compiles wasm on rt, giving up after limit (see
// DefaultCompileTimeout) or when ctx is done. An abandoned compile goes on
// in the background and its result is closed when it ends. A panic inside
// wazero is returned as an ErrBadModule error: it happens on another
// goroutine, where the callers' recover cannot see it.
func compileWithin(ctx context.Context, rt wazero.Runtime, wasm []byte, limit time.Duration) (wazero.CompiledModule, error) {
	type result struct {
		c   wazero.CompiledModule
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("%w: the WebAssembly runtime panicked: %v", ErrBadModule, r)}
			}
		}()
		c, err := rt.CompileModule(context.WithoutCancel(ctx), wasm)
		done <- result{c, err}
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	var err error
	select {
	case r := <-done:
		return r.c, r.err
	case <-timer.C:
		err = fmt.Errorf("%w: compiling took longer than %v (deeply nested code?)", ErrBadModule, limit)
	case <-ctx.Done():
		err = ctx.Err()
	}
	go func() {
		if r := <-done; r.c != nil {
			r.c.Close(context.Background())
		}
	}()
	return nil, err
}

// isCacheError reports whether a compile failed reading the disk cache
// (wazero prefixes those errors so) rather than on the module.
func isCacheError(err error) bool {
	return strings.Contains(err.Error(), "compilationcache")
}

// discardCacheEntry removes wasm's entry from the cache directory and returns
// its path. wazero names entries by a key it does not expose (the module's
// hash, the runtime's settings and the CPU's features), so the module is
// compiled once more into an empty scratch cache with the same settings, and
// the file that appears there names the entry to drop.
func (h *Host) discardCacheEntry(ctx context.Context, wasm []byte, trusted bool) (string, error) {
	scratch, err := os.MkdirTemp("", "toolbrain-wasm-cache-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	cache, err := wazero.NewCompilationCacheWithDir(scratch)
	if err != nil {
		return "", err
	}
	defer cache.Close(ctx)
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(!trusted).WithCompilationCache(cache))
	defer rt.Close(ctx)
	if _, err := compileWithin(ctx, rt, wasm, h.compileTimeout()); err != nil {
		return "", err
	}
	var found string
	err = filepath.WalkDir(scratch, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(scratch, p)
		if err != nil {
			return err
		}
		target := filepath.Join(h.cfg.CacheDir, rel)
		if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		found = target
		return nil
	})
	if err == nil && found == "" {
		err = errors.New("no cache entry found for the module")
	}
	return found, err
}
