package pack_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
)

const goodManifest = `# a comment that Build keeps
name = "demo"
version = "1.2.0"
sdk_version = "1.0"
files = ["README.md"]

[module]
kind = "wasm"
path = "mod/demo.wasm"   # trailing comment

[limits]
timeout = "1500ms"
memory_pages = 32

[permissions]
host_functions = ["log"]

[[tools]]
name = "lookup"
description = "Look a word up."
parameters = '{"type":"object","properties":{"word":{"type":"string"}},"required":["word"]}'

[[tools]]
name = "count"
description = "Count."
[tools.parameters]
type = "object"
[tools.parameters.properties.n]
type = "integer"
minimum = 1
`

// wasmModule is the smallest valid WebAssembly module, an empty one, with
// tag in a custom section so that modules differ.
func wasmModule(tag string) []byte {
	return append([]byte{0, 'a', 's', 'm', 1, 0, 0, 0, 0, byte(2 + len(tag)), 1, 'x'}, tag...)
}

// writePack makes a directory pack with the given module.
func writePack(t *testing.T, manifest string, module []byte) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"toolpack.toml": []byte(manifest),
		"mod/demo.wasm": module,
		"README.md":     []byte("# demo\n"),
	}
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestParseManifest(t *testing.T) {
	m, err := pack.ParseManifest("toolpack.toml", []byte(goodManifest))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "demo" || m.Version != "1.2.0" || m.Module.Kind != pack.ModuleWASM || m.Module.Path != "mod/demo.wasm" {
		t.Errorf("manifest %+v", m)
	}
	if m.Limits.Timeout != 1500*time.Millisecond || m.Limits.MemoryPages != 32 || !m.Permissions.Has("log") {
		t.Errorf("limits %+v permissions %+v", m.Limits, m.Permissions)
	}
	if len(m.Tools) != 2 || m.Tools[0].Name != "lookup" || m.Tools[1].Name != "count" {
		t.Fatalf("tools %+v", m.Tools)
	}
	if got, want := string(m.Tools[1].Parameters), `{"properties":{"n":{"minimum":1,"type":"integer"}},"type":"object"}`; got != want {
		t.Errorf("TOML-table schema as JSON = %s, want %s", got, want)
	}
	if got, want := string(m.Tools[0].Parameters), `{"type":"object","properties":{"word":{"type":"string"}},"required":["word"]}`; got != want {
		t.Errorf("string schema = %s, want %s", got, want)
	}
}

func TestParseManifest_Errors(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want string // substring: file, line and key
	}{
		{name: "unknown top key", edit: func(s string) string { return strings.Replace(s, "sdk_version", "colour = 1\nsdk_version", 1) }, want: `toolpack.toml:4: unknown key "colour"`},
		{name: "unknown module key", edit: func(s string) string { return strings.Replace(s, `kind = "wasm"`, "kind = \"wasm\"\nsha = 1", 1) }, want: `toolpack.toml:9: unknown key "module.sha"`},
		{name: "unknown tool key", edit: func(s string) string { return strings.Replace(s, `name = "count"`, "name = \"count\"\nmax = 3", 1) }, want: `unknown key "tools.max"`},
		{name: "wrong type", edit: func(s string) string { return strings.Replace(s, "memory_pages = 32", `memory_pages = "32"`, 1) }, want: `toolpack.toml:13: key limits.memory_pages: incompatible types`},
		{name: "bad duration", edit: func(s string) string { return strings.Replace(s, `"1500ms"`, `"soon"`, 1) }, want: `toolpack.toml:12: key limits.timeout: invalid duration`},
		{name: "syntax", edit: func(s string) string { return strings.Replace(s, `version = "1.2.0"`, `version = "1.2.0`, 1) }, want: `toolpack.toml:3:`},
		{name: "bad name", edit: func(s string) string { return strings.Replace(s, `"demo"`, `"../x"`, 1) }, want: `toolpack.toml:2: name:`},
		{name: "no sdk", edit: func(s string) string { return strings.Replace(s, `sdk_version = "1.0"`, "", 1) }, want: "sdk_version: missing"},
		{name: "bad sdk", edit: func(s string) string { return strings.Replace(s, `"1.0"`, `"one"`, 1) }, want: "sdk_version"},
		{name: "bad kind", edit: func(s string) string { return strings.Replace(s, `"wasm"`, `"docker"`, 1) }, want: `toolpack.toml:8: module.kind: got "docker"`},
		{name: "escaping path", edit: func(s string) string { return strings.Replace(s, `"mod/demo.wasm"`, `"../demo.wasm"`, 1) }, want: "module.path"},
		{name: "absolute path", edit: func(s string) string { return strings.Replace(s, `"mod/demo.wasm"`, `"/etc/demo.wasm"`, 1) }, want: "module.path"},
		{name: "bad sha", edit: func(s string) string {
			return strings.Replace(s, `kind = "wasm"`, "kind = \"wasm\"\nsha256 = \"abc\"", 1)
		}, want: "module.sha256"},
		{name: "no tools", edit: func(s string) string { return s[:strings.Index(s, "[[tools]]")] }, want: "tools: a tool pack declares"},
		{name: "tool without description", edit: func(s string) string { return strings.Replace(s, `description = "Count."`, "", 1) }, want: `toolpack.toml:23: tools[1].description`},
		{name: "bad tool name", edit: func(s string) string { return strings.Replace(s, `"lookup"`, `"look up"`, 1) }, want: "tools[0].name"},
		{name: "schema not json", edit: func(s string) string { return strings.Replace(s, `'{"type":"object",`, `'{type:object,`, 1) }, want: "tools[0].parameters"},
		{name: "schema invalid", edit: func(s string) string { return strings.Replace(s, `type = "integer"`, `type = "integr"`, 1) }, want: "invalid schema"},
		{name: "schema a number", edit: func(s string) string { return strings.Replace(s, `parameters = '{"type"`, `parameters = 3 #`, 1) }, want: "want a JSON string or a table"},
		{name: "negative limit", edit: func(s string) string { return strings.Replace(s, `timeout = "1500ms"`, `timeout = "-1s"`, 1) }, want: "limits.timeout: negative"},
		{name: "duplicate tool", edit: func(s string) string { return strings.Replace(s, `name = "count"`, `name = "lookup"`, 1) }, want: "declared twice"},
		{name: "file listed twice", edit: func(s string) string { return strings.Replace(s, `["README.md"]`, `["toolpack.toml"]`, 1) }, want: "always packed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pack.ParseManifest("toolpack.toml", []byte(tt.edit(goodManifest)))
			if !errors.Is(err, pack.ErrBadManifest) {
				t.Fatalf("err = %v, want ErrBadManifest", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	module := wasmModule("fake module")
	dir := writePack(t, goodManifest, module)
	out := t.TempDir()
	archive, err := pack.Build(dir, out)
	if err != nil {
		t.Fatal(err)
	}
	if archive != filepath.Join(out, "demo-1.2.0.tar.gz") {
		t.Errorf("archive %s", archive)
	}
	// The manifest now holds the digest, and kept its comments.
	src, err := os.ReadFile(filepath.Join(dir, "toolpack.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `sha256 = "`+sha(module)+`"`) || !strings.Contains(string(src), "# a comment that Build keeps") || !strings.Contains(string(src), "# trailing comment") {
		t.Errorf("manifest after build:\n%s", src)
	}
	// Entries: sorted, regular, zero times and owners.
	f, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("gzip header %+v", zr.Header)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
		if h.ModTime.Unix() != 0 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Typeflag != tar.TypeReg {
			t.Errorf("entry %+v", h)
		}
	}
	if got := strings.Join(names, " "); got != "README.md mod/demo.wasm toolpack.toml" {
		t.Errorf("entries %s", got)
	}
	// Reproducible: a second build (manifest already up to date, files
	// with new times) gives the same bytes.
	now := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "README.md"), now, now)
	again, err := pack.Build(dir, filepath.Join(t.TempDir(), "x.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := os.ReadFile(again)
	if !bytes.Equal(f, g) {
		t.Error("second build differs")
	}
	// A changed module gets a new digest.
	os.WriteFile(filepath.Join(dir, "mod", "demo.wasm"), wasmModule("changed"), 0o644)
	if _, err := pack.Build(dir, out); err != nil {
		t.Fatal(err)
	}
	p, err := pack.Verify(dir)
	if err != nil || p.Manifest.Module.SHA256 != sha(wasmModule("changed")) {
		t.Errorf("after rebuild: %v, %+v", err, p)
	}
}

func TestBuild_Errors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  error
	}{
		{name: "missing module", setup: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "mod", "demo.wasm")) }, want: os.ErrNotExist},
		{name: "module links out", setup: func(t *testing.T, dir string) {
			outside := filepath.Join(t.TempDir(), "secret")
			os.WriteFile(outside, []byte("secret"), 0o644)
			os.Remove(filepath.Join(dir, "mod", "demo.wasm"))
			if err := os.Symlink(outside, filepath.Join(dir, "mod", "demo.wasm")); err != nil {
				t.Skip(err)
			}
		}, want: nil},
		{name: "bad manifest", setup: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "toolpack.toml"), []byte("name = 1\n"), 0o644)
		}, want: pack.ErrBadManifest},
		{name: "listed file missing", setup: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "README.md")) }, want: pack.ErrMissingFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writePack(t, goodManifest, wasmModule("m"))
			tt.setup(t, dir)
			_, err := pack.Build(dir, t.TempDir())
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// archive writes a tar.gz of the given headers and contents.
type entry struct {
	h    tar.Header
	body string
}

func makeArchive(t *testing.T, entries []entry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := e.h
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		h.Mode = 0o644
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "p.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_UnsafeArchive(t *testing.T) {
	manifest := entry{h: tar.Header{Name: "toolpack.toml"}, body: goodManifest}
	many := []entry{manifest}
	for i := 0; i < pack.MaxFiles; i++ {
		many = append(many, entry{h: tar.Header{Name: "f/" + strings.Repeat("x", 1+i%50) + string(rune('a'+i%26)) + "-" + strings.Repeat("y", i/26)}})
	}
	tests := []struct {
		name    string
		entries []entry
	}{
		{name: "dotdot", entries: []entry{manifest, {h: tar.Header{Name: "../evil"}, body: "x"}}},
		{name: "nested dotdot", entries: []entry{manifest, {h: tar.Header{Name: "a/../../evil"}, body: "x"}}},
		{name: "absolute", entries: []entry{manifest, {h: tar.Header{Name: "/etc/evil"}, body: "x"}}},
		{name: "symlink", entries: []entry{manifest, {h: tar.Header{Name: "mod/demo.wasm", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}}},
		{name: "hardlink", entries: []entry{manifest, {h: tar.Header{Name: "mod/demo.wasm", Typeflag: tar.TypeLink, Linkname: "toolpack.toml"}}}},
		{name: "device", entries: []entry{manifest, {h: tar.Header{Name: "dev", Typeflag: tar.TypeChar}}}},
		{name: "duplicate", entries: []entry{manifest, manifest}},
		{name: "backslash", entries: []entry{manifest, {h: tar.Header{Name: `..\evil`}, body: "x"}}},
		{name: "too many", entries: many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pack.Load(makeArchive(t, tt.entries))
			if !errors.Is(err, pack.ErrUnsafeArchive) {
				t.Fatalf("err = %v, want ErrUnsafeArchive", err)
			}
		})
	}
	t.Run("not gzip", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "x.tar.gz")
		os.WriteFile(p, []byte("plain text"), 0o644)
		if _, err := pack.Load(p); !errors.Is(err, pack.ErrNotPack) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no manifest", func(t *testing.T) {
		if _, err := pack.Load(makeArchive(t, []entry{{h: tar.Header{Name: "a"}, body: "x"}})); !errors.Is(err, pack.ErrBadManifest) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("dot slash prefix accepted", func(t *testing.T) {
		p, err := pack.Load(makeArchive(t, []entry{{h: tar.Header{Name: "./", Typeflag: tar.TypeDir}}, {h: tar.Header{Name: "./toolpack.toml"}, body: goodManifest}}))
		if err != nil || p.Manifest.Name != "demo" {
			t.Fatalf("%v", err)
		}
	})
}

func TestLoad_DirectoryLinkOut(t *testing.T) {
	module := wasmModule("m")
	dir := writePack(t, goodManifest, module)
	if _, err := pack.Build(dir, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	// Replace the module by a link to an identical file outside the pack:
	// os.Root refuses to follow it.
	outside := filepath.Join(t.TempDir(), "demo.wasm")
	os.WriteFile(outside, module, 0o644)
	os.Remove(filepath.Join(dir, "mod", "demo.wasm"))
	if err := os.Symlink(outside, filepath.Join(dir, "mod", "demo.wasm")); err != nil {
		t.Skip(err)
	}
	if _, err := pack.Verify(dir); err == nil {
		t.Fatal("module outside the pack accepted")
	}
}

func TestInstall(t *testing.T) {
	dir := writePack(t, goodManifest, wasmModule("v1"))
	archive, err := pack.Build(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	packDir := t.TempDir()
	got, err := pack.Install(archive, packDir)
	if err != nil {
		t.Fatal(err)
	}
	if got != filepath.Join(packDir, "demo", "1.2.0") {
		t.Errorf("installed at %s", got)
	}
	for _, f := range []string{"toolpack.toml", "mod/demo.wasm", "README.md"} {
		if _, err := os.Stat(filepath.Join(got, filepath.FromSlash(f))); err != nil {
			t.Error(err)
		}
	}
	// Again: a no-op. From the directory: the same pack, also a no-op.
	if _, err := pack.Install(archive, packDir); err != nil {
		t.Errorf("reinstall: %v", err)
	}
	if _, err := pack.Install(dir, packDir); err != nil {
		t.Errorf("install from dir: %v", err)
	}
	// A different module under the same name and version is refused.
	os.WriteFile(filepath.Join(dir, "mod", "demo.wasm"), wasmModule("v2"), 0o644)
	if _, err := pack.Build(dir, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := pack.Install(dir, packDir); !errors.Is(err, pack.ErrAlreadyInstalled) {
		t.Errorf("conflicting install: %v", err)
	}
	// A newer version installs beside it, and LoadInstalled picks it.
	newer := strings.Replace(goodManifest, `version = "1.2.0"`, `version = "1.10.0"`, 1)
	dir2 := writePack(t, newer, wasmModule("v3"))
	if _, err := pack.Build(dir2, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := pack.Install(dir2, packDir); err != nil {
		t.Fatal(err)
	}
	p, err := pack.LoadInstalled(packDir, "demo", "")
	if err != nil || p.Manifest.Version != "1.10.0" {
		t.Errorf("LoadInstalled latest: %v %+v", err, p)
	}
	p, err = pack.LoadInstalled(packDir, "demo", "1.2.0")
	if err != nil || p.Manifest.Version != "1.2.0" {
		t.Errorf("LoadInstalled 1.2.0: %v", err)
	}
	if _, err := pack.LoadInstalled(packDir, "nope", ""); !errors.Is(err, pack.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	// No temporary directories are left behind.
	entries, _ := os.ReadDir(packDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left %s", e.Name())
		}
	}
}

func TestInstall_Refused(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     error
	}{
		{name: "no digest", manifest: goodManifest, want: pack.ErrHashMismatch},
		{name: "wrong digest", manifest: strings.Replace(goodManifest, `kind = "wasm"`, "kind = \"wasm\"\nsha256 = \""+sha(wasmModule("other"))+"\"", 1), want: pack.ErrHashMismatch},
		{name: "future sdk", manifest: strings.Replace(strings.Replace(goodManifest, `kind = "wasm"`, "kind = \"wasm\"\nsha256 = \""+sha(wasmModule("m"))+"\"", 1), `"1.0"`, `"1.9"`, 1), want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			packDir := t.TempDir()
			_, err := pack.Install(writePack(t, tt.manifest, wasmModule("m")), packDir)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if entries, _ := os.ReadDir(packDir); len(entries) != 0 {
				t.Errorf("left %d entries in the pack directory", len(entries))
			}
		})
	}
}

// TestVerify_NotWebAssembly: a "wasm" pack whose module is not WebAssembly
// fails at build, verify and install, naming the module and what is wrong,
// not only when it is first run.
func TestVerify_NotWebAssembly(t *testing.T) {
	tests := []struct {
		name    string
		module  []byte
		mention string
	}{
		{"text", []byte("#!/bin/sh\necho hi\n"), "magic"},
		{"empty", []byte{}, "empty"},
		{"magic only", []byte{0, 'a', 's', 'm'}, "invalid WebAssembly"},
		{"truncated section", []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 1, 0x7f}, "invalid WebAssembly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writePack(t, goodManifest, tt.module)
			_, err := pack.Build(dir, t.TempDir())
			for what, err := range map[string]error{"build": err, "verify": verifyErr(dir), "install": installErr(dir, t.TempDir())} {
				if !errors.Is(err, wasmhost.ErrBadModule) || !strings.Contains(err.Error(), "mod/demo.wasm") || !strings.Contains(err.Error(), tt.mention) {
					t.Errorf("%s: err = %v, want ErrBadModule naming mod/demo.wasm and %q", what, err, tt.mention)
				}
			}
		})
	}
}

func verifyErr(dir string) error { _, err := pack.Verify(dir); return err }

func installErr(dir, packDir string) error { _, err := pack.Install(dir, packDir); return err }

// TestInstall_StaleTemporaries: an install killed before it could clean up
// leaves an .install-* directory; the next install removes it once it is
// old enough to be litter, and leaves a fresh one (another install's) alone.
func TestInstall_StaleTemporaries(t *testing.T) {
	packDir := t.TempDir()
	stale := filepath.Join(packDir, ".install-demo-123")
	fresh := filepath.Join(packDir, ".install-demo-456")
	for _, d := range []string{stale, fresh} {
		if err := os.MkdirAll(filepath.Join(d, "mod"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	dir := writePack(t, goodManifest, wasmModule("v1"))
	if _, err := pack.Build(dir, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := pack.Install(dir, packDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale %s still there (%v)", stale, err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh %s removed: %v", fresh, err)
	}
}

// TestInstall_ConflictMessage: the refusal says why, never "(<nil>)".
func TestInstall_ConflictMessage(t *testing.T) {
	packDir := t.TempDir()
	dir := writePack(t, goodManifest, wasmModule("v1"))
	if _, err := pack.Build(dir, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := pack.Install(dir, packDir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "mod", "demo.wasm"), wasmModule("v2"), 0o644)
	if _, err := pack.Build(dir, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	_, err := pack.Install(dir, packDir)
	if !errors.Is(err, pack.ErrAlreadyInstalled) || strings.Contains(err.Error(), "<nil>") || !strings.Contains(err.Error(), "toolpack.toml differs") {
		t.Errorf("err = %v", err)
	}
}

func TestInspect(t *testing.T) {
	dir := writePack(t, goodManifest, wasmModule("m"))
	archive, err := pack.Build(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	info, err := pack.Inspect(archive)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Verified || info.ModuleSHA256 != sha(wasmModule("m")) || len(info.Files) != 3 {
		t.Errorf("info %+v", info)
	}
	var b strings.Builder
	if err := info.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pack      demo 1.2.0 (SDK 1.0)", "verified  yes", "lookup: Look a word up.", `"required":["word"]`, "mod/demo.wasm", sha(wasmModule("m"))} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}

func BenchmarkLoadArchive(b *testing.B) {
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "mod"), 0o755)
	os.WriteFile(filepath.Join(dir, "toolpack.toml"), []byte(goodManifest), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("r"), 0o644)
	os.WriteFile(filepath.Join(dir, "mod", "demo.wasm"), bytes.Repeat([]byte("module"), 1<<19), 0o644) // 3 MiB, a Go module's size
	archive, err := pack.Build(dir, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pack.Verify(archive); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseManifest(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pack.ParseManifest("toolpack.toml", []byte(goodManifest)); err != nil {
			b.Fatal(err)
		}
	}
}
