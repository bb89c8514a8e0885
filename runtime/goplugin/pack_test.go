package goplugin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/runtime"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/sdk"
)

// goPluginPack lays out a pack directory whose module is a copy of this
// test binary (served as the "tools" helper) and returns it with the
// executable's path.
func goPluginPack(t *testing.T) (dir, exe string) {
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
	manifest := `name = "tools"
version = "0.1.0"
sdk_version = "1.0"

[module]
kind = "goplugin"
path = "tools-plugin"
sha256 = "` + hex.EncodeToString(h.Sum(nil)) + `"

[[tools]]
name = "echo"
description = "Echo the arguments back."
parameters = '{"type": "object"}'
`
	if err := os.WriteFile(filepath.Join(dir, "toolpack.toml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, exe
}

func TestPackOpener(t *testing.T) {
	dir, exe := goPluginPack(t)
	p, err := pack.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := helperConfig(t, "tools")
	ctx := context.Background()
	tools, err := pack.Open(ctx, p, pack.Openers{pack.ModuleGoPlugin: goplugin.PackOpener(base)}, runtime.PluginConfig{})
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
	} else if !strings.Contains(strings.ToLower(err.Error()), "checksum") {
		t.Errorf("swapped binary: %v, want a checksum error", err)
	}
}
