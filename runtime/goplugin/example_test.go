package goplugin_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/sdk"
)

func ExampleOpen() {
	ctx := context.Background()
	// The plugin binary here is this test binary serving the first-party
	// rewards (see helper_test.go); a real one is a program built with
	// package serve, such as plugins/rewards/plugin.
	path := os.Args[0]
	p, err := goplugin.Open(ctx, path, goplugin.Config{
		Args:   []string{"-test.run=^$"},
		Env:    []string{helperEnv + "=rewards"},
		Kind:   sdk.KindReward,
		Limits: limits.Limits{Timeout: time.Second},
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

// A plugin that asks the coach's judge model: the plugin asks for
// sdk.PermissionLLM (serve.Plugin.HostFunctions), the configuration grants
// it and Config.LLM answers.
func ExampleOpen_hostFunctions() {
	ctx := context.Background()
	judge := sdk.LLMFunc(func(_ context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
		return sdk.LLMResponse{Text: "you said: " + req.Messages[0].Content}, nil
	})
	p, err := goplugin.Open(ctx, os.Args[0], goplugin.Config{
		// This test binary serves a plugin whose tool "llm" asks the LLM.
		Args:  []string{"-test.run=^$"},
		Env:   []string{helperEnv + "=hostfns-tool", askEnv + "=" + sdk.PermissionLLM},
		Grant: contract.Permissions{HostFunctions: []string{sdk.PermissionLLM}},
		LLM:   judge,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(ctx)

	r, err := p.CallTool(ctx, sdk.ToolCallRequest{Name: "llm", Arguments: []byte(`{"text": "hello"}`)})
	fmt.Println(p.Permissions().HostFunctions, r.Content, err)
	// Output:
	// [llm] you said: hello <nil>
}
