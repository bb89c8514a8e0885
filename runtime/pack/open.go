package pack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// Module is a pack's running module.
type Module interface {
	sdk.Tool
	// Close stops the module; calls in flight finish or fail.
	Close(ctx context.Context) error
}

// Caller is implemented by modules that can call any exported function by
// name (a *wasmhost.Plugin does); CallFile uses it for functions other than
// call_tool.
type Caller interface {
	// Call runs the exported function with input (JSON) and returns its
	// output. An error means the function failed or does not exist; its
	// sentinels are runtime/contract's (contract.ErrNoFunction, ErrTimeout, ...).
	Call(ctx context.Context, function string, input []byte) ([]byte, error)
}

// Opener starts the module of a pack. An Opener must run only bytes that
// match the manifest's sha256: [Pack.Module] returns them checked.
type Opener interface {
	// Open starts p's module with cfg (the user's limits and grants) and
	// returns it ready for calls. An error means the module could not be
	// read, checked or started; it names the pack.
	Open(ctx context.Context, p *Pack, cfg contract.PluginConfig) (Module, error)
}

// OpenerFunc adapts a function to [Opener].
type OpenerFunc func(ctx context.Context, p *Pack, cfg contract.PluginConfig) (Module, error)

// Open calls f.
func (f OpenerFunc) Open(ctx context.Context, p *Pack, cfg contract.PluginConfig) (Module, error) {
	return f(ctx, p, cfg)
}

// Openers chooses an Opener by the pack's module kind. It is itself an
// Opener; a kind without an entry fails with [ErrNoOpener].
//
//	openers := pack.Openers{pack.ModuleWASM: pack.WASM(host), pack.ModuleGoPlugin: goplugin.Opener(...)}
type Openers map[ModuleKind]Opener

// Open implements Opener.
func (o Openers) Open(ctx context.Context, p *Pack, cfg contract.PluginConfig) (Module, error) {
	op, ok := o[p.Manifest.Module.Kind]
	if !ok || op == nil {
		return nil, fmt.Errorf("pack %s: %w %q", p.source, ErrNoOpener, p.Manifest.Module.Kind)
	}
	return op.Open(ctx, p, cfg)
}

// WASM returns the Opener of WebAssembly modules: it loads the verified
// module into h as a tool plugin, with the manifest's SDK version, limits
// and permissions (cfg overrides the limits and grants permissions, as for
// any plugin).
func WASM(h *wasmhost.Host) Opener {
	return OpenerFunc(func(ctx context.Context, p *Pack, cfg contract.PluginConfig) (Module, error) {
		if p.Manifest.Module.Kind != ModuleWASM {
			return nil, fmt.Errorf("pack %s: %w %q (this opener runs wasm)", p.source, ErrNoOpener, p.Manifest.Module.Kind)
		}
		wasm, err := p.Module()
		if err != nil {
			return nil, err
		}
		m := contract.Manifest{
			Name: p.Manifest.Name, Version: p.Manifest.Version, SDKVersion: p.Manifest.SDKVersion,
			Kind: sdk.KindTool, Limits: p.Manifest.Limits, Permissions: p.Manifest.Permissions,
		}
		pl, err := h.Load(ctx, wasm, m, cfg)
		if err != nil {
			return nil, fmt.Errorf("pack %s: %w", p.source, err)
		}
		return pl, nil
	})
}

var _ Module = (*wasmhost.Plugin)(nil)

// Tools is an opened pack: its tools, served by its module, with every
// call's arguments checked against the tool's schema first. It implements
// sdk.Tool and is safe for concurrent use.
type Tools struct {
	pack    *Pack
	module  Module
	checked sdk.Tool
}

var _ sdk.Tool = (*Tools)(nil)

// Open verifies p's module and starts it with opener (often an [Openers]).
// cfg is the user's configuration of the pack in toolbrain.toml.
// Cancelling ctx abandons the start.
func Open(ctx context.Context, p *Pack, opener Opener, cfg contract.PluginConfig) (*Tools, error) {
	if err := p.Verify(); err != nil {
		return nil, err
	}
	mod, err := opener.Open(ctx, p, cfg)
	if err != nil {
		return nil, err
	}
	return &Tools{pack: p, module: mod, checked: schema.Checked(mod, p.tools)}, nil
}

// Pack is the pack the tools come from.
func (t *Tools) Pack() *Pack { return t.pack }

// Specs are the tools as the model sees them.
func (t *Tools) Specs() []sdk.ToolSpec { return t.pack.Specs() }

// Module is the running module, for calls that bypass validation.
func (t *Tools) Module() Module { return t.module }

// CallTool calls a tool of the pack. A call that names no tool of the pack,
// or whose arguments do not match the tool's schema, is not passed to the
// module: it is answered with IsError set and a Content that says which
// field was wrong and what was expected, which the agent reads as its
// observation. Errors are left for failures of the module itself (a trap,
// a limit, a cancelled ctx).
func (t *Tools) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	return t.checked.CallTool(ctx, req)
}

// Close stops the module.
func (t *Tools) Close(ctx context.Context) error { return t.module.Close(ctx) }

// CallOptions configure [CallFile]. Host is required for WebAssembly.
type CallOptions struct {
	// Host runs WebAssembly modules.
	Host *wasmhost.Host
	// Openers open packs of other kinds (goplugin); the WASM opener on
	// Host is added for "wasm" when missing.
	Openers Openers
	// Config is the plugin's user configuration (limit overrides, grants).
	Config contract.PluginConfig
	// Manifest describes a bare .wasm file: Name defaults to the file's
	// base name, and SDKVersion must be set unless the module exports
	// toolbrain_sdk_version. Kind is left empty so that any exported
	// function may be called. Ignored for packs.
	Manifest contract.Manifest
}

// CallFile calls one function of a plugin and returns its JSON output; it
// is what `toolbrain plugin call` runs. path is a .wasm file (recognised by
// its magic bytes) or a pack (directory or .tar.gz); function "" means
// call_tool.
//
// For a pack and call_tool, input is an sdk.ToolCallRequest and the call
// goes through [Tools.CallTool]: the pack is verified, the arguments are
// validated, and the output is the ToolCallResponse exactly as the agent
// would read it (an invalid call gives {"content": "...", "is_error": true}).
// Other functions of a pack, and any function of a bare module, get input
// as is. Cancelling ctx stops the call.
func CallFile(ctx context.Context, path, function string, input []byte, opts CallOptions) ([]byte, error) {
	if function == "" {
		function = sdk.ToolFunction
	}
	wasm, err := isWASMFile(path)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", path, err)
	}
	if wasm {
		if opts.Host == nil {
			return nil, fmt.Errorf("call %s: no wasmhost.Host for a WebAssembly module", path)
		}
		m := opts.Manifest
		if m.Name == "" {
			m.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		m.Kind = ""
		pl, err := opts.Host.LoadFile(ctx, path, m, opts.Config)
		if err != nil {
			return nil, fmt.Errorf("call %s: %w", path, err)
		}
		defer pl.Close(ctx)
		return pl.Call(ctx, function, input)
	}
	p, err := Load(path)
	if errors.Is(err, ErrNotPack) {
		return nil, fmt.Errorf("call %s: not a WebAssembly module (no \\0asm magic) nor a pack: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("call: %w", err)
	}
	openers := Openers{}
	for k, v := range opts.Openers {
		openers[k] = v
	}
	if _, ok := openers[ModuleWASM]; !ok && opts.Host != nil {
		openers[ModuleWASM] = WASM(opts.Host)
	}
	tools, err := Open(ctx, p, openers, opts.Config)
	if err != nil {
		return nil, fmt.Errorf("call: %w", err)
	}
	defer tools.Close(ctx)
	if function != sdk.ToolFunction {
		c, ok := tools.Module().(Caller)
		if !ok {
			return nil, fmt.Errorf("call %s: %w: a %s module serves only %s", path, contract.ErrNoFunction, p.Manifest.Module.Kind, sdk.ToolFunction)
		}
		return c.Call(ctx, function, input)
	}
	var req sdk.ToolCallRequest
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("call %s: input is not a tool call {\"name\": ..., \"arguments\": {...}}: %w", path, err)
	}
	resp, err := tools.CallTool(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", path, err)
	}
	return json.Marshal(resp)
}

// isWASMFile reports whether path is a regular file starting with the
// WebAssembly magic.
func isWASMFile(path string) (bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	if st.IsDir() {
		return false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := f.Read(magic[:]); err != nil {
		return false, nil
	}
	return magic == [4]byte{0, 'a', 's', 'm'}, nil
}
