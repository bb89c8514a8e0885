package algorithms_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/plugins/algorithms"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// algorithmsWasm is plugins/build/algorithms.wasm, built by plugins/build.sh
// from wasm/ here.
func algorithmsWasm(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(pluginbuild.Path(t, "algorithms.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// configMap is cfg as the plugin's config_get values.
func configMap(cfg algorithms.Config) map[string]string {
	m := map[string]string{}
	if cfg.Name != "" {
		m["name"] = cfg.Name
	}
	if cfg.ScaleRewards != "" {
		m["scale_rewards"] = string(cfg.ScaleRewards)
	}
	if cfg.Epsilon != 0 {
		m["epsilon"] = strconv.FormatFloat(cfg.Epsilon, 'g', -1, 64)
	}
	if cfg.NormalizeAdvantages {
		m["normalize_advantages"] = "true"
	}
	return m
}

func wasmHost(t *testing.T) *wasmhost.Host {
	t.Helper()
	// Shared with the runtime tests: compiling a 3.5 MB Go module takes
	// seconds on 2 cores, loading it from the cache milliseconds.
	h, err := wasmhost.NewHost(context.Background(), wasmhost.HostConfig{CacheDir: filepath.Join(os.TempDir(), "toolbrain-test-wasm-cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

var configPermission = contract.Permissions{HostFunctions: []string{sdk.PermissionConfig}}

func loadAlgorithm(t *testing.T, h *wasmhost.Host, wasm []byte, cfg algorithms.Config) *wasmhost.Plugin {
	t.Helper()
	p, err := h.Load(context.Background(), wasm,
		contract.Manifest{Name: "algorithms-go", Kind: sdk.KindAlgorithm, Permissions: configPermission},
		contract.PluginConfig{Grant: configPermission, Config: configMap(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// The WebAssembly build gives the very same numbers as the native code (the
// same Go operations in IEEE float64, and JSON that round-trips float64
// exactly), and so matches the reference too.
func TestWasm_SameAsNative(t *testing.T) {
	wasm := algorithmsWasm(t)
	h := wasmHost(t)
	for _, c := range loadReference(t) {
		t.Run(c.Name, func(t *testing.T) {
			p := loadAlgorithm(t, h, wasm, c.Config)
			got, err := p.Advantages(context.Background(), c.Request)
			if err != nil {
				t.Fatal(err)
			}
			native, err := algorithms.FromConfig(c.Config)
			if err != nil {
				t.Fatal(err)
			}
			want, err := native.Advantages(context.Background(), c.Request)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("wasm %+v\nnative %+v", got, want)
			}
			if c.Pairs != nil {
				if !reflect.DeepEqual(got.Pairs, c.Pairs) {
					t.Errorf("pairs = %+v, want %+v", got.Pairs, c.Pairs)
				}
				return
			}
			checkAdvantages(t, got.Advantages, c.Advantages)
		})
	}
}

func TestWasm_Errors(t *testing.T) {
	wasm := algorithmsWasm(t)
	h := wasmHost(t)
	ctx := context.Background()
	good := sdk.AdvantageRequest{Groups: []sdk.Group{{Rewards: []float64{1, 0}, Lengths: []int{1, 1}}}}
	tests := []struct {
		name string
		cfg  algorithms.Config
		req  sdk.AdvantageRequest
		want string // substring of the error
		is   error
	}{
		// The host validates before calling: the plugin never sees these.
		{name: "length mismatch", req: sdk.AdvantageRequest{Groups: []sdk.Group{{Rewards: []float64{1}, Lengths: []int{}}}}, is: sdk.ErrInvalidRequest},
		{name: "NaN", req: sdk.AdvantageRequest{Groups: []sdk.Group{{Rewards: []float64{math.NaN()}, Lengths: []int{1}}}}, is: sdk.ErrInvalidRequest},
		// These the plugin rejects; its error comes back as text.
		{name: "empty group", req: sdk.AdvantageRequest{Groups: []sdk.Group{{Rewards: []float64{}, Lengths: []int{}}}}, want: "group 0 is empty"},
		{name: "no groups", req: sdk.AdvantageRequest{}, want: "no groups"},
		{name: "unknown algorithm", cfg: algorithms.Config{Name: "ppo"}, req: good, want: "unknown algorithm"},
		{name: "bad config", cfg: algorithms.Config{Name: "rloo", ScaleRewards: "group"}, req: good, want: "scale_rewards does not apply to rloo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := loadAlgorithm(t, h, wasm, tt.cfg)
			_, err := p.Advantages(ctx, tt.req)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	// Without the config permission the plugin cannot read its config.
	p, err := h.Load(ctx, wasm, contract.Manifest{Name: "algorithms-go"}, contract.PluginConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if _, err := p.Advantages(ctx, good); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Errorf("without the config permission: err = %v, want sdk.ErrPermissionDenied", err)
	}
}

// BenchmarkWasm_Advantages is one GRPO call through the runtime (JSON both
// ways, one instance from the pool) on 1 and 64 groups of 8.
func BenchmarkWasm_Advantages(b *testing.B) {
	ctx := context.Background()
	wasm := algorithmsWasm(b)
	h, err := wasmhost.NewHost(ctx, wasmhost.HostConfig{CacheDir: filepath.Join(os.TempDir(), "toolbrain-test-wasm-cache")})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(ctx)
	p, err := h.Load(ctx, wasm, contract.Manifest{Name: "algorithms-go", Permissions: configPermission},
		contract.PluginConfig{Grant: configPermission})
	if err != nil {
		b.Fatal(err)
	}
	for _, groups := range []int{1, 64} {
		req := benchBatch(groups)
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Advantages(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
