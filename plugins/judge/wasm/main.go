//go:build wasip1

// Command wasm (the plugin judge-go) is ToolBrain's LLM judges as a WebAssembly judge plugin
// written with the upstream Extism Go PDK. It runs plugins/judge: it renders
// the group's traces into a prompt, asks the coach's judge model through the
// toolbrain_llm host function, reads the verdict from the answer (asking
// once more when it cannot) and outputs it. Its config key style picks the
// judge: "ranking" (the default) outputs {"ranking": [...], "scores": [...]},
// scores spaced linearly from 1 (best) to 0 (worst); "relative" (RULER's
// style) {"scores": [...]} from 0 to 1; "correctness" (ART·E's) a score of
// 1 or 0 per trace against the expected answer.
//
// Its manifest (manifest.toml, next to this file) asks for the "llm"
// permission, to call toolbrain_llm, and "config", to read its optional
// config (toolbrain.toml's [plugins.<name>.config], through config_get):
// style, max_tokens, max_prompt_chars and rubric, as in judge.FromConfig.
// Both must be granted: without "config" every call fails at config_get,
// without "llm" every group of two or more traces fails at toolbrain_llm.
// The manifest's timeout is long because a call lasts as long as the
// model takes to answer, twice when the first answer is unreadable.
//
// Build (plugins/build.sh does it, into plugins/build/judge.wasm):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o judge.wasm ./plugins/judge/wasm
package main

import (
	"encoding/json"
	"errors"
	"fmt"

	pdk "github.com/extism/go-pdk"

	"github.com/toolbrain/toolbrain/plugins/judge"
	"github.com/toolbrain/toolbrain/sdk"
)

// toolbrainLLM is the host's LLM: it takes the offset of an sdk.LLMRequest
// as JSON in kernel memory and returns the offset of an sdk.LLMResponse.
// Without the llm permission the host stops the call with
// sdk.ErrPermissionDenied; it never returns an error to the plugin.
//
//go:wasmimport extism:host/user toolbrain_llm
func toolbrainLLM(offset uint64) uint64

// ask is judge.Ask over toolbrain_llm.
func ask(req sdk.LLMRequest) (sdk.LLMResponse, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return sdk.LLMResponse{}, fmt.Errorf("encode %s request: %w", sdk.HostLLM, err)
	}
	in := pdk.AllocateBytes(b)
	off := toolbrainLLM(in.Offset())
	in.Free()
	if off == 0 {
		return sdk.LLMResponse{}, errors.New(sdk.HostLLM + " returned no result")
	}
	out := pdk.FindMemory(off)
	var resp sdk.LLMResponse
	err = json.Unmarshal(out.ReadBytes(), &resp)
	out.Free()
	if err != nil {
		return sdk.LLMResponse{}, fmt.Errorf("decode %s result: %w", sdk.HostLLM, err)
	}
	return resp, nil
}

// loaded is built on the first call; an instance's config never changes.
var loaded judge.GroupJudge

func load() (judge.GroupJudge, error) {
	if loaded != nil {
		return loaded, nil
	}
	m := map[string]string{}
	for _, k := range judge.ConfigKeys() {
		if v, ok := pdk.GetConfig(k); ok {
			m[k] = v
		}
	}
	j, err := judge.FromConfig(m)
	if err != nil {
		return nil, err
	}
	loaded = j
	return j, nil
}

//go:wasmexport judge
func judgeFn() int32 {
	r, err := load()
	if err != nil {
		pdk.SetError(fmt.Errorf("judge-go: config: %w", err))
		return 1
	}
	var req sdk.JudgeRequest
	if err := json.Unmarshal(pdk.Input(), &req); err != nil {
		pdk.SetError(fmt.Errorf("judge-go: decode the judge request: %w", err))
		return 1
	}
	resp, err := r.Judge(req, ask)
	if err != nil {
		pdk.SetError(fmt.Errorf("judge-go: %w", err))
		return 1
	}
	if err := pdk.OutputJSON(resp); err != nil {
		pdk.SetError(fmt.Errorf("judge-go: encode the response: %w", err))
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
