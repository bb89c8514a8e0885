//go:build wasip1

// Command wasm is ToolBrain's default CodeAct interpreter plugin: the
// Starlark interpreter of package interp behind the interpreter plugin ABI
// (sdk/ABI.md, "Interpreter plugins"). It exports interpret, which runs one
// turn of code and keeps the globals for the next call on the same instance,
// and calls tools through the toolbrain_call_tool host function.
//
// Build (plugins/build.sh does it, and copies the module to
// runtime/sandbox/embedded/ for embedding):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags="-s -w" -o interpreter-starlark.wasm ./plugins/interpreter/starlark/wasm
package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/metrics"

	pdk "github.com/extism/go-pdk"

	"github.com/toolbrain/toolbrain/plugins/interpreter/starlark/interp"
	"github.com/toolbrain/toolbrain/sdk"
)

//go:wasmimport extism:host/user toolbrain_call_tool
func hostCallTool(offset uint64) uint64

// callTool sends a JSON request through the host and returns its answer.
func callTool(req []byte) ([]byte, error) {
	mem := pdk.AllocateBytes(req)
	off := hostCallTool(mem.Offset())
	if off == 0 {
		return nil, fmt.Errorf("the host returned no response")
	}
	return pdk.ParamBytes(off), nil
}

// hostInputLength is the cheapest host function there is; the session calls
// it as its Yield, to hand the host's Go runtime a safe point.
//
//go:wasmimport extism:host/env input_length
func hostInputLength() uint64

// warmUp runs one throwaway turn when the instance starts (the host starts
// instances ahead of time, in the background), so that the first turn of an
// episode does not pay for the guest's lazy initialisation: encoding/json's
// type caches, the Starlark compiler's tables, the first heap growth.
// Measured: a trivial episode took 2.7 ms at p50 without it.
func warmUp() {
	s := interp.NewSession(nil)
	resp := s.Interpret(sdk.InterpretRequest{Code: "import json\nx = [i for i in range(10)]\nprint(f'{x!r} {json.dumps(x)}')\nfinal_answer(x)"})
	b, _ := json.Marshal(resp)
	var req sdk.InterpretRequest
	_ = json.Unmarshal([]byte(`{"code":"x","tools":[{"name":"t","parameters":{"type":"object"}}],"max_steps":1}`), &req)
	_ = b
}

func init() { warmUp() }

// session is the episode's: interpret_reset replaces it when the host hands
// the instance to the next episode.
var session = newSession()

func newSession() *interp.Session {
	s := interp.NewSession(callTool)
	s.Yield = func() { hostInputLength() }
	return s
}

//go:wasmexport interpret
func interpret() int32 {
	var req sdk.InterpretRequest
	if err := json.Unmarshal(pdk.Input(), &req); err != nil {
		pdk.SetError(fmt.Errorf("interpret: bad request: %w", err))
		return 1
	}
	resp := session.Interpret(req)
	out, err := json.Marshal(resp)
	if err != nil {
		pdk.SetError(fmt.Errorf("interpret: encode response: %w", err))
		return 1
	}
	pdk.Output(out)
	return 0
}

// resetGCBytes: an episode that allocated more is collected at its reset.
const resetGCBytes = 4 << 20

var (
	allocs        = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocsAtReset uint64
)

// interpretReset drops the episode's session (its globals and output), so
// that the next episode on this instance starts as on a fresh one
// (sdk/ABI.md). An episode that allocated more than resetGCBytes is
// collected now, so that its garbage does not grow the next one's heap; a
// small one is not (a collection takes 4 ms, three times a trivial
// episode).
//
//go:wasmexport interpret_reset
func interpretReset() int32 {
	session = newSession()
	metrics.Read(allocs)
	if a := allocs[0].Value.Uint64(); a-allocsAtReset > resetGCBytes {
		runtime.GC()
	}
	metrics.Read(allocs)
	allocsAtReset = allocs[0].Value.Uint64()
	return 0
}

//go:wasmexport toolbrain_sdk_version
func sdkVersion() int32 {
	pdk.OutputString(sdk.Version)
	return 0
}

func main() {}
