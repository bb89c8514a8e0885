package sdk_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/toolbrain/toolbrain/sdk"
)

// A host checks a plugin's SDK version before loading it.
func ExampleNegotiate() {
	fmt.Println(sdk.Negotiate(sdk.Version, "1.0"))
	fmt.Println(sdk.Negotiate("1.0", "2.0"))
	// Output:
	// <nil>
	// sdk: incompatible SDK version: plugin was built for SDK 2.0, host speaks SDK 1.0; rebuild the plugin against SDK 1.x
}

// The trainer flattens a trace into ids, a loss mask and old logprobs.
func ExampleTrace_Sequence() {
	tr := sdk.Trace{Turns: []sdk.Turn{{Tokens: &sdk.TokenSpans{
		PromptIDs: []int32{10, 11}, GeneratedIDs: []int32{12}, Logprobs: []float32{-0.5}, ObservationIDs: []int32{13},
	}}}}
	s, _ := tr.Sequence()
	fmt.Println(s.IDs, s.Mask, s.Logprobs)
	// Output: [10 11 12 13] [0 0 1 0] [0 0 -0.5 0]
}

// What a reward plugin receives on its input.
func ExampleRewardRequest() {
	b, _ := json.Marshal(sdk.RewardRequest{Expected: "4", Trace: sdk.Trace{FinalAnswer: "4"}})
	fmt.Println(string(b))
	// Output: {"expected":"4","trace":{"final_answer":"4","turns":null,"timings":{}}}
}

// An LLMFunc turns a function into an sdk.LLM, for a test's scripted model
// or a wrapper around another model.
func ExampleLLMFunc() {
	var model sdk.LLM = sdk.LLMFunc(func(_ context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
		return sdk.LLMResponse{Text: "echo: " + req.Messages[len(req.Messages)-1].Content}, nil
	})
	resp, err := model.Complete(context.Background(), sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: "hi"}}})
	fmt.Println(resp.Text, err)
	// Output:
	// echo: hi <nil>
}
