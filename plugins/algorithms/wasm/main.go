//go:build wasip1

// Command wasm is ToolBrain's first-party RL algorithms (GRPO,
// Dr. GRPO, RLOO, REINFORCE++-baseline, DPO pairs) as a WebAssembly
// algorithm plugin written with the upstream Extism Go PDK. It runs the same
// Go code as the native plugins/algorithms package, so both give bit-identical
// advantages.
//
// The algorithm is chosen by the plugin's config (toolbrain.toml's
// [plugins.<name>.config], read with config_get, so the manifest asks for the
// "config" permission): name, scale_rewards, epsilon, normalize_advantages,
// as in algorithms.Config; no key means GRPO with TRL's defaults.
//
// Build (plugins/build.sh does it, into plugins/build/algorithms.wasm):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o algorithms.wasm ./plugins/algorithms/wasm
package main

import (
	"context"
	"encoding/json"

	pdk "github.com/extism/go-pdk"

	"github.com/toolbrain/toolbrain/plugins/algorithms"
	"github.com/toolbrain/toolbrain/sdk"
)

// configKeys are the keys of algorithms.ConfigFromMap.
var configKeys = []string{"name", "scale_rewards", "epsilon", "normalize_advantages"}

// alg is built on the first call; an instance's config never changes.
var alg sdk.Algorithm

func load() (sdk.Algorithm, error) {
	if alg != nil {
		return alg, nil
	}
	m := map[string]string{}
	for _, k := range configKeys {
		if v, ok := pdk.GetConfig(k); ok {
			m[k] = v
		}
	}
	cfg, err := algorithms.ConfigFromMap(m)
	if err != nil {
		return nil, err
	}
	if alg, err = algorithms.FromConfig(cfg); err != nil {
		return nil, err
	}
	return alg, nil
}

//go:wasmexport advantages
func advantages() int32 {
	a, err := load()
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	var req sdk.AdvantageRequest
	if err := json.Unmarshal(pdk.Input(), &req); err != nil {
		pdk.SetError(err)
		return 1
	}
	resp, err := a.Advantages(context.Background(), req)
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	if resp.Pairs != nil && len(resp.Pairs) == 0 && resp.Advantages == nil {
		// omitempty would drop the empty list and the host would read "no
		// advantages and no pairs"; say "no pairs" explicitly instead.
		pdk.OutputString(`{"pairs":[]}`)
		return 0
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
