// Package wasmhost hosts ToolBrain plugins: tools, rewards, judges, algorithms
// and interpreters compiled to WebAssembly, run on wazero behind Extism's
// plugin ABI so that plugins built with upstream Extism PDKs load unchanged.
//
// A [Host] owns one wazero runtime and a compiled-module cache (on disk when
// [HostConfig.CacheDir] is set). [Host.Load] compiles (or fetches from the
// cache) a module, checks its imports, negotiates its SDK version and returns
// a [Plugin]: a pool of instances that serves concurrent calls, each call on
// its own instance. A Plugin implements every sdk plugin interface
// (sdk.Reward, sdk.GroupReward, sdk.Judge, sdk.Algorithm, sdk.Tool,
// sdk.Interpreter) by calling the kind's exported function with JSON.
//
// # Limits
//
// Every call runs under [limits.Limits]: linear-memory pages (the plugin's own memory
// and the Extism kernel memory it allocates through the host each count
// against it), a wall-clock timeout after which the instance is closed, and a
// cap on output bytes. A plugin that breaks one gets an error naming the
// plugin and the limit (errors.Is with [contract.ErrTimeout], [ErrMemoryLimit],
// [contract.ErrOutputLimit]); the instance is discarded and the Plugin keeps serving.
//
// # Speed
//
// Two things decide how fast a plugin call is. Moving bytes: Extism's ABI
// copies eight bytes per host call, so this host adds toolbrain_input_read
// and toolbrain_output_write ([HostInputRead], [HostOutputWrite]) that copy
// the whole input or output in one. And the timeout: wazero stops a runaway
// plugin by leaving compiled code for Go at every loop head, which a Go
// plugin pays on every branch; [contract.PluginConfig.Trusted] turns that off for
// plugins the user vouches for.
//
// Loading a plugin costs what wazero takes to decode and validate the
// module, which it does even when the compiled code comes from the disk
// cache, plus reading that code back: 37 ms for the 2.5 MB Go reward, of
// which 34 ms is the Go runtime itself (an empty Go module takes that
// long), about 1 ms for AssemblyScript or WAT (BenchmarkLoad_FromDiskCache).
// It happens once per plugin and process. After that, an instance starts
// from the compiled module in 3.5 ms for Go (its runtime's initialisation)
// and 25-30 µs for AssemblyScript or WAT (BenchmarkInstance_Start); pools
// grow by such starts. Callers that care load plugins concurrently with their
// other start-up work.
//
// # Permissions
//
// A plugin has no file system, network or environment, and may call only the
// host functions that both its manifest asks for and the configuration grants
// ([contract.Permissions]); calling another fails with sdk.ErrPermissionDenied.
//
// # Why not github.com/extism/go-sdk
//
// The Extism Go SDK runs its kernel (memory allocator, input and output) as a
// second WebAssembly module, which puts every input byte through two wasm
// calls, and it offers neither an output cap nor a way to tell a memory-limit
// failure from any other trap. The ABI is small (about twenty functions over a
// byte arena), so this package implements the kernel in Go; the ABI it
// implements is described in sdk/ABI.md.
package wasmhost
