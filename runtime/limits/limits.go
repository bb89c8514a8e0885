// Package limits holds the resource limits of one plugin (memory, call
// time, output size, concurrent calls) and their defaults: the part of the
// plugin contract that configuration names. It imports no engine, so that
// core/config and other configuration readers can name a plugin's limits
// without linking the WebAssembly runtime; runtime/wasmhost and runtime/goplugin
// enforce it.
package limits

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Default limits, used for every zero field of [Limits].
const (
	// DefaultMemoryPages is 64 MiB of 64 KiB pages: a Go wasip1 plugin
	// starts at about 2 MiB and its runtime grows the heap in 4 MiB steps.
	DefaultMemoryPages = 1024
	// DefaultTimeout is the wall-clock limit of one call.
	DefaultTimeout = 2 * time.Second
	// DefaultMaxOutputBytes caps one call's output at 4 MiB.
	DefaultMaxOutputBytes = 4 << 20
	// DefaultCompileTimeout bounds compiling one module. wazero cannot
	// stop a compile, and its time grows with the square of a function's
	// block nesting: a 300 KB module of 100,000 nested blocks took 74 s
	// here, while the largest real plugin (a 7 MB interpreter) compiles in
	// seconds. Past the bound the load fails and the compile finishes,
	// unobserved, in the background.
	DefaultCompileTimeout = 2 * time.Minute
	// MaxMemoryPages is the most a wasm32 memory can hold: 4 GiB.
	MaxMemoryPages = 65536
)

// ErrOutOfRange means a field of [Limits] is out of range; the plugin
// hosts wrap it in contract.ErrBadConfig.
var ErrOutOfRange = errors.New("plugin limit out of range")

// Limits bound one plugin. The zero value means the defaults; a plugin's
// manifest sets them and toolbrain.toml may override them field by field
// (see [Limits.Override]). The plugin hosts check them when they load a
// plugin (a field out of range fails the load with contract.ErrBadConfig).
type Limits struct {
	// MemoryPages caps the plugin's linear memory, and separately the
	// Extism kernel memory it allocates, in 64 KiB pages.
	MemoryPages uint32 `toml:"memory_pages" json:"memory_pages,omitempty"`
	// Timeout is the wall-clock limit of one call; the instance is closed
	// when it passes.
	Timeout time.Duration `toml:"timeout" json:"timeout,omitempty"`
	// MaxOutputBytes caps what one call may output.
	MaxOutputBytes int `toml:"max_output_bytes" json:"max_output_bytes,omitempty"`
	// MaxInstances caps concurrent calls (each needs its own instance);
	// 0 means GOMAXPROCS.
	MaxInstances int `toml:"max_instances" json:"max_instances,omitempty"`
}

// Override returns l with every non-zero field of o replacing l's.
func (l Limits) Override(o Limits) Limits {
	if o.MemoryPages != 0 {
		l.MemoryPages = o.MemoryPages
	}
	if o.Timeout != 0 {
		l.Timeout = o.Timeout
	}
	if o.MaxOutputBytes != 0 {
		l.MaxOutputBytes = o.MaxOutputBytes
	}
	if o.MaxInstances != 0 {
		l.MaxInstances = o.MaxInstances
	}
	return l
}

// WithDefaults returns l checked and with every zero field set to its
// default: [DefaultMemoryPages], [DefaultTimeout], [DefaultMaxOutputBytes],
// and GOMAXPROCS instances. Both plugin hosts start from it. An error wraps
// [ErrOutOfRange] and names the field as toolbrain.toml spells it.
func (l Limits) WithDefaults() (Limits, error) {
	switch {
	case l.MemoryPages > MaxMemoryPages:
		return l, fmt.Errorf("%w: memory_pages %d above the 4 GiB (%d pages) of wasm32", ErrOutOfRange, l.MemoryPages, MaxMemoryPages)
	case l.Timeout < 0:
		return l, fmt.Errorf("%w: negative timeout %v", ErrOutOfRange, l.Timeout)
	case l.MaxOutputBytes < 0:
		return l, fmt.Errorf("%w: negative max_output_bytes %d", ErrOutOfRange, l.MaxOutputBytes)
	case l.MaxInstances < 0:
		return l, fmt.Errorf("%w: negative max_instances %d", ErrOutOfRange, l.MaxInstances)
	}
	if l.MemoryPages == 0 {
		l.MemoryPages = DefaultMemoryPages
	}
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxOutputBytes == 0 {
		l.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if l.MaxInstances == 0 {
		l.MaxInstances = runtime.GOMAXPROCS(0)
	}
	return l, nil
}
