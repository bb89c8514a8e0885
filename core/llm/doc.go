// Package llm is the language model the coach asks on behalf of plugins: the
// judge behind the toolbrain_llm host function (sdk.HostLLM).
//
// A plugin granted sdk.PermissionLLM sends an sdk.LLMRequest (chat messages,
// max_tokens, temperature, stop strings) and gets an sdk.LLMResponse (the
// text). The WebAssembly host forwards each such call to
// wasmhost.HostConfig.LLM; an [sdk.LLM] from this package fills that field:
//
//	judge, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: "http://localhost:8000/v1", Model: "qwen2.5-7b-instruct"})
//	host, err := wasmhost.NewHost(ctx, wasmhost.HostConfig{LLM: judge})
//
// Two clients:
//
//   - [Endpoint] posts to an OpenAI-compatible chat-completions endpoint
//     (OpenAI, vLLM, llama.cpp's server, Ollama, TGI, LiteLLM ...) over
//     net/http, retrying rate limits, server errors and transport failures
//     with capped exponential backoff. It is safe for concurrent use: each
//     call is one independent HTTP request.
//   - [Local] answers with a checkpoint on this machine: the messages are
//     rendered with the checkpoint's chat template (add_generation_prompt),
//     tokenized, and decoded by core/generate. It is safe for concurrent use;
//     calls run one at a time by default (see [LocalOptions.MaxConcurrent]).
//
// # Request semantics, the same for both clients
//
//   - MaxTokens 0 means the client's default ([EndpointConfig.MaxTokens],
//     [LocalOptions.MaxTokens], else [DefaultMaxTokens]).
//   - Temperature 0 means greedy decoding. The Endpoint therefore always
//     sends "temperature" (0 included): leaving it out would let the server
//     pick its own default, usually 1.
//   - The text ends before the first stop string, which is not included, as
//     in OpenAI's API.
//   - A request with no messages, a message without a role, or a negative
//     MaxTokens or Temperature fails with [ErrRequest] before anything is sent
//     or decoded.
//
// # Cancellation
//
// Complete returns as soon as its context is done, with an error that wraps
// ctx.Err(): an Endpoint aborts the HTTP request in flight and any wait
// between retries; a Local stops decoding between tokens. The WebAssembly
// host passes the plugin call's context, so the plugin's own limits.timeout
// (2 s by default) bounds its judge calls too: grant plugins that ask a
// model a longer one.
package llm
