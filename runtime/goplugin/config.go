package goplugin

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/sdk"
)

// DefaultStartTimeout bounds the start of a plugin process: until it has
// answered the handshake and Info.
const DefaultStartTimeout = 10 * time.Second

// Config configures one go-plugin process. The zero value works: the
// default limits of runtime/limits, no arguments, the host's environment, logs to
// slog.Default, no host functions.
type Config struct {
	// Args are the plugin binary's command-line arguments.
	Args []string
	// Env entries ("NAME=value") are added to the environment the process
	// inherits from the host, replacing a host variable of the same name.
	Env []string
	// Limits, field by field as in limits.Limits: Timeout is the
	// wall-clock limit of one call, MaxOutputBytes caps a call's output,
	// MaxInstances caps concurrent calls into the process (0 means
	// GOMAXPROCS). MemoryPages does not apply to a native process: it is
	// checked as for any plugin, then ignored (Plugin.Limits reports 0).
	Limits limits.Limits
	// StartTimeout bounds a (re)start of the process; 0 means
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// Config is handed to the plugin's Configure after every start (the
	// values a WebAssembly plugin reads with config_get).
	Config map[string]string
	// Kind, when set, is the kind the plugin must declare; Open refuses
	// another.
	Kind sdk.Kind
	// Logger receives go-plugin's messages and the plugin's own log
	// records; nil means slog.Default().
	Logger *slog.Logger
	// SHA256 is the hex digest the executable must have. When set,
	// go-plugin checks it before every start and restart, so a binary
	// replaced after it was verified is refused (a pack's manifest gives it).
	SHA256 string

	// Grant is what the user allows the plugin (contract.PluginConfig.Grant):
	// in HostFunctions, sdk.PermissionTool opens sdk.HostCallTool and
	// sdk.PermissionLLM opens sdk.HostLLM to a plugin that asks for them
	// (serve.Plugin.HostFunctions); the plugin gets Grant ∩ its asks (see
	// "Host functions" in the package doc). sdk.PermissionLog and
	// sdk.PermissionConfig are accepted and change nothing: a process logs
	// and gets its Config without them. AllowedPaths and Env do not apply:
	// a process has the user's privileges.
	Grant contract.Permissions
	// Tools answers the plugin's sdk.HostCallTool calls (the same as
	// wasmhost.HostConfig.Tools); nil makes them fail with
	// sdk.ErrPermissionDenied, saying no tools are configured.
	Tools sdk.Tool
	// LLM answers the plugin's sdk.HostLLM calls with the coach's judge
	// model (the same callback as wasmhost.HostConfig.LLM); nil makes them
	// fail with sdk.ErrPermissionDenied, saying no LLM is configured. It
	// may be called concurrently; its ctx ends with the plugin's call.
	LLM sdk.LLM

	// Manifest, when set, caps the host functions as a pack's manifest
	// does (pack.GoPlugin sets it to the manifest's permissions): a host
	// function it does not list stays closed, whatever the plugin asks for
	// and Grant grants, and the permission error points at toolpack.toml.
	// nil means no manifest (a bare executable).
	Manifest *contract.Permissions
}

// withDefaults fills zero fields and validates.
func (c Config) withDefaults() (Config, error) {
	l, err := c.Limits.WithDefaults()
	if err != nil {
		return c, fmt.Errorf("%w: %w", contract.ErrBadConfig, err)
	}
	l.MemoryPages = 0 // a native process has no linear memory to cap
	switch {
	case c.StartTimeout < 0:
		return c, fmt.Errorf("%w: negative start timeout %v", contract.ErrBadConfig, c.StartTimeout)
	case c.Kind != "" && !c.Kind.Valid():
		return c, fmt.Errorf("%w: unknown kind %q", contract.ErrBadConfig, c.Kind)
	}
	for _, perm := range c.Grant.HostFunctions {
		if !slices.Contains(grantable, perm) {
			return c, fmt.Errorf("%w: grant.host_functions: unknown permission %q (want %q or %q; %q and %q need no grant for a process)",
				contract.ErrBadConfig, perm, sdk.PermissionTool, sdk.PermissionLLM, sdk.PermissionLog, sdk.PermissionConfig)
		}
	}
	c.Limits = l
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}
