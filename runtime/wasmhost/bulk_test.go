package wasmhost_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// bulkWAT uses the bulk-copy host functions directly, with one page of
// memory: echo copies the input to the output; the *_oob functions point
// past the end of memory.
const bulkWAT = `(module
  (import "extism:host/user" "toolbrain_input_read" (func $read (param i64 i64) (result i64)))
  (import "extism:host/user" "toolbrain_output_write" (func $write (param i64 i64)))
  (memory (export "memory") 1)
  (func (export "echo") (result i32)
    (call $write (i64.const 0) (call $read (i64.const 0) (i64.const 65536)))
    (i32.const 0))
  (func (export "read_oob") (result i32)
    (drop (call $read (i64.const 65530) (i64.const 100)))
    (i32.const 0))
  (func (export "write_oob") (result i32)
    (call $write (i64.const 65530) (i64.const 100))
    (i32.const 0))
  (func (export "length") (result i32)
    (drop (call $read (i64.const 0) (i64.const 0)))
    (i32.const 0)))`

func wat(t *testing.T, src string) []byte {
	t.Helper()
	pluginbuild.Dir(t) // build.sh installs wabt where it is missing
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("wat2wasm", in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBulkCopy(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{})
	wasm := wat(t, bulkWAT)
	small := []byte(`{"expected":"é"}`)
	page := bytes.Repeat([]byte("x"), 65536)
	tests := []struct {
		name     string
		function string
		input    []byte
		limits   limits.Limits
		want     []byte
		err      error
	}{
		{name: "echo", function: "echo", input: small, want: small},
		{name: "empty input", function: "echo", input: nil, want: []byte{}},
		{name: "a whole page", function: "echo", input: page, want: page},
		{name: "input longer than the buffer", function: "echo", input: append(page, 'y'), err: wasmhost.ErrTrap},
		{name: "read past memory", function: "read_oob", input: small, err: wasmhost.ErrTrap},
		{name: "write past memory", function: "write_oob", input: small, err: wasmhost.ErrTrap},
		{name: "zero-length read", function: "length", input: small, want: []byte{}},
		{name: "output limit", function: "echo", input: small, limits: limits.Limits{MaxOutputBytes: 4}, err: contract.ErrOutputLimit},
	}
	for _, mode := range []string{"guarded", "trusted"} {
		trusted := mode == "trusted"
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				p, err := h.Load(context.Background(), wasm, contract.Manifest{Name: "bulk", SDKVersion: "1.0"}, contract.PluginConfig{Limits: tt.limits, Trusted: trusted})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close(context.Background())
				got, err := p.Call(context.Background(), tt.function, tt.input)
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				if err == nil && !bytes.Equal(got, tt.want) {
					t.Fatalf("output %q, want %q", got, tt.want)
				}
				if err != nil && !strings.Contains(err.Error(), `"bulk"`) {
					t.Fatalf("error %v does not name the plugin", err)
				}
			})
		}
	}
}

// The Go reward in both modes on requests the host writes and on ones it
// does not (other field order, larger than the plugin's first buffer),
// against the native reward.
func TestExactMatchGo_Modes(t *testing.T) {
	h := newHost(t, wasmhost.HostConfig{})
	long := strings.Repeat("ü\"\\ ", 3000) // 21 KB once escaped
	inputs := []struct {
		name string
		in   string
	}{
		{name: "host order", in: `{"expected":"42","trace":{"final_answer":"42","turns":[]}}`},
		{name: "other order", in: `{"trace":{"turns":[{"prompt":"p"}],"final_answer":"a\u00e9"},"expected":"aé"}`},
		{name: "folded keys", in: `{"Expected":"x","TRACE":{"final_answer":"y"}}`},
		{name: "long", in: `{"expected":"` + strings.ReplaceAll(strings.ReplaceAll(long, `\`, `\\`), `"`, `\"`) + `","trace":{"final_answer":"` + strings.ReplaceAll(strings.ReplaceAll(long, `\`, `\\`), `"`, `\"`) + `"}}`},
	}
	for _, mode := range []string{"guarded", "trusted"} {
		t.Run(mode, func(t *testing.T) {
			p := load(t, h, "exactmatch-go.wasm", contract.Manifest{Kind: sdk.KindReward}, contract.PluginConfig{Trusted: mode == "trusted"})
			for _, tt := range inputs {
				t.Run(tt.name, func(t *testing.T) {
					req, err := rewards.DecodeAnswers([]byte(tt.in))
					if err != nil {
						t.Fatal(err)
					}
					want, _ := rewards.ExactMatch{}.Reward(context.Background(), req)
					out, err := p.Call(context.Background(), sdk.RewardFunction, []byte(tt.in))
					if err != nil {
						t.Fatal(err)
					}
					if wantOut := map[float64]string{0: `{"score":0}`, 1: `{"score":1}`}[want.Score]; string(out) != wantOut {
						t.Fatalf("output %s, want %s", out, wantOut)
					}
				})
			}
			// A malformed request is the plugin's error, not a trap.
			if _, err := p.Call(context.Background(), sdk.RewardFunction, []byte(`{"expected":`)); !errors.Is(err, contract.ErrPluginFailed) || !strings.Contains(err.Error(), "reward request") {
				t.Fatalf("malformed request: %v", err)
			}
		})
	}
}
