package goplugin_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/toolbrain/toolbrain/runtime"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/sdk"
)

func ExampleOpen() {
	ctx := context.Background()
	// The plugin binary here is this test binary serving the first-party
	// rewards (see helper_test.go); a real one is a program built with
	// package serve, such as plugins/goplugin/rewards.
	path := os.Args[0]
	p, err := goplugin.Open(ctx, path, goplugin.Config{
		Args:   []string{"-test.run=^$"},
		Env:    []string{helperEnv + "=rewards"},
		Kind:   sdk.KindReward,
		Limits: runtime.Limits{Timeout: time.Second},
		Config: map[string]string{"rewards": `[{"name": "token_f1", "weight": 1}]`},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)

	r, err := p.Reward(ctx, sdk.RewardRequest{Expected: "a cat sat down", Trace: sdk.Trace{FinalAnswer: "the cat sat"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s (%s plugin, SDK %s): score %.2f\n", p.Name(), p.Kind(), p.SDKVersion(), r.Score)
	// Output:
	// rewards (reward plugin, SDK 1.0): score 0.80
}
