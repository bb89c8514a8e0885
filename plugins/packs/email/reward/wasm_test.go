package reward_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk/plugintest"
)

// TestWASM_SameScores runs every case through plugins/build/email-reward.wasm
// (built by plugins/build.sh from wasm/ here), configured
// as the case's Reward is, and wants the native scores.
func TestWASM_SameScores(t *testing.T) {
	ctx := context.Background()
	wasm, err := os.ReadFile(pluginbuild.Path(t, "email-reward.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	var m contract.Manifest
	if _, err := toml.DecodeFile(filepath.Join("wasm", "manifest.toml"), &m); err != nil {
		t.Fatal(err)
	}
	h, err := wasmhost.NewHost(ctx, wasmhost.HostConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for _, tt := range rewardCases {
		t.Run(tt.name, func(t *testing.T) {
			cfg := contract.PluginConfig{Grant: contract.Permissions{HostFunctions: []string{"config"}}, Config: map[string]string{}}
			if tt.r.MaxTurns != 0 {
				cfg.Config["max_turns"] = strconv.Itoa(tt.r.MaxTurns)
			}
			for k, v := range map[string]float64{"turn_bonus": tt.r.TurnBonus, "cite_bonus": tt.r.CiteBonus, "wrong": tt.r.Wrong, "broken": tt.r.Broken} {
				if v != 0 {
					cfg.Config[k] = strconv.FormatFloat(v, 'g', -1, 64)
				}
			}
			p, err := h.Load(ctx, wasm, m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(ctx)
			resp, err := p.Reward(ctx, tt.request())
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(resp.Score-tt.want) > 1e-9 {
				t.Errorf("wasm score %v, want %v", resp.Score, tt.want)
			}
		})
	}
	p, err := h.Load(ctx, wasm, m, contract.PluginConfig{Grant: contract.Permissions{HostFunctions: []string{"config"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	plugintest.TestReward(t, p)
}
