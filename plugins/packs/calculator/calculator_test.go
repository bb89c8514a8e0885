package calculator_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/plugins/packs/calculator"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
	"github.com/toolbrain/toolbrain/sdk/plugintest"
)

func req(name, args string) sdk.ToolCallRequest {
	return sdk.ToolCallRequest{Name: name, Arguments: json.RawMessage(args)}
}

// cases hold values worked out by hand (IEEE-754 doubles, Go's shortest
// formatting), shared by the native tool and the pack.
var cases = []plugintest.ToolCase{
	{Name: "add", Request: req("arith", `{"op":"add","a":2,"b":3}`), WantContent: "5"},
	{Name: "add fractions", Request: req("arith", `{"op":"add","a":0.1,"b":0.2}`), WantContent: "0.30000000000000004"},
	{Name: "sub", Request: req("arith", `{"op":"sub","a":-1.5,"b":2.25}`), WantContent: "-3.75"},
	{Name: "mul", Request: req("arith", `{"op":"mul","a":1e200,"b":1e200}`), WantError: true},
	{Name: "mul small", Request: req("arith", `{"op":"mul","a":12,"b":-0.5}`), WantContent: "-6"},
	{Name: "div", Request: req("arith", `{"op":"div","a":1,"b":3}`), WantContent: "0.3333333333333333"},
	{Name: "div by zero", Request: req("arith", `{"op":"div","a":1,"b":0}`), WantError: true},
	{Name: "sqrt", Request: req("sqrt", `{"x":2}`), WantContent: "1.4142135623730951"},
	{Name: "sqrt zero", Request: req("sqrt", `{"x":0}`), WantContent: "0"},
	{Name: "sqrt negative", Request: req("sqrt", `{"x":-4}`), WantError: true},
	{Name: "bad op", Request: req("arith", `{"op":"pow","a":2,"b":3}`), WantError: true},
}

func specs(t *testing.T) []sdk.ToolSpec {
	t.Helper()
	data, err := os.ReadFile(pack.ManifestName)
	if err != nil {
		t.Fatal(err)
	}
	m, err := pack.ParseManifest(pack.ManifestName, data)
	if err != nil {
		t.Fatal(err)
	}
	return m.Tools
}

func TestCalculator_Native(t *testing.T) {
	plugintest.TestTool(t, calculator.Calculator{}, specs(t), cases...)
}

// assemble copies the pack source and the built module into a fresh
// directory, as an author's working tree would hold them.
func assemble(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for src, dst := range map[string]string{
		pack.ManifestName:                      pack.ManifestName,
		pluginbuild.Path(t, "calculator.wasm"): "calculator.wasm",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newHost(t *testing.T) *wasmhost.Host {
	t.Helper()
	// The cache shared with the runtime tests: compiling a Go module takes
	// about two seconds on 2 cores, loading it from the cache milliseconds.
	h, err := wasmhost.NewHost(context.Background(), wasmhost.HostConfig{CacheDir: filepath.Join(os.TempDir(), "toolbrain-test-wasm-cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// TestCalculator_Pack builds, verifies, installs, opens and calls the pack,
// and checks it against the contract and the same cases as the native tool.
func TestCalculator_Pack(t *testing.T) {
	ctx := context.Background()
	src := assemble(t)
	archive, err := pack.Build(src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(archive) != "calculator-0.1.0.tar.gz" {
		t.Errorf("archive %s", archive)
	}
	if _, err := pack.Verify(archive); err != nil {
		t.Fatal(err)
	}
	packDir := t.TempDir()
	installed, err := pack.Install(archive, packDir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(packDir, "calculator", "0.1.0"); installed != want {
		t.Errorf("installed in %s, want %s", installed, want)
	}
	p, err := pack.LoadInstalled(packDir, "calculator", "")
	if err != nil {
		t.Fatal(err)
	}
	tools, err := pack.Open(ctx, p, pack.Openers{pack.ModuleWASM: pack.WASM(newHost(t))}, contract.PluginConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer tools.Close(ctx)
	plugintest.TestTool(t, tools, tools.Specs(), cases...)

	t.Run("schema error reaches the agent", func(t *testing.T) {
		tests := []struct {
			name, tool, args string
			want             []string
		}{
			{name: "wrong type", tool: "arith", args: `{"op":"add","a":"2","b":3}`, want: []string{`tool "arith"`, "at '/a'", "got string, want number"}},
			{name: "missing", tool: "arith", args: `{"op":"add","a":2}`, want: []string{"missing property 'b'"}},
			{name: "enum", tool: "arith", args: `{"op":"pow","a":2,"b":3}`, want: []string{"at '/op'", "'add'"}},
			{name: "minimum", tool: "sqrt", args: `{"x":-1}`, want: []string{"at '/x'", "minimum"}},
			{name: "extra", tool: "sqrt", args: `{"x":1,"y":2}`, want: []string{"'y'"}},
			{name: "unknown tool", tool: "pow", args: `{}`, want: []string{`unknown tool "pow"`, "arith, sqrt"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, err := tools.CallTool(ctx, req(tt.tool, tt.args))
				if err != nil {
					t.Fatal(err)
				}
				if !resp.IsError {
					t.Fatalf("accepted: %+v", resp)
				}
				for _, w := range tt.want {
					if !strings.Contains(resp.Content, w) {
						t.Errorf("content %q lacks %q", resp.Content, w)
					}
				}
			})
		}
	})

	t.Run("plugin call", func(t *testing.T) {
		opts := pack.CallOptions{Host: newHost(t)}
		for _, path := range []string{archive, installed, pluginbuild.Path(t, "calculator.wasm")} {
			out, err := pack.CallFile(ctx, path, "", []byte(`{"name":"arith","arguments":{"op":"mul","a":6,"b":7}}`), opts)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var resp sdk.ToolCallResponse
			if err := json.Unmarshal(out, &resp); err != nil || resp.Content != "42" || string(resp.Data) != "42" {
				t.Errorf("%s: output %s (%v)", path, out, err)
			}
		}
		// Through the pack, bad arguments are answered as the agent sees them.
		out, err := pack.CallFile(ctx, archive, "call_tool", []byte(`{"name":"sqrt","arguments":{"x":"4"}}`), opts)
		if err != nil || !bytes.Contains(out, []byte(`"is_error":true`)) || !bytes.Contains(out, []byte("want number")) {
			t.Errorf("output %s, %v", out, err)
		}
		if _, err := pack.CallFile(ctx, archive, "", []byte(`{"nam":"sqrt"}`), opts); err == nil {
			t.Error("input with an unknown field accepted")
		}
		// Any exported function of the module can be called by name.
		out, err = pack.CallFile(ctx, archive, sdk.VersionFunction, nil, opts)
		if err != nil || string(out) != sdk.Version {
			t.Errorf("version %q, %v", out, err)
		}
	})
}

// TestCalculator_Tampered checks that a module changed after the build is
// refused everywhere: in the directory, in an archive re-made with the old
// manifest, on install and on open.
func TestCalculator_Tampered(t *testing.T) {
	ctx := context.Background()
	src := assemble(t)
	archive, err := pack.Build(src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Flip one byte of the module in the source directory.
	mod := filepath.Join(src, "calculator.wasm")
	b, err := os.ReadFile(mod)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(mod, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// And in the archive: same manifest, changed module.
	tampered := filepath.Join(t.TempDir(), "tampered.tar.gz")
	rewriteArchive(t, archive, tampered, "calculator.wasm", b)

	host := newHost(t)
	for _, path := range []string{src, tampered} {
		if _, err := pack.Verify(path); !errors.Is(err, pack.ErrHashMismatch) {
			t.Errorf("Verify(%s) = %v, want ErrHashMismatch", path, err)
		}
		if _, err := pack.Install(path, t.TempDir()); !errors.Is(err, pack.ErrHashMismatch) {
			t.Errorf("Install(%s) = %v, want ErrHashMismatch", path, err)
		}
		p, err := pack.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pack.Open(ctx, p, pack.WASM(host), contract.PluginConfig{}); !errors.Is(err, pack.ErrHashMismatch) {
			t.Errorf("Open(%s) = %v, want ErrHashMismatch", path, err)
		}
		if _, err := pack.CallFile(ctx, path, "", []byte(`{"name":"sqrt","arguments":{"x":4}}`), pack.CallOptions{Host: host}); !errors.Is(err, pack.ErrHashMismatch) {
			t.Errorf("CallFile(%s) = %v, want ErrHashMismatch", path, err)
		}
		info, err := pack.Inspect(path)
		if err != nil || info.Verified || !strings.Contains(info.Problem, "sha256") {
			t.Errorf("Inspect(%s) = %+v, %v", path, info, err)
		}
	}
}

// rewriteArchive copies the tar.gz at src to dst with one file's content
// replaced.
func rewriteArchive(t *testing.T, src, dst, name string, content []byte) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			b = content
			h.Size = int64(len(b))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCalculator(b *testing.B) {
	ctx := context.Background()
	r := req("arith", `{"op":"mul","a":6,"b":7}`)
	b.Run("native", func(b *testing.B) {
		for b.Loop() {
			if _, err := (calculator.Calculator{}).CallTool(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pack", func(b *testing.B) {
		dir := b.TempDir()
		for src, dst := range map[string]string{pack.ManifestName: pack.ManifestName, pluginbuild.Path(b, "calculator.wasm"): "calculator.wasm"} {
			data, err := os.ReadFile(src)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, dst), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		archive, err := pack.Build(dir, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		p, err := pack.Load(archive)
		if err != nil {
			b.Fatal(err)
		}
		h, err := wasmhost.NewHost(ctx, wasmhost.HostConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close(ctx)
		tools, err := pack.Open(ctx, p, pack.WASM(h), contract.PluginConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer tools.Close(ctx)
		b.ResetTimer()
		for b.Loop() {
			if resp, err := tools.CallTool(ctx, r); err != nil || resp.Content != "42" {
				b.Fatal(resp, err)
			}
		}
	})
}
