//go:build wasip1

// Command exactmatch-go is the exact-match reward as a WebAssembly plugin
// written with the upstream Extism Go PDK. It scores 1 when the trace's final
// answer equals the expected answer and 0 otherwise, by calling the same Go
// code as the native first-party reward (plugins/rewards.ExactMatch).
//
// Build (plugins/build.sh does it):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o exactmatch-go.wasm ./plugins/wasm/exactmatch-go
package main

import (
	"context"
	"encoding/json"

	pdk "github.com/extism/go-pdk"

	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/sdk"
)

//go:wasmexport reward
func reward() int32 {
	// Decode only the two fields the reward reads: encoding/json under Go's
	// wasm backend costs about a microsecond per trace byte when it builds
	// every turn, and skipping is several times cheaper.
	var in struct {
		Expected string `json:"expected"`
		Trace    struct {
			FinalAnswer string `json:"final_answer"`
		} `json:"trace"`
	}
	if err := json.Unmarshal(pdk.Input(), &in); err != nil {
		pdk.SetError(err)
		return 1
	}
	req := sdk.RewardRequest{Expected: in.Expected, Trace: sdk.Trace{FinalAnswer: in.Trace.FinalAnswer}}
	resp, err := rewards.ExactMatch{}.Reward(context.Background(), req)
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	if err := pdk.OutputJSON(resp); err != nil {
		pdk.SetError(err)
		return 1
	}
	return 0
}

//go:wasmexport toolbrain_sdk_version
func sdkVersion() int32 {
	pdk.OutputString(sdk.Version)
	return 0
}

func main() {}
