package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/toolbrain/toolbrain/core/scoring"
	"github.com/toolbrain/toolbrain/internal/capread"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/runtime/pack"
)

func packBuild(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "pack build", "DIR [-o OUT]")
	out := fs.String("o", "", "output .tar.gz, or a directory for NAME-VERSION.tar.gz (default: current directory)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one pack DIR", errUsage)
	}
	path, err := pack.Build(pos[0], *out)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.stdout, path)
	return nil
}

func packInspect(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "pack inspect", "PACK [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one PACK", errUsage)
	}
	info, err := pack.Inspect(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		err = writeJSONIndent(o.stdout, info)
	} else {
		err = info.WriteText(o.stdout)
	}
	if err != nil {
		return err
	}
	if !info.Verified {
		return fmt.Errorf("%s is not verified: %s", pos[0], info.Problem)
	}
	return nil
}

func packVerify(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "pack verify", "PACK")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one PACK", errUsage)
	}
	p, err := pack.Verify(pos[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "ok %s %s %s\n", p.Manifest.Name, p.Manifest.Version, p.Manifest.Module.SHA256)
	return nil
}

func packInstall(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "pack install", "PACK [--config FILE]")
	cfgPath := fs.String("config", "", "toolbrain.toml ([plugins] pack_dir)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one PACK", errUsage)
	}
	cfg, _, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	dir, err := cfg.Plugins.PackDirOrDefault()
	if err != nil {
		return err
	}
	installed, err := pack.Install(pos[0], dir)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.stdout, installed)
	return nil
}

func pluginCall(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "plugin call", "--plugin FILE|PACK [--function NAME] --input FILE.json")
	plugin := fs.String("plugin", "", "a .wasm module or a tool pack (directory or .tar.gz)")
	function := fs.String("function", "", "function to call (default: call_tool)")
	input := fs.String("input", "", "JSON input file, - for standard input")
	sdkVersion := fs.String("sdk-version", "", "SDK version of a bare .wasm that does not export toolbrain_sdk_version (default: the current one, with a warning)")
	grant := fs.String("grant", "", "comma-separated host functions to grant (tool, llm, log, config); llm is answered by [judge]")
	manifest := fs.String("manifest", "", "manifest.toml of a bare .wasm (name, kind, limits, the permissions it asks for)")
	cfgPath := fs.String("config", "", "toolbrain.toml ([plugins] limits and cache)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *plugin == "" || *input == "" {
		return fmt.Errorf("%w: --plugin and --input are required", errUsage)
	}
	cfg, _, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var in []byte
	if *input == "-" {
		in, err = readAllLimited(os.Stdin, maxInputBytes)
	} else {
		in, err = capread.File(*input, maxInputBytes)
	}
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	m := contract.Manifest{SDKVersion: *sdkVersion}
	if *manifest != "" {
		if m, err = scoring.ReadManifest(*manifest); err != nil {
			return err
		}
		if *sdkVersion != "" {
			m.SDKVersion = *sdkVersion
		}
	}
	sh, err := scoring.NewHost(ctx, cfg)
	if err != nil {
		return err
	}
	defer sh.Close(ctx)
	h := sh.WASM
	pc := contract.PluginConfig{Limits: cfg.Plugins.Limits}
	if *grant != "" {
		pc.Grant.HostFunctions = strings.Split(*grant, ",")
	}
	var out []byte
	if scoring.IsExecutable(*plugin) {
		// A go-plugin process: any function of its kind, JSON in and out.
		var pl *goplugin.Plugin
		if pl, err = goplugin.Open(ctx, *plugin, goplugin.Config{Limits: cfg.Plugins.Limits, Grant: pc.Grant, LLM: sh.LLM()}); err != nil {
			return err
		}
		defer pl.Close(ctx)
		fn := *function
		if fn == "" {
			fn = pl.Kind().Function()
		}
		out, err = pl.Call(ctx, fn, in)
	} else {
		out, err = pack.CallFile(ctx, *plugin, *function, in, pack.CallOptions{
			Host: h, Config: pc, Manifest: m,
			Openers: pack.Openers{pack.ModuleGoPlugin: pack.GoPlugin(goplugin.Config{LLM: sh.LLM()})},
		})
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.stdout, "%s\n", out)
	return err
}
