package runtime

import (
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"github.com/toolbrain/toolbrain/sdk"
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
)

// Limits bound one plugin. The zero value means the defaults; a plugin's
// manifest sets them and toolbrain.toml may override them field by field
// (see [Limits.Override]).
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

// withDefaults fills zero fields and validates.
func (l Limits) withDefaults() (Limits, error) {
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
	switch {
	case l.MemoryPages > 65536:
		return l, fmt.Errorf("%w: memory_pages %d above the 4 GiB of wasm32", ErrBadConfig, l.MemoryPages)
	case l.Timeout < 0:
		return l, fmt.Errorf("%w: negative timeout %v", ErrBadConfig, l.Timeout)
	case l.MaxOutputBytes < 0:
		return l, fmt.Errorf("%w: negative max_output_bytes %d", ErrBadConfig, l.MaxOutputBytes)
	case l.MaxInstances < 0:
		return l, fmt.Errorf("%w: negative max_instances %d", ErrBadConfig, l.MaxInstances)
	}
	return l, nil
}

// Permissions is what a plugin may use. A manifest lists what the plugin asks
// for, the configuration what it grants; the plugin gets the intersection
// (see [Permissions.Intersect]). The zero value grants nothing.
type Permissions struct {
	// HostFunctions are permission names: sdk.PermissionTool,
	// sdk.PermissionLLM, sdk.PermissionLog, sdk.PermissionConfig.
	HostFunctions []string `toml:"host_functions" json:"host_functions,omitempty"`
	// AllowedPaths are host directories mounted read-only at the same path.
	AllowedPaths []string `toml:"allowed_paths" json:"allowed_paths,omitempty"`
	// Env names host environment variables the plugin may read.
	Env []string `toml:"env" json:"env,omitempty"`
}

// Intersect returns what both p and q allow.
func (p Permissions) Intersect(q Permissions) Permissions {
	both := func(a, b []string) []string {
		var out []string
		for _, x := range a {
			if slices.Contains(b, x) && !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
		return out
	}
	return Permissions{
		HostFunctions: both(p.HostFunctions, q.HostFunctions),
		AllowedPaths:  both(p.AllowedPaths, q.AllowedPaths),
		Env:           both(p.Env, q.Env),
	}
}

// Has reports whether the permission name is granted.
func (p Permissions) Has(name string) bool { return slices.Contains(p.HostFunctions, name) }

// Manifest is what a plugin states about itself (toolpack.toml, or given by
// the caller for a bare .wasm file).
type Manifest struct {
	Name string `toml:"name" json:"name"`
	// Version is the plugin's own version, for display.
	Version string `toml:"version" json:"version,omitempty"`
	// SDKVersion is the sdk.Version the plugin was built against; a module
	// exporting sdk.VersionFunction may leave it empty.
	SDKVersion string   `toml:"sdk_version" json:"sdk_version,omitempty"`
	Kind       sdk.Kind `toml:"kind" json:"kind,omitempty"`
	// Limits the plugin asks for.
	Limits Limits `toml:"limits" json:"limits,omitempty"`
	// Permissions the plugin asks for.
	Permissions Permissions `toml:"permissions" json:"permissions,omitempty"`
}

// PluginConfig is the user's side of one plugin in toolbrain.toml.
type PluginConfig struct {
	// Limits override the manifest's field by field.
	Limits Limits `toml:"limits"`
	// Grant is what the user allows; the plugin gets Grant ∩ its manifest.
	Grant Permissions `toml:"grant"`
	// Config holds the values the plugin reads with config_get.
	Config map[string]string `toml:"config"`
	// Trusted says the user vouches that the plugin's code terminates, so
	// it runs without wazero's termination checks: the plugin is then not
	// stopped at its Timeout (nor when the call's context is done) while it
	// runs its own code, only when it calls the host. Memory, output and
	// permission limits still hold.
	//
	// # Why
	//
	// To stop a loop, wazero leaves compiled code for Go at every loop head
	// (wazero 1.12; upstream issue 2466). Go compiles every branch to wasm
	// as a jump to its function's loop head, so a Go plugin pays that exit
	// (about 20 ns) per branch taken: reading a 2 KB trace measured 170 µs
	// guarded and 19 µs trusted, a loop of 200 000 additions 4.5 ms and
	// 0.29 ms. AssemblyScript, Rust and WAT plugins, whose loops are real
	// loops, lose about half their call time. Without the checks a
	// plugin that loops forever hangs its caller, and, since Go cannot
	// preempt compiled wasm, the whole process at its next garbage
	// collection: grant this to plugins you build or review, never to
	// downloaded ones.
	Trusted bool `toml:"trusted"`
}

// HostConfig configures a [Host]. The zero value works: no disk cache, no
// tools, no LLM, logs to slog.Default.
type HostConfig struct {
	// CacheDir keeps compiled modules on disk across processes; "" keeps
	// them in memory only.
	CacheDir string `toml:"cache_dir"`
	// CompileTimeout bounds compiling one module; 0 means
	// DefaultCompileTimeout.
	CompileTimeout time.Duration `toml:"-"`
	// Logger receives plugin log messages; nil means slog.Default().
	Logger *slog.Logger `toml:"-"`
	// Tools answers toolbrain_call_tool; nil makes that call fail.
	Tools sdk.Tool `toml:"-"`
	// LLM answers toolbrain_llm; nil makes that call fail.
	LLM sdk.LLM `toml:"-"`
}
