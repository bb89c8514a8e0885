package wasmhost_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
)

// hiddenMemory defines a memory that is not exported and starts at 1025
// pages, one above the default limit: wazero panicked instantiating it.
var hiddenMemory = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x04, 0x01, 0x00, 0x81, 0x08}

// big28 is 2^28 as an unsigned LEB128 number.
var big28 = []byte{0x80, 0x80, 0x80, 0x80, 0x01}

// wasmSection encodes one section.
func wasmSection(id byte, body []byte) []byte {
	return append([]byte{id, byte(len(body))}, body...)
}

// wasmWith is a module holding one section with the given body parts.
func wasmWith(id byte, parts ...any) []byte {
	var body []byte
	for _, p := range parts {
		switch p := p.(type) {
		case []byte:
			body = append(body, p...)
		case int:
			body = append(body, byte(p))
		case rune:
			body = append(body, byte(p))
		}
	}
	return append([]byte{0, 'a', 's', 'm', 1, 0, 0, 0}, wasmSection(id, body)...)
}

// TestScan_BuiltPlugins: every plugin the project builds passes the scan
// that guards wazero's decoder (it must not refuse real modules).
func TestScan_BuiltPlugins(t *testing.T) {
	for _, name := range []string{"exactmatch-go.wasm", "exactmatch-as.wasm", "exactmatch-wat.wasm", "hostile-go.wasm", "hostile-wat.wasm", "interpreter-starlark.wasm", "judge.wasm", "calculator.wasm", "future.wasm"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(pluginbuild.Path(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := wasmhost.ScanModule(b); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoad_HostileModules(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{CacheDir: t.TempDir()})
	tests := []struct {
		name string
		wasm []byte
		want error
	}{
		{"hidden memory above the limit", hiddenMemory, wasmhost.ErrMemoryLimit},
		{"hidden memory with a maximum", []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 5, 6, 1, 1, 0x81, 0x08, 0x82, 0x08}, wasmhost.ErrMemoryLimit},
		{"empty", nil, wasmhost.ErrBadModule},
		{"magic only", []byte{0, 'a', 's', 'm'}, wasmhost.ErrBadModule},
		{"random bytes", []byte("\x1f\x8b\x08 not a module at all"), wasmhost.ErrBadModule},
		{"truncated section", []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 5, 0x7f, 1}, wasmhost.ErrBadModule},
		// Lengths and counts far above the bytes that follow: wazero
		// allocated them before reading (2^28 imports: 28 GiB).
		{"2^28 imports", wasmWith(2, big28, 0), wasmhost.ErrBadModule},
		{"2^28 exports", wasmWith(7, big28, 0), wasmhost.ErrBadModule},
		{"2^28 functions", wasmWith(3, big28, 0), wasmhost.ErrBadModule},
		{"2^28 data segments", wasmWith(11, big28, 0), wasmhost.ErrBadModule},
		{"2^28 element segments", wasmWith(9, big28, 0), wasmhost.ErrBadModule},
		{"2^28 parameters", wasmWith(1, []byte{1, 0x60}, big28, 0), wasmhost.ErrBadModule},
		{"data segment of 2^28 bytes", wasmWith(11, []byte{1, 1}, big28, 0), wasmhost.ErrBadModule},
		{"2^28 locals", append(wasmWith(1, []byte{1, 0x60, 0, 0}), append(wasmSection(3, []byte{1, 0}), wasmSection(10, []byte{1, 8, 1, 0x80, 0x80, 0x80, 0x80, 0x01, 0x7f, 0x0b})...)...), wasmhost.ErrBadModule},
		{"table of 2^27 elements", wasmWith(4, []byte{1, 0x70, 0x00, 0x80, 0x80, 0x80, 0x40}), wasmhost.ErrBadModule},
		{"imported table of 2^27 elements", wasmWith(2, []byte{1, 1, 'e', 1, 't', 1, 0x70, 0x00, 0x80, 0x80, 0x80, 0x40}), wasmhost.ErrBadModule},
		{"custom section name of 2^28 bytes", wasmWith(0, big28, 'x'), wasmhost.ErrBadModule},
		{"2^28 function names", wasmWith(0, []byte{4, 'n', 'a', 'm', 'e', 1, 6}, big28, 0), wasmhost.ErrBadModule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func(start time.Time) {
				if d := time.Since(start); d > time.Second {
					t.Errorf("took %v: the module reached the decoder", d)
				}
			}(time.Now())
			_, err := h.Load(context.Background(), tt.wasm, contract.Manifest{Name: "hostile", SDKVersion: "1.0"}, contract.PluginConfig{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), `"hostile"`) || strings.Contains(err.Error(), "panicked") {
				t.Errorf("error %q should name the plugin and come from a check, not a recovered panic", err)
			}
		})
	}
}

func TestValidateModule(t *testing.T) {
	good, err := os.ReadFile(pluginbuild.Path(t, "exactmatch-wat.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		wasm    []byte
		want    error
		mention string
	}{
		{"good", good, nil, ""},
		{"empty", nil, wasmhost.ErrBadModule, "empty"},
		{"text", []byte("#!/bin/sh\necho hi\n"), wasmhost.ErrBadModule, "magic"},
		{"truncated", good[:len(good)/2], wasmhost.ErrBadModule, ""},
		{"hidden memory above 4 GiB", []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 5, 5, 1, 0, 0x81, 0x80, 0x04}, wasmhost.ErrBadModule, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wasmhost.ValidateModule(context.Background(), tt.wasm)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

// TestDiskCache_DamagedEntry: a damaged file in the compilation cache is
// dropped and rebuilt, once, with a log line naming it; it no longer fails
// every later run.
func TestDiskCache_DamagedEntry(t *testing.T) {
	dir := t.TempDir()
	wasm, err := os.ReadFile(pluginbuild.Path(t, "exactmatch-wat.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	loadOnce := func() error {
		h := newHost(t, wasmhost.HostConfig{CacheDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		defer h.Close(context.Background())
		_, err := h.Load(context.Background(), wasm, contract.Manifest{Name: "w", SDKVersion: "1.0"}, contract.PluginConfig{})
		return err
	}
	if err := loadOnce(); err != nil {
		t.Fatal(err)
	}
	var entries []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			entries = append(entries, p)
		}
		return nil
	})
	if len(entries) == 0 {
		t.Fatal("nothing cached")
	}
	for _, p := range entries {
		b, _ := os.ReadFile(p)
		b[len(b)-1] ^= 0xff // the trailing checksum
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if err := loadOnce(); err != nil {
			t.Fatalf("load %d after damage: %v", i, err)
		}
	}
	if n := strings.Count(logs.String(), "discarded a damaged compilation cache entry"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), entries[0]) {
		t.Errorf("log does not name %s:\n%s", entries[0], logs.String())
	}
}

// nestedBlocks is a module of one function whose body nests n blocks: small,
// valid, and slow to compile (wazero's time grows with the square of n).
func nestedBlocks(n int) []byte {
	code := []byte{0} // no locals
	for range n {
		code = append(code, 0x02, 0x40) // block
	}
	for range n + 1 {
		code = append(code, 0x0b) // end
	}
	body := append(uleb(len(code)), code...)
	mod := append([]byte{0, 'a', 's', 'm', 1, 0, 0, 0}, wasmSection(1, []byte{1, 0x60, 0, 0})...)
	mod = append(mod, wasmSection(3, []byte{1, 0})...)
	code10 := append([]byte{1}, body...)
	return append(append(mod, 10), append(uleb(len(code10)), code10...)...)
}

func uleb(n int) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		if n >>= 7; n == 0 {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

// TestLoad_CompileTimeout: a module that takes too long to compile fails
// at the host's compile timeout instead of hanging its caller.
func TestLoad_CompileTimeout(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{CacheDir: t.TempDir(), CompileTimeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := h.Load(context.Background(), nestedBlocks(10000), contract.Manifest{Name: "nested", SDKVersion: "1.0"}, contract.PluginConfig{})
	if !errors.Is(err, wasmhost.ErrBadModule) || !strings.Contains(err.Error(), "compiling took longer than 50ms") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	// The same module compiles when given the time: the limit, not the
	// module, failed the load.
	if _, err := wasmhost.ScanModule(nestedBlocks(10000)); err != nil {
		t.Fatal(err)
	}
}

// FuzzLoad feeds malformed modules to the loader: each must load or fail
// with an error, never panic (not even one recovered at the boundary).
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"exactmatch-wat.wasm", "hostile-wat.wasm", "future.wasm", "unknown_import.wasm"} {
		b, err := os.ReadFile(pluginbuild.Path(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seeds, _ := filepath.Glob("testdata/hostile/*.wasm")
	for _, s := range seeds {
		b, _ := os.ReadFile(s)
		f.Add(b)
	}
	f.Add(hiddenMemory)
	f.Add([]byte{})
	h := newHost(f, wasmhost.HostConfig{CacheDir: f.TempDir()})
	f.Fuzz(func(t *testing.T, wasm []byte) {
		p, err := h.Load(context.Background(), wasm, contract.Manifest{Name: "fuzz", SDKVersion: "1.0"}, contract.PluginConfig{Limits: limits.Limits{Timeout: 100e6}})
		if err != nil {
			if strings.Contains(err.Error(), "panicked") {
				t.Fatalf("wazero panicked: %v", err)
			}
			return
		}
		p.Close(context.Background())
	})
}
