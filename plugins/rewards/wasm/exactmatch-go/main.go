//go:build wasip1

// Command exactmatch-go is the exact-match reward as a WebAssembly plugin
// written in Go with the upstream Extism Go PDK. It scores 1 when the trace's
// final answer equals the expected answer and 0 otherwise, by calling the same
// Go code as the native first-party reward (plugins/rewards.ExactMatch).
//
// Build (plugins/build.sh does it):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o exactmatch-go.wasm ./plugins/rewards/wasm/exactmatch-go
//
// # Why it does not use pdk.Input and encoding/json
//
// Go compiled to wasm is slow at exactly what a reward does most: go-pdk's
// Input makes one host call per 8 input bytes (a 2 KB trace: 256 calls,
// 50 µs), and encoding/json spends about 350 ns per byte (0.7 ms). So the
// input arrives in one call through ToolBrain's toolbrain_input_read, the
// output leaves through toolbrain_output_write, and rewards.DecodeHostAnswers
// reads only the two fields the reward compares, with encoding/json's
// semantics, stopping after them when the request is in the host's order. Keeping encoding/json, fmt and reflect out of the module also
// makes it a third smaller, which is what starting it costs (wazero
// validates every function of a module, even one from its cache).
// A plugin that must run on any Extism host would use pdk.Input instead.
package main

import (
	"context"
	"math"
	"strconv"
	"unsafe"

	pdk "github.com/extism/go-pdk"

	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/sdk"
)

//go:wasmimport extism:host/user toolbrain_input_read
func inputRead(dst, n uint64) uint64

//go:wasmimport extism:host/user toolbrain_output_write
func outputWrite(src, n uint64)

// in and out are reused across calls: no garbage per call, so the Go
// collector (which stops the only thread wasm has) practically never runs.
var in, out []byte

// input reads the call's input into in.
func input() []byte {
	in = in[:cap(in)]
	if len(in) == 0 {
		in = make([]byte, 4096)
	}
	n := inputRead(addr(in), uint64(len(in)))
	if n > uint64(len(in)) {
		in = make([]byte, n)
		n = inputRead(addr(in), n)
	}
	return in[:n]
}

func addr(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

func output(b []byte) {
	if len(b) == 0 {
		outputWrite(0, 0)
		return
	}
	outputWrite(addr(b), uint64(len(b)))
}

//go:wasmexport reward
func reward() int32 {
	req, err := rewards.DecodeHostAnswers(input())
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	resp, err := rewards.ExactMatch{}.Reward(context.Background(), req)
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	if math.IsNaN(resp.Score) || math.IsInf(resp.Score, 0) {
		pdk.SetErrorString("exactmatch: score is not finite")
		return 1
	}
	// {"score":S}: a finite float in strconv's shortest form is valid JSON.
	out = strconv.AppendFloat(append(out[:0], `{"score":`...), resp.Score, 'g', -1, 64)
	out = append(out, '}')
	output(out)
	return 0
}

//go:wasmexport toolbrain_sdk_version
func sdkVersion() int32 {
	pdk.OutputString(sdk.Version)
	return 0
}

func main() {}
