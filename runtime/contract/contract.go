package contract

import (
	"slices"

	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/sdk"
)

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
	// Name identifies the plugin in errors, logs and the configuration.
	Name string `toml:"name" json:"name"`
	// Version is the plugin's own version, for display.
	Version string `toml:"version" json:"version,omitempty"`
	// SDKVersion is the sdk.Version the plugin was built against; a module
	// exporting sdk.VersionFunction may leave it empty.
	SDKVersion string `toml:"sdk_version" json:"sdk_version,omitempty"`
	// Kind is what the plugin implements; its function must be exported.
	// "" leaves the kind open (a module used through Call alone).
	Kind sdk.Kind `toml:"kind" json:"kind,omitempty"`
	// Limits the plugin asks for.
	Limits limits.Limits `toml:"limits" json:"limits,omitempty"`
	// Permissions the plugin asks for.
	Permissions Permissions `toml:"permissions" json:"permissions,omitempty"`
}

// PluginConfig is the user's side of one plugin in toolbrain.toml.
type PluginConfig struct {
	// Limits override the manifest's field by field.
	Limits limits.Limits `toml:"limits"`
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
