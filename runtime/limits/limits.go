// Package limits holds the resource limits of one plugin (memory, call
// time, output size, concurrent calls) and their defaults: the part of the
// plugin contract that configuration names. It imports no engine, so that
// core/config and other configuration readers can name a plugin's limits
// without linking the WebAssembly runtime; runtime/wasmhost and runtime/goplugin
// enforce it.
package limits

import "time"

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
)

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
