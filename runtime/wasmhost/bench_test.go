package wasmhost_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// BenchmarkReward is a reward call with a 2 KB trace on a warm instance, per
// language. Goal: ≤ 60 µs p50.
func BenchmarkReward(b *testing.B) {
	h := newHost(b, wasmhost.HostConfig{})
	req := sdk.RewardRequest{Expected: "42 EUR", Trace: trace2KB("42 EUR")}
	in, _ := json.Marshal(req)
	b.Logf("input %d bytes", len(in))
	for _, file := range exactMatchPlugins {
		// guarded is the default; trusted is PluginConfig.Trusted (no
		// termination checks in compiled code).
		for _, mode := range []string{"guarded", "trusted"} {
			b.Run(file+"/"+mode, func(b *testing.B) {
				p := load(b, h, file, contract.Manifest{}, contract.PluginConfig{Trusted: mode == "trusted"})
				b.SetBytes(int64(len(in)))
				b.ReportAllocs()
				// Preallocated, so that recording adds nothing to allocs/op.
				d := make([]time.Duration, 0, 1<<16)
				for b.Loop() {
					start := time.Now()
					out, err := p.Call(context.Background(), sdk.RewardFunction, in)
					if len(d) < cap(d) {
						d = append(d, time.Since(start))
					}
					if err != nil || string(out) == "" {
						b.Fatal(err)
					}
				}
				slices.Sort(d)
				b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
			})
		}
	}
}

// BenchmarkLoad_FromDiskCache is a plugin start in a fresh process-like host
// whose compiled module comes from the disk cache: compile lookup,
// instantiation (with the Go runtime's _initialize) and the version call.
// Goal: ≤ 10 ms.
func BenchmarkLoad_FromDiskCache(b *testing.B) {
	dir := b.TempDir()
	for _, file := range exactMatchPlugins {
		b.Run(file, func(b *testing.B) {
			wasm, err := os.ReadFile(pluginbuild.Path(b, file))
			if err != nil {
				b.Fatal(err)
			}
			warm, _ := wasmhost.NewHost(context.Background(), wasmhost.HostConfig{CacheDir: dir})
			if _, err := warm.Load(context.Background(), wasm, contract.Manifest{Name: "x"}, contract.PluginConfig{}); err != nil {
				b.Fatal(err)
			}
			warm.Close(context.Background())
			for b.Loop() {
				h, err := wasmhost.NewHost(context.Background(), wasmhost.HostConfig{CacheDir: dir})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := h.Load(context.Background(), wasm, contract.Manifest{Name: "x"}, contract.PluginConfig{}); err != nil {
					b.Fatal(err)
				}
				h.Close(context.Background())
			}
		})
	}
}
