//go:build wasip1

// Command wasm is the calculator pack's WebAssembly module, written with the
// upstream Extism Go PDK: call_tool decodes the sdk.ToolCallRequest and
// answers with the same Go code as the native calculator.Calculator.
//
// Build (plugins/build.sh does it):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o calculator.wasm ./plugins/packs/calculator/wasm
package main

import (
	"context"
	"encoding/json"

	pdk "github.com/extism/go-pdk"

	"github.com/toolbrain/toolbrain/plugins/packs/calculator"
	"github.com/toolbrain/toolbrain/sdk"
)

//go:wasmexport call_tool
func callTool() int32 {
	var req sdk.ToolCallRequest
	if err := json.Unmarshal(pdk.Input(), &req); err != nil {
		pdk.SetError(err)
		return 1
	}
	resp, err := calculator.Calculator{}.CallTool(context.Background(), req)
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
