package rewards_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
	"github.com/toolbrain/toolbrain/sdk/plugintest"
)

func rr(expected, answer string) sdk.RewardRequest {
	return sdk.RewardRequest{Expected: expected, Trace: sdk.Trace{FinalAnswer: answer}}
}

// TestConformance runs the plugintest kit on every first-party reward,
// native and as WebAssembly, with values from the rewards' definitions
// (exact string equality; SQuAD v1.1 token F1).
func TestConformance(t *testing.T) {
	exact := []plugintest.RewardCase{
		{Name: "equal", Request: rr("42", "42"), Want: 1},
		{Name: "different", Request: rr("42", "42.0"), Want: 0},
		{Name: "case matters", Request: rr("Paris", "paris"), Want: 0},
	}
	native := []struct {
		name  string
		r     sdk.Reward
		cases []plugintest.RewardCase
	}{
		{name: "exact_match", r: rewards.ExactMatch{}, cases: exact},
		{name: "exact_match_normalized", r: rewards.ExactMatch{Normalize: true}, cases: []plugintest.RewardCase{{Name: "folded", Request: rr("Paris", " paris\n"), Want: 1}}},
		{name: "token_f1", r: rewards.TokenF1{}, cases: []plugintest.RewardCase{
			{Name: "normalised equal", Request: rr("the cat sat", "The cat, sat!"), Want: 1},
			{Name: "partial", Request: rr("a cat sat down", "the cat sat"), Want: 0.8},
		}},
		{name: "tool_success", r: rewards.ToolSuccess{}},
		{name: "step_efficiency", r: rewards.StepEfficiency{MaxTurns: 4}},
		{name: "weighted", r: &rewards.Weighted{Components: []rewards.Component{
			{Name: "em", Weight: 0.5, Reward: rewards.ExactMatch{}}, {Name: "f1", Weight: 0.5, Reward: rewards.TokenF1{}},
		}}, cases: []plugintest.RewardCase{{Name: "half", Request: rr("a cat sat down", "the cat sat"), Want: 0.4}}},
	}
	for _, n := range native {
		t.Run(n.name, func(t *testing.T) { plugintest.TestReward(t, n.r, n.cases...) })
	}
	h, err := wasmhost.NewHost(context.Background(), wasmhost.HostConfig{CacheDir: filepath.Join(os.TempDir(), "toolbrain-test-wasm-cache")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	for _, file := range []string{"exactmatch-go.wasm", "exactmatch-as.wasm", "exactmatch-wat.wasm"} {
		t.Run(file, func(t *testing.T) {
			p, err := h.LoadFile(context.Background(), pluginbuild.Path(t, file), contract.Manifest{Name: strings.TrimSuffix(file, ".wasm"), Kind: sdk.KindReward, SDKVersion: "1.0"}, contract.PluginConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			plugintest.TestReward(t, p, exact...)
		})
	}
}
