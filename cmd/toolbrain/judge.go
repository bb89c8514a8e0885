package main

import (
	"context"
	"fmt"
	"os"

	"github.com/BurntSushi/toml"

	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/runtime"
	"github.com/toolbrain/toolbrain/sdk"
)

// judgeLLM builds the judge model of cfg's [judge] table, which answers the
// toolbrain_llm calls of plugins. It returns nil and a no-op close when no
// judge is configured: the runtime then fails those calls saying so. A
// local checkpoint is loaded now, so that a broken one fails before any
// plugin runs.
func judgeLLM(cfg config.Config) (llm.Client, func(), error) {
	j := cfg.Judge
	switch {
	case j.Endpoint != "":
		key := ""
		if j.APIKeyEnv != "" {
			key = os.Getenv(j.APIKeyEnv)
		}
		e, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: j.Endpoint, Model: j.Model, APIKey: key, Timeout: j.Timeout, MaxTokens: j.MaxTokens})
		if err != nil {
			return nil, func() {}, fmt.Errorf("judge.endpoint: %w", err)
		}
		return e, func() {}, nil
	case j.Checkpoint != "":
		l, err := llm.OpenLocal(llm.LocalConfig{Model: j.Checkpoint, Backend: cfg.Core.Backend, HubCacheDir: cfg.Hub.CacheDir,
			Options: llm.LocalOptions{MaxTokens: j.MaxTokens}})
		if err != nil {
			return nil, func() {}, fmt.Errorf("judge.checkpoint: %w", err)
		}
		return l, func() { l.Close() }, nil
	}
	return nil, func() {}, nil
}

// pluginHost starts the WebAssembly host of cfg ([plugins] cache) with the
// judge model of [judge] answering toolbrain_llm, and returns both;
// release closes them.
func pluginHost(ctx context.Context, cfg config.Config) (h *runtime.Host, judge llm.Client, release func(), err error) {
	judge, closeJudge, err := judgeLLM(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	h, err = runtime.NewHost(ctx, runtime.HostConfig{CacheDir: cfg.Plugins.CacheDirOrDefault(), LLM: hostLLM(judge)})
	if err != nil {
		closeJudge()
		return nil, nil, nil, err
	}
	return h, judge, func() { h.Close(ctx); closeJudge() }, nil
}

// hostLLM is the runtime's toolbrain_llm callback for c; nil when c is.
func hostLLM(c llm.Client) func(context.Context, sdk.LLMRequest) (sdk.LLMResponse, error) {
	if c == nil {
		return nil
	}
	return c.Complete
}

// readManifest decodes the runtime.Manifest of a bare .wasm file (the
// manifest.toml beside a plugin's source, such as judge-go's). Unknown keys
// are errors, as in toolbrain.toml.
func readManifest(path string) (runtime.Manifest, error) {
	var m runtime.Manifest
	md, err := toml.DecodeFile(path, &m)
	if err != nil {
		return m, fmt.Errorf("manifest %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return m, fmt.Errorf("manifest %s: unknown key %q", path, und[0].String())
	}
	return m, nil
}
