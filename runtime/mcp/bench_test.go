package mcp_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/mcp"
	"github.com/toolbrain/toolbrain/runtime/mcp/mcptest"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// BenchmarkCall is the per-call cost of one trivial tool call (add two
// numbers, arguments checked against the schema) through each path: the
// calculator pack's WebAssembly module in-process, and the MCP test server
// over stdio (another process) and streamable HTTP (loopback).
//
//	go test -run XXX -bench Call -benchtime 2000x ./runtime/mcp
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	calc := calculatorPack(b)
	b.Run("pack-wasm", func(b *testing.B) {
		benchCall(b, calc, sdk.ToolCallRequest{Name: "arith", Arguments: json.RawMessage(`{"op":"add","a":2,"b":3}`)})
	})
	for _, transport := range []string{"stdio", "http"} {
		b.Run("mcp-"+transport, func(b *testing.B) {
			cfg := mcp.Config{Name: "t", Grant: []string{"add"}}
			if transport == "stdio" {
				cfg.Command = mcptest.Command()
			} else {
				cfg.URL = mcptest.ServeHTTP(b, mcptest.HTTPOptions{})
			}
			s, err := mcp.Start(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			benchCall(b, s, sdk.ToolCallRequest{Name: "t__add", Arguments: json.RawMessage(`{"a":2,"b":3}`)})
		})
	}
}

func benchCall(b *testing.B, t sdk.Tool, req sdk.ToolCallRequest) {
	ctx := context.Background()
	for b.Loop() {
		resp, err := t.CallTool(ctx, req)
		if err != nil || resp.IsError {
			b.Fatalf("%+v, %v", resp, err)
		}
	}
}

// calculatorPack opens the calculator pack built from source.
func calculatorPack(b *testing.B) *pack.Tools {
	dir := b.TempDir()
	for src, dst := range map[string]string{
		filepath.Join("..", "..", "plugins", "packs", "calculator", pack.ManifestName): pack.ManifestName,
		pluginbuild.Path(b, "calculator.wasm"):                                         "calculator.wasm",
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pack.Build(dir, b.TempDir()); err != nil {
		b.Fatal(err)
	}
	p, err := pack.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	h, err := wasmhost.NewHost(ctx, wasmhost.HostConfig{CacheDir: filepath.Join(b.TempDir(), "cache")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(ctx) })
	tools, err := pack.Open(ctx, p, pack.Openers{pack.ModuleWASM: pack.WASM(h)}, contract.PluginConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tools.Close(ctx) })
	return tools
}
