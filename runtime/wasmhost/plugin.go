package wasmhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/internal/typed"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/sdk"
)

// typedMethods gives Plugin the typed method of every sdk kind (Reward,
// Judge, ...) under an unexported field name.
type typedMethods = typed.Methods

// Plugin is a loaded WebAssembly plugin: a pool of instances of one compiled
// module. It is safe for concurrent use; each call runs on its own instance,
// and at most Limits.MaxInstances calls run at once (others wait).
//
// Plugin implements every sdk kind over Call (its Reward, RewardGroup,
// Judge, Advantages, CallTool and Interpret methods, promoted from an
// unexported field and so not listed by go doc): each encodes the request,
// calls the kind's function and checks the response, failing with an error
// that names the plugin and the function and wraps sdk.ErrInvalidResponse
// (or sdk.ErrInvalidScore) for a response that breaks its kind's
// invariants. RewardGroup calls reward once per trace when the plugin
// exports no reward_group.
type Plugin struct {
	typedMethods // Reward, Judge, ... over Call

	host       *Host
	rt         wazero.Runtime // h.rt, or h.trustedRT for a trusted plugin
	trusted    bool
	name       string
	kind       sdk.Kind
	sdkVersion string
	compiled   wazero.CompiledModule
	limits     limits.Limits
	perms      contract.Permissions
	config     map[string]string
	exports    map[string]bool

	vars varStore // the pooled instances' vars (each Instance has its own)

	sem    chan struct{}
	mu     sync.Mutex
	idle   []*instance
	closed bool
}

// Compile-time checks: a WASM plugin serves every kind.
var (
	_ sdk.Reward      = (*Plugin)(nil)
	_ sdk.GroupReward = (*Plugin)(nil)
	_ sdk.Judge       = (*Plugin)(nil)
	_ sdk.Algorithm   = (*Plugin)(nil)
	_ sdk.Tool        = (*Plugin)(nil)
	_ sdk.Interpreter = (*Plugin)(nil)
)

// Name is the plugin's manifest name.
func (p *Plugin) Name() string { return p.name }

// SDKVersion is the SDK version the plugin was built against.
func (p *Plugin) SDKVersion() string { return p.sdkVersion }

// Limits are the effective limits.
func (p *Plugin) Limits() limits.Limits { return p.limits }

// Permissions are the effective permissions.
func (p *Plugin) Permissions() contract.Permissions { return p.perms }

// Exports reports whether the module exports function name.
func (p *Plugin) Exports(name string) bool { return p.exports[name] }

// Close releases the idle instances; later calls fail with ErrClosed. Calls in
// flight go on and release their instances when they end. Close returns
// ctx.Err() when ctx is done before the instances are released, leaving that
// to finish in the background.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	if len(idle) == 0 {
		return nil
	}
	done := make(chan struct{})
	go func() {
		for _, in := range idle {
			in.close()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Call runs an exported function with input and returns its output. The
// call stops at the plugin's timeout or when ctx is done, whichever comes
// first (the error is then ErrTimeout, or ctx.Err(), wrapped). Errors name the
// plugin and the function; a call that fails with a trap or a broken limit
// discards its instance, and the plugin goes on serving with fresh ones.
//
// A panic inside wazero during the call is recovered and returned as an
// ErrTrap naming the plugin: a plugin cannot crash its host.
func (p *Plugin) Call(ctx context.Context, function string, input []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("plugin %q: %s: %w: the WebAssembly runtime panicked: %v", p.name, function, ErrTrap, r)
		}
	}()
	out, err = p.call(ctx, function, input)
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %s: %w", p.name, function, err)
	}
	return out, nil
}

func (p *Plugin) call(ctx context.Context, function string, input []byte) ([]byte, error) {
	if !p.exports[function] {
		return nil, contract.ErrNoFunction
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.sem }()
	in, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	out, err, healthy := in.call(ctx, function, input)
	if healthy {
		p.put(in)
	} else {
		in.close()
	}
	return out, err
}

func (p *Plugin) get(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, contract.ErrClosed
	}
	if n := len(p.idle); n > 0 {
		in := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return in, nil
	}
	p.mu.Unlock()
	return p.newInstance(ctx)
}

func (p *Plugin) put(in *instance) {
	p.mu.Lock()
	if !p.closed && len(p.idle) < p.limits.MaxInstances {
		p.idle = append(p.idle, in)
		in = nil
	}
	p.mu.Unlock()
	in.close()
}

// varStore is the Extism vars (var_get/var_set) that instances share.
type varStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// instance is one module instance with its Extism kernel memory. Only one
// goroutine uses an instance at a time.
type instance struct {
	p      *Plugin
	vars   *varStore
	mod    api.Module
	k      kernel
	limits limits.Limits
	perms  contract.Permissions
	fns    map[string]api.Function
	stderr stderrBuffer

	// Per call.
	ctx     context.Context
	callErr error
	memHit  atomic.Bool
}

func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	return p.newInstanceWith(ctx, &p.vars)
}

// newInstanceWith starts an instance whose vars are vars.
func (p *Plugin) newInstanceWith(ctx context.Context, vars *varStore) (*instance, error) {
	in := &instance{
		p: p, vars: vars, limits: p.limits, perms: p.perms, fns: map[string]api.Function{},
		k: kernel{arena: make([]byte, kernelBase, 4096), blocks: map[uint64]uint64{}, limit: uint64(p.limits.MemoryPages) * 65536},
	}
	in.stderr.max = 2048
	limit := uint64(p.limits.MemoryPages) * 65536
	alloc := experimental.MemoryAllocatorFunc(func(_, _ uint64) experimental.LinearMemory {
		return &linearMemory{limit: limit, hit: &in.memHit}
	})
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: the pool holds many instances of one module
		WithStartFunctions("_initialize").
		WithStderr(&in.stderr).
		WithStdout(&in.stderr).
		// Wall time is real; monotonic time stays wazero's fake clock:
		// with the real one a Go guest's scheduler paces itself on it and
		// a 2 KB reward call took 5 ms instead of 0.8 ms (measured).
		WithSysWalltime()
	for _, dir := range p.perms.AllowedPaths {
		cfg = cfg.WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(dir, dir))
	}
	for _, name := range p.perms.Env {
		if v, ok := os.LookupEnv(name); ok {
			cfg = cfg.WithEnv(name, v)
		}
	}
	ictx := experimental.WithMemoryAllocator(context.WithValue(ctx, ctxKey{}, in), alloc)
	// Start functions run under the call timeout too: a module whose
	// initialiser loops must not hang the load.
	ictx, cancel := context.WithTimeout(ictx, p.limits.Timeout)
	defer cancel()
	in.ctx = ictx
	mod, err := p.rt.InstantiateModule(ictx, p.compiled, cfg)
	if err != nil {
		if mod != nil {
			mod.Close(ctx)
		}
		return nil, in.classify(ctx, err)
	}
	in.mod = mod
	return in, nil
}

func (in *instance) close() {
	if in != nil && in.mod != nil {
		in.mod.Close(context.Background())
	}
}

// call runs one function. healthy reports whether the instance may serve
// again: a trap or a broken limit may leave its memory inconsistent.
func (in *instance) call(ctx context.Context, function string, input []byte) (out []byte, err error, healthy bool) {
	f := in.fns[function]
	if f == nil {
		if f = in.mod.ExportedFunction(function); f == nil {
			return nil, contract.ErrNoFunction, true
		}
		in.fns[function] = f
	}
	in.k.reset()
	in.callErr = nil
	in.memHit.Store(false)
	in.stderr.reset()
	off, err := in.k.write(input)
	if err != nil {
		return nil, fmt.Errorf("input of %d bytes: %w", len(input), err), true
	}
	in.k.input, in.k.inputOff = in.k.arena[off:off+uint64(len(input))], off

	cctx, cancel := context.WithTimeout(context.WithValue(ctx, ctxKey{}, in), in.limits.Timeout)
	in.ctx = cctx
	res, err := f.Call(cctx)
	cancel()
	in.ctx = nil
	if err != nil {
		return nil, in.classify(ctx, err), false
	}
	if len(res) > 0 && uint32(res[0]) != 0 {
		msg := fmt.Sprintf("status %d", int32(res[0]))
		if b, e := in.k.bytes(in.k.errOff); e == nil && len(b) > 0 {
			msg = string(b)
		}
		return nil, fmt.Errorf("%w: %s", contract.ErrPluginFailed, msg), true
	}
	if in.k.outLen == 0 {
		return []byte{}, nil, true
	}
	return bytes.Clone(in.k.arena[in.k.outOff : in.k.outOff+in.k.outLen]), nil, true
}

// classify turns a failed wasm call into the runtime's error, most specific
// first: what a host function recorded, the memory limit, the timeout, the
// caller's cancellation, then a trap with the guest's last stderr lines.
func (in *instance) classify(ctx context.Context, err error) error {
	switch {
	case in.callErr != nil:
		return in.callErr
	case in.memHit.Load():
		return fmt.Errorf("%w: memory.grow past %d pages (%d MiB)%s", ErrMemoryLimit, in.limits.MemoryPages, in.limits.MemoryPages/16, in.stderr.suffix(in.logStderr))
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: stopped after %v", contract.ErrTimeout, in.limits.Timeout)
		case sys.ExitCodeContextCanceled:
			return ctx.Err()
		}
		return fmt.Errorf("%w: exited with code %d%s", ErrTrap, exit.ExitCode(), in.stderr.suffix(in.logStderr))
	}
	msg, _, _ := strings.Cut(err.Error(), "\n") // drop wazero's wasm stack trace
	return fmt.Errorf("%w: %s%s", ErrTrap, msg, in.stderr.suffix(in.logStderr))
}

// decodeArg reads a host-function argument block as JSON.
func (in *instance) decodeArg(off uint64, v any) {
	b, err := in.k.bytes(off)
	if err != nil {
		in.fail(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		in.fail(fmt.Errorf("%w: host function argument: %w", sdk.ErrInvalidRequest, err))
	}
}

// encodeResult writes a host-function result into kernel memory.
func (in *instance) encodeResult(v any) uint64 {
	b, err := json.Marshal(v)
	if err != nil {
		in.fail(fmt.Errorf("encode host function result: %w", err))
	}
	off, err := in.k.write(b)
	if err != nil {
		in.fail(err)
	}
	return off
}

// linearMemory backs a plugin's linear memory and refuses to grow past the
// limit, recording that it did so: how a memory-limit failure is told apart
// from any other trap.
type linearMemory struct {
	buf   []byte
	limit uint64
	hit   *atomic.Bool
}

func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.hit.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	c := min(max(size, 2*uint64(cap(m.buf))), m.limit)
	nb := make([]byte, size, c)
	copy(nb, m.buf)
	m.buf = nb
	return nb
}

func (m *linearMemory) Free() { m.buf = nil }

// stderrBuffer keeps the first max bytes a guest writes to stderr and
// counts the rest. Where a guest dies, the start is what explains it (a
// Go guest's "panic: ..." line; its goroutine dump follows), so errors
// carry the first lines and the size of the rest, and the whole kept text
// goes to the log at debug level.
type stderrBuffer struct {
	mu    sync.Mutex
	buf   []byte
	total int
	max   int
}

// stderrLines is how many lines of a guest's stderr an error carries.
const stderrLines = 4

func (t *stderrBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total += len(b)
	if room := t.max - len(t.buf); room > 0 {
		t.buf = append(t.buf, b[:min(room, len(b))]...)
	}
	return len(b), nil
}

func (t *stderrBuffer) reset() {
	t.mu.Lock()
	t.buf, t.total = t.buf[:0], 0
	t.mu.Unlock()
}

// suffix is the error's account of the guest's stderr: its first lines and
// how much more there was. log, when set, gets the whole kept text.
func (t *stderrBuffer) suffix(log func(full string)) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	full := strings.TrimSpace(string(t.buf))
	if full == "" {
		return ""
	}
	if log != nil {
		log(full)
	}
	lines := strings.SplitN(full, "\n", stderrLines+1)
	head := strings.Join(lines[:min(len(lines), stderrLines)], "\n")
	if len(head) == len(full) && t.total <= len(t.buf) {
		return "; plugin stderr: " + head
	}
	return fmt.Sprintf("; plugin stderr: %s [... %d more bytes]", head, t.total-len(head))
}

// logStderr sends a failed call's stderr to the host's log at debug level.
func (in *instance) logStderr(full string) {
	if in.p == nil || in.p.host == nil || in.p.host.logger == nil {
		return
	}
	in.p.host.logger.Debug("plugin stderr", "plugin", in.p.name, "stderr", full)
}
