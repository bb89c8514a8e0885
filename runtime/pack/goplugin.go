package pack

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/sdk"
)

// GoPlugin returns the Opener of go-plugin modules: it runs the pack's
// executable as a tool plugin with base's settings, the manifest's limits
// (overridden by the user's) and the manifest's sha256, which go-plugin
// checks before every start.
//
// Host functions: the user's grant of the pack (the PluginConfig's Grant)
// replaces base.Grant, and the manifest's permissions cap what the
// executable may ask for (base.Manifest), so the plugin may call a host
// function only when the executable asks for it
// (serve.Plugin.HostFunctions of runtime/goplugin/serve), the manifest
// lists it and the user grants it, as for a WebAssembly pack. base.Tools
// and base.LLM answer the calls.
//
// The executable must be on disk: an installed pack or a pack directory,
// not a .tar.gz read into memory.
func GoPlugin(base goplugin.Config) Opener {
	return OpenerFunc(func(ctx context.Context, p *Pack, cfg contract.PluginConfig) (Module, error) {
		if p.Manifest.Module.Kind != ModuleGoPlugin {
			return nil, fmt.Errorf("pack %s: %w %q (this opener runs goplugin)", p.Manifest.Name, ErrNoOpener, p.Manifest.Module.Kind)
		}
		if p.Dir() == "" {
			return nil, fmt.Errorf("pack %s: a go-plugin pack runs from a directory: install it first (toolbrain pack install)", p.Manifest.Name)
		}
		if _, err := p.Module(); err != nil { // checks the digest now, go-plugin again at start
			return nil, err
		}
		c := base
		c.Kind = sdk.KindTool
		c.Limits = p.Manifest.Limits.Override(cfg.Limits)
		c.Config = cfg.Config
		c.SHA256 = p.Manifest.Module.SHA256
		c.Grant = cfg.Grant
		perms := p.Manifest.Permissions
		c.Manifest = &perms
		pl, err := goplugin.Open(ctx, filepath.Join(p.Dir(), p.Manifest.Module.Path), c)
		if err != nil {
			return nil, fmt.Errorf("pack %s: %w", p.Manifest.Name, err)
		}
		return pl, nil
	})
}
