package main

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// binary is this plugin, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "toolbrain-goplugin-rewards")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "rewards")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		panic("go build: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func open(t *testing.T, config map[string]string) *goplugin.Plugin {
	t.Helper()
	p, err := goplugin.Open(context.Background(), binary, goplugin.Config{Kind: sdk.KindReward, Config: config})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// The default configuration is exact match: the same scores from the
// in-process reward, the WebAssembly plugin and this process, against
// hand-written expectations. One test body, every transport.
func TestExactMatch_EveryTransport(t *testing.T) {
	h, err := wasmhost.NewHost(context.Background(), wasmhost.HostConfig{CacheDir: filepath.Join(os.TempDir(), "toolbrain-test-wasm-cache")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	wasm, err := h.LoadFile(context.Background(), pluginbuild.Path(t, "exactmatch-go.wasm"), contract.Manifest{Name: "exactmatch-go", Kind: sdk.KindReward}, contract.PluginConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer wasm.Close(context.Background())
	transports := []struct {
		name string
		r    sdk.Reward
	}{
		{name: "in-process", r: rewards.ExactMatch{}},
		{name: "wasm", r: wasm},
		{name: "go-plugin", r: open(t, nil)},
	}
	cases := []struct {
		name, expected, answer string
		want                   float64
	}{
		{name: "match", expected: "42", answer: "42", want: 1},
		{name: "mismatch", expected: "42", answer: "41", want: 0},
		{name: "case differs", expected: "Paris", answer: "paris", want: 0},
		{name: "both empty", expected: "", answer: "", want: 1},
		{name: "escapes", expected: "say \"hi\"\n\\ é", answer: "say \"hi\"\n\\ é", want: 1},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			for _, c := range cases {
				got, err := tr.r.Reward(context.Background(), sdk.RewardRequest{Expected: c.expected, Trace: sdk.Trace{FinalAnswer: c.answer}})
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if got.Score != c.want {
					t.Errorf("%s: score %v, want %v", c.name, got.Score, c.want)
				}
			}
		})
	}
}

// A configured combination: exact match (normalised) weight 1 plus token F1
// weight 0.5, scores worked by hand from the SQuAD F1 definition.
func TestConfigured(t *testing.T) {
	p := open(t, map[string]string{"rewards": `[{"name": "exact_match", "weight": 1, "normalize": true}, {"name": "token_f1", "weight": 0.5}]`})
	if p.Name() != "rewards" || p.Version() != Version || p.SDKVersion() != sdk.Version {
		t.Fatalf("info: %q %q %q", p.Name(), p.Version(), p.SDKVersion())
	}
	cases := []struct {
		name, expected, answer string
		want                   float64
		info                   map[string]float64
	}{
		{name: "normalised match", expected: "paris", answer: " Paris ", want: 1.5, info: map[string]float64{"exact_match": 1, "token_f1": 1}},
		{name: "partial", expected: "a cat sat down", answer: "the cat sat", want: 0.4, info: map[string]float64{"exact_match": 0, "token_f1": 0.8}},
		{name: "disjoint", expected: "cat", answer: "dog", want: 0, info: map[string]float64{"exact_match": 0, "token_f1": 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := p.Reward(context.Background(), sdk.RewardRequest{Expected: c.expected, Trace: sdk.Trace{FinalAnswer: c.answer}})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Score-c.want) > 1e-12 {
				t.Fatalf("score %v, want %v", got.Score, c.want)
			}
			for k, v := range c.info {
				if math.Abs(got.Info[k]-v) > 1e-12 {
					t.Fatalf("info %v, want %v", got.Info, c.info)
				}
			}
		})
	}
}

func TestConfig_Errors(t *testing.T) {
	tests := []struct {
		name, config, text string
	}{
		{name: "unknown reward", config: `[{"name": "bleu", "weight": 1}]`, text: `unknown reward "bleu"`},
		{name: "misspelt key", config: `[{"name": "exact_match", "wieght": 1}]`, text: `unknown field "wieght"`},
		{name: "not JSON", config: `exact_match`, text: "config rewards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := goplugin.Open(context.Background(), binary, goplugin.Config{Config: map[string]string{"rewards": tt.config}})
			if err == nil {
				p.Close(context.Background())
				t.Fatal("opened")
			}
			if !errors.Is(err, goplugin.ErrStart) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want ErrStart with %q", err, tt.text)
			}
		})
	}
}
