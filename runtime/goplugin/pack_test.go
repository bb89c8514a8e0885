package goplugin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/sdk"
)

// goPluginPack lays out a pack directory whose module is a copy of this
// test binary (the helper that the opener's base config names) and returns
// it with the executable's path. The manifest declares the tools "echo" and
// "llm" and the host functions permissions asks for.
func goPluginPack(t *testing.T, permissions ...string) (dir, exe string) {
	t.Helper()
	dir = t.TempDir()
	exe = filepath.Join(dir, "tools-plugin")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(exe, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(dst, h), src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	writeManifest(t, dir, hex.EncodeToString(h.Sum(nil)), permissions)
	return dir, exe
}

// linkPack lays out another pack directory for the executable of a pack
// made by goPluginPack, hard-linked rather than copied, with its own
// permissions.
func linkPack(t *testing.T, exe, sha string, permissions ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Link(exe, filepath.Join(dir, "tools-plugin")); err != nil {
		t.Fatal(err)
	}
	writeManifest(t, dir, sha, permissions)
	return dir
}

func writeManifest(t *testing.T, dir, sha string, permissions []string) {
	t.Helper()
	perms, _ := json.Marshal(append([]string{}, permissions...)) // [] not null
	manifest := `name = "tools"
version = "0.1.0"
sdk_version = "1.0"

[module]
kind = "goplugin"
path = "tools-plugin"
sha256 = "` + sha + `"

[permissions]
host_functions = ` + string(perms) + `

[[tools]]
name = "echo"
description = "Echo the arguments back."
parameters = '{"type": "object"}'

[[tools]]
name = "llm"
description = "Ask the host's LLM."
parameters = '{"type": "object", "properties": {"text": {"type": "string"}}}'
`
	if err := os.WriteFile(filepath.Join(dir, "toolpack.toml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPackGoPlugin(t *testing.T) {
	dir, exe := goPluginPack(t)
	p, err := pack.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := helperConfig(t, "tools")
	ctx := context.Background()
	tools, err := pack.Open(ctx, p, pack.Openers{pack.ModuleGoPlugin: pack.GoPlugin(base)}, contract.PluginConfig{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tools.CallTool(ctx, sdk.ToolCallRequest{Name: "echo", Arguments: []byte(`{"x": 1}`)})
	tools.Close(ctx)
	if err != nil || resp.IsError {
		t.Fatalf("echo through a go-plugin pack: %+v, %v", resp, err)
	}

	// A binary swapped after the pack was verified is refused at start.
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := base
	cfg.SHA256 = p.Manifest.Module.SHA256
	if _, err := goplugin.Open(ctx, exe, cfg); err == nil {
		t.Fatal("a binary that does not match SHA256 started")
	} else if !errors.Is(err, plugin.ErrChecksumsDoNotMatch) || !errors.Is(err, goplugin.ErrStart) {
		t.Errorf("swapped binary: %v, want plugin.ErrChecksumsDoNotMatch and ErrStart", err)
	}
}

// A go-plugin pack may call a host function only when the executable asks
// for it, the manifest lists it and the user grants it.
func TestPackGoPlugin_HostFunctions(t *testing.T) {
	tests := []struct {
		name     string
		manifest []string
		grant    []string
		want     string // the LLM's answer, or the denial's fix
	}{
		{name: "listed and granted", manifest: []string{sdk.PermissionLLM}, grant: []string{sdk.PermissionLLM}, want: "5"},
		{name: "not in the manifest", grant: []string{sdk.PermissionLLM}, want: `add "llm" to host_functions under [permissions] in toolpack.toml`},
		{name: "not granted", manifest: []string{sdk.PermissionLLM}, want: `add "llm" to the plugin's grant.host_functions`},
	}
	first, exe := goPluginPack(t)
	p0, err := pack.Load(first)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := pack.Load(linkPack(t, exe, p0.Manifest.Module.SHA256, tt.manifest...))
			if err != nil {
				t.Fatal(err)
			}
			base := helperConfig(t, "hostfns-tool")
			base.Env = append(base.Env, askEnv+"="+sdk.PermissionLLM)
			base.LLM = &fakeLLM{}
			base.Grant.HostFunctions = []string{sdk.PermissionLLM, sdk.PermissionTool} // replaced by the pack's grant
			ctx := context.Background()
			tools, err := pack.Open(ctx, p, pack.Openers{pack.ModuleGoPlugin: pack.GoPlugin(base)},
				contract.PluginConfig{Grant: contract.Permissions{HostFunctions: tt.grant}})
			if err != nil {
				t.Fatal(err)
			}
			defer tools.Close(ctx)
			resp, err := tools.CallTool(ctx, sdk.ToolCallRequest{Name: "llm", Arguments: []byte(`{"text": "hello"}`)})
			if len(tt.manifest) > 0 && len(tt.grant) > 0 {
				if err != nil || resp.Content != tt.want {
					t.Fatalf("llm through a go-plugin pack: %+v, %v; want %q", resp, err, tt.want)
				}
				return
			}
			if !errors.Is(err, sdk.ErrPermissionDenied) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrPermissionDenied with %q", err, tt.want)
			}
		})
	}
}
