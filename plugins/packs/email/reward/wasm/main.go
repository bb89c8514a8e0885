//go:build wasip1

// Command wasm (the plugin emailreward-go) is the email-search environment's reward
// (plugins/packs/email/reward: 1 for a correct answer plus small bonuses for
// few turns and for reading the gold message, −1 for a wrong answer, 0 for
// none) as a WebAssembly reward plugin written with the upstream Extism Go
// PDK. It runs the same Go code as the native reward, so both give the same
// scores.
//
// Its configuration (toolbrain.toml [plugins.<name>.config], read with
// config_get, so the manifest asks for the "config" permission) may set
// the keys reward.ConfigKeys names (max_turns, turn_bonus, cite_bonus,
// wrong, broken); none means the defaults.
//
// Build (plugins/build.sh does it, into plugins/build/email-reward.wasm):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o email-reward.wasm ./plugins/packs/email/reward/wasm
//
// It reads its input with pdk.Input and encoding/json, so it runs on any
// Extism host; an email trace is a few KB, which this decodes in about a
// millisecond (exactmatch-go shows the faster, ToolBrain-only way).
package main

import (
	"context"
	"encoding/json"

	pdk "github.com/extism/go-pdk"

	"github.com/toolbrain/toolbrain/plugins/packs/email/reward"
	"github.com/toolbrain/toolbrain/sdk"
)

// loaded is the reward built from the configuration on the first call; an
// instance's configuration never changes.
var loaded *reward.Reward

func load() (reward.Reward, error) {
	if loaded != nil {
		return *loaded, nil
	}
	cfg := map[string]string{}
	for _, k := range reward.ConfigKeys {
		if v, ok := pdk.GetConfig(k); ok {
			cfg[k] = v
		}
	}
	r, err := reward.FromConfig(cfg)
	if err != nil {
		return r, err
	}
	loaded = &r
	return r, nil
}

//go:wasmexport reward
func score() int32 {
	r, err := load()
	if err != nil {
		pdk.SetError(err)
		return 1
	}
	var req sdk.RewardRequest
	if err := json.Unmarshal(pdk.Input(), &req); err != nil {
		pdk.SetError(err)
		return 1
	}
	resp, err := r.Reward(context.Background(), req)
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
