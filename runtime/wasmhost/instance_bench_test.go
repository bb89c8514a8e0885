package wasmhost

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/runtime/contract"
)

// BenchmarkInstance_Start is one more instance of a loaded plugin, what a
// pool grows by under concurrency or after a trap: instantiation, with a Go
// plugin's runtime initialisation (_initialize), and release. Goal: ≤ 10 ms.
func BenchmarkInstance_Start(b *testing.B) {
	h, err := NewHost(context.Background(), HostConfig{CacheDir: filepath.Join(b.TempDir(), "cache")})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	for _, file := range []string{"exactmatch-go.wasm", "exactmatch-as.wasm", "exactmatch-wat.wasm"} {
		for _, mode := range []string{"guarded", "trusted"} {
			b.Run(file+"/"+mode, func(b *testing.B) {
				p, err := h.LoadFile(context.Background(), pluginbuild.Path(b, file), contract.Manifest{Name: "x"}, contract.PluginConfig{Trusted: mode == "trusted"})
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close(context.Background())
				for b.Loop() {
					in, err := p.newInstance(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					in.close()
				}
				runtime.GC()
			})
		}
	}
}
