// Command rewards is ToolBrain's first-party rewards (plugins/rewards) as a
// go-plugin process: the example of a native plugin, and the same scores as
// the in-process rewards and the WebAssembly exact-match plugin.
//
// Build and configure it in toolbrain.toml:
//
//	go build -o bin/rewards ./plugins/rewards/plugin
//
//	[[rewards]]
//	name = "native"
//	plugin = "bin/rewards"
//	weight = 1.0
//	[rewards.config]
//	rewards = '[{"name": "exact_match", "weight": 1, "normalize": true}, {"name": "token_f1", "weight": 0.5}]'
//
// The rewards key is a JSON list of rewards.Config (name, weight, normalize,
// max_turns); without it the plugin scores exact match alone.
//
// Run by hand it explains that it is a plugin and exits with status 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime/goplugin/serve"
	"github.com/toolbrain/toolbrain/sdk"
)

// Version is the plugin's own version.
const Version = "1.0.0"

func main() {
	r := &configured{}
	err := serve.Serve(serve.Plugin{
		Name:      "rewards",
		Version:   Version,
		Kind:      sdk.KindReward,
		Reward:    r,
		Configure: r.configure,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// configured is the weighted reward list of the latest configuration.
type configured struct {
	mu sync.RWMutex
	w  *rewards.Weighted
}

// rewardConfig is rewards.Config with JSON names.
type rewardConfig struct {
	Name      string  `json:"name"`
	Weight    float64 `json:"weight"`
	MaxTurns  int     `json:"max_turns"`
	Normalize bool    `json:"normalize"`
}

func (c *configured) configure(cfg map[string]string) error {
	list := []rewards.Config{{Name: rewards.NameExactMatch, Weight: 1}}
	if s, ok := cfg["rewards"]; ok {
		var rc []rewardConfig
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields() // a misspelt key must not be ignored silently
		if err := dec.Decode(&rc); err != nil {
			return fmt.Errorf("config rewards: %w", err)
		}
		list = list[:0]
		for _, r := range rc {
			list = append(list, rewards.Config{Name: r.Name, Weight: r.Weight, MaxTurns: r.MaxTurns, Normalize: r.Normalize})
		}
	}
	w, err := rewards.FromConfig(list)
	if err != nil {
		return fmt.Errorf("config rewards: %w", err)
	}
	c.mu.Lock()
	c.w = w
	c.mu.Unlock()
	return nil
}

// Reward implements sdk.Reward.
func (c *configured) Reward(ctx context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	c.mu.RLock()
	w := c.w
	c.mu.RUnlock()
	if w == nil {
		return sdk.RewardResponse{}, fmt.Errorf("%w: not configured", sdk.ErrInvalidRequest)
	}
	return w.Reward(ctx, req)
}
