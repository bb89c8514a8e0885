package wasmhost

import (
	"context"
	"fmt"
	"sync"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/internal/typed"
)

// Instance is one instance of a plugin's module reserved for one holder (a
// CodeAct episode): every call runs on it, so what the module keeps in its
// memory between calls (an interpreter's globals) carries from one call to
// the next, and no other holder's calls run on it. It has its own Extism
// vars. Like [Plugin] it implements every sdk kind over Call.
//
// An Instance is outside its plugin's pool: it does not count towards
// Limits.MaxInstances, Plugin.Close does not close it, and its holder
// closes it. Its calls are serialised. A call that traps, times out, breaks
// a limit or is cancelled closes it (Healthy then reports false) and every
// later call fails with contract.ErrClosed: its memory may be inconsistent.
type Instance struct {
	typedMethods // Reward, Interpret, ... over Call

	p  *Plugin
	mu sync.Mutex
	in *instance // nil once closed
}

// NewInstance starts a fresh instance of the plugin's compiled module for
// one holder: no compile, no hashing of the module, no version check (Load
// did those). Cancelling ctx stops the start.
func (p *Plugin) NewInstance(ctx context.Context) (*Instance, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("plugin %q: %w", p.name, contract.ErrClosed)
	}
	in, err := p.newInstanceWith(ctx, &varStore{m: map[string][]byte{}})
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %w", p.name, err)
	}
	i := &Instance{p: p, in: in}
	i.typedMethods = typed.New(i.Call, p.Exports, func(function string, err error) error {
		return fmt.Errorf("plugin %q: %s: %w", p.name, function, err)
	})
	return i, nil
}

// Call runs an exported function on this instance, as [Plugin.Call] does on
// a pooled one: the plugin's timeout applies, errors name the plugin and
// the function, and a panic inside wazero is returned as an ErrTrap. A
// call that leaves the instance unusable closes it.
func (i *Instance) Call(ctx context.Context, function string, input []byte) (out []byte, err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			i.closeLocked()
			out, err = nil, fmt.Errorf("plugin %q: %s: %w: the WebAssembly runtime panicked: %v", i.p.name, function, ErrTrap, r)
		}
	}()
	switch {
	case i.in == nil:
		return nil, fmt.Errorf("plugin %q: %s: %w", i.p.name, function, contract.ErrClosed)
	case !i.p.exports[function]:
		return nil, fmt.Errorf("plugin %q: %s: %w", i.p.name, function, contract.ErrNoFunction)
	}
	out, err, healthy := i.in.call(ctx, function, input)
	if !healthy {
		i.closeLocked()
	}
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %s: %w", i.p.name, function, err)
	}
	return out, nil
}

// Healthy reports whether the instance can still serve calls: it is not
// closed, by its holder or by a call that failed it.
func (i *Instance) Healthy() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.in != nil
}

// MemoryBytes is the size of the instance's linear memory now (it only
// grows), 0 once closed or for a module without memory.
func (i *Instance) MemoryBytes() uint64 {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.in == nil {
		return 0
	}
	if m := i.in.mod.Memory(); m != nil {
		return uint64(m.Size())
	}
	return 0
}

// Close releases the instance; later calls fail with contract.ErrClosed. It
// waits for a call in flight: cancel that call's context to stop it.
func (i *Instance) Close() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.closeLocked()
}

func (i *Instance) closeLocked() {
	i.in.close()
	i.in = nil
}
