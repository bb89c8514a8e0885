package pack_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/sdk"
)

// fakeModule stands in for a go-plugin process: the opener is pluggable,
// and Open must hand it only verified packs and check arguments first.
type fakeModule struct {
	calls  atomic.Int32
	closed atomic.Bool
}

func (f *fakeModule) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	f.calls.Add(1)
	return sdk.ToolCallResponse{Content: req.Name + " " + string(req.Arguments)}, nil
}

func (f *fakeModule) Close(context.Context) error { f.closed.Store(true); return nil }

func TestOpen_PluggableOpener(t *testing.T) {
	ctx := context.Background()
	manifest := strings.Replace(goodManifest, `kind = "wasm"`, `kind = "goplugin"`, 1)
	dir := writePack(t, manifest, []byte("#!/bin/true\n"))
	if _, err := pack.Build(dir, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	p, err := pack.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// No opener for the kind.
	if _, err := pack.Open(ctx, p, pack.Openers{pack.ModuleWASM: pack.WASM(nil)}, contract.PluginConfig{}); !errors.Is(err, pack.ErrNoOpener) {
		t.Fatalf("err = %v, want ErrNoOpener", err)
	}
	mod := &fakeModule{}
	var gotCfg contract.PluginConfig
	opener := pack.OpenerFunc(func(ctx context.Context, p *pack.Pack, cfg contract.PluginConfig) (pack.Module, error) {
		gotCfg = cfg
		return mod, nil
	})
	cfg := contract.PluginConfig{Config: map[string]string{"k": "v"}}
	tools, err := pack.Open(ctx, p, pack.Openers{pack.ModuleGoPlugin: opener}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if gotCfg.Config["k"] != "v" {
		t.Errorf("opener got config %+v", gotCfg)
	}
	tests := []struct {
		name      string
		req       sdk.ToolCallRequest
		wantError bool
	}{
		{name: "valid", req: sdk.ToolCallRequest{Name: "lookup", Arguments: json.RawMessage(`{"word":"x"}`)}},
		{name: "wrong type", req: sdk.ToolCallRequest{Name: "lookup", Arguments: json.RawMessage(`{"word":1}`)}, wantError: true},
		{name: "integer minimum", req: sdk.ToolCallRequest{Name: "count", Arguments: json.RawMessage(`{"n":0}`)}, wantError: true},
		{name: "not integer", req: sdk.ToolCallRequest{Name: "count", Arguments: json.RawMessage(`{"n":1.5}`)}, wantError: true},
		{name: "integer", req: sdk.ToolCallRequest{Name: "count", Arguments: json.RawMessage(`{"n":3}`)}},
		{name: "unknown", req: sdk.ToolCallRequest{Name: "nope"}, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := mod.calls.Load()
			resp, err := tools.CallTool(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.IsError != tt.wantError {
				t.Errorf("resp %+v, want is_error %v", resp, tt.wantError)
			}
			if reached := mod.calls.Load() > before; reached == tt.wantError {
				t.Errorf("module reached = %v", reached)
			}
		})
	}
	tools.Close(ctx)
	if !mod.closed.Load() {
		t.Error("module not closed")
	}
	// A tampered module never reaches the opener.
	os.WriteFile(filepath.Join(dir, "mod", "demo.wasm"), []byte("#!/bin/false\n"), 0o644)
	called := false
	_, err = pack.Open(ctx, p, pack.OpenerFunc(func(context.Context, *pack.Pack, contract.PluginConfig) (pack.Module, error) {
		called = true
		return mod, nil
	}), contract.PluginConfig{})
	if !errors.Is(err, pack.ErrHashMismatch) || called {
		t.Errorf("tampered: err %v, opener called %v", err, called)
	}
}

func TestCallFile_Errors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "x.wasm")
	os.WriteFile(notWasm, []byte("hello"), 0o644)
	tests := []struct {
		name string
		path string
		want error
	}{
		{name: "missing", path: filepath.Join(dir, "nope.wasm"), want: os.ErrNotExist},
		{name: "not wasm nor pack", path: notWasm, want: pack.ErrNotPack},
		{name: "dir without manifest", path: dir, want: pack.ErrBadManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pack.CallFile(ctx, tt.path, "", []byte(`{}`), pack.CallOptions{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
