// Package goplugin hosts ToolBrain plugins that run as separate processes,
// over hashicorp/go-plugin with gRPC: the second transport beside the
// WebAssembly host of package runtime/wasmhost, for plugins that need cgo, real
// network clients, files or many cores.
//
// [Open] starts a plugin binary, completes go-plugin's handshake, calls the
// plugin's Info and negotiates its SDK version. The [Plugin] it returns
// implements the same sdk interfaces as a WebAssembly wasmhost.Plugin
// (sdk.Tool, sdk.Reward, sdk.GroupReward, sdk.Judge, sdk.Algorithm,
// sdk.Interpreter) and the same Call(ctx, function, input), with the same
// JSON contract; its errors wrap the same runtime sentinels (ErrTimeout,
// ErrOutputLimit, ErrPluginFailed, ErrNoFunction, ErrClosed). A plugin
// program serves with package serve.
//
// # Wire
//
// One gRPC service (internal/proto): Info(config) → name, kind, SDK version,
// functions; Call(kind, function, JSON) → JSON or the plugin's error. The
// JSON is the versioned contract of package sdk, so the protobuf schema never
// changes when the contract grows. A second service, Host, runs the other
// way for the host functions (see below).
//
// Calls travel on Stream, one long-lived gRPC stream per process, when the
// plugin's Info says it serves it (every plugin built with package serve
// does): a call is then one message each way, tagged with an id, instead of a
// gRPC call with its own HTTP/2 stream, headers and trailers. The deadline
// and the output limit travel in the request; a call the host gives up on is
// cancelled in the plugin by a cancel message. A plugin built before Stream
// existed is called with Call, with the same results.
//
// # Host functions
//
// A process plugin calls ToolBrain's host functions as a WebAssembly plugin
// does: sdk.HostCallTool (a tool of Config.Tools) and sdk.HostLLM (the
// coach's judge model, Config.LLM). The plugin asks for them in
// serve.Plugin.HostFunctions (sdk.PermissionTool, sdk.PermissionLLM; its
// Info reports them), the user grants them in Config.Grant, and the plugin
// may call what is both asked for and granted ([Plugin.Permissions]); for
// a pack, the manifest's [permissions] must list it too ([Config.Manifest],
// which runtime/pack's GoPlugin opener sets). Plugin code calls
// serve.Host(ctx).LLM or .CallTool on the context of its call, by Stream or
// Call alike.
//
// The host serves them as a second gRPC service, Host, on a connection of
// go-plugin's GRPCBroker: when Grant holds a host function's permission,
// every (re)start of the process opens one before Info, and Info tells the
// plugin its broker id and what is granted; the plugin dials it during
// Info, and the host stops it once Info shows that the plugin asks for
// nothing granted. Each call is checked on both ends: the plugin refuses at
// once what it did not ask for or was not granted, and the host checks
// every call against the plugin's Info, the manifest and Grant, so a
// plugin not built with package serve gets no more.
//
// A call that is not allowed fails in the plugin with an error wrapping
// sdk.ErrPermissionDenied that names the plugin, the function and each fix
// (ask in serve.Plugin.HostFunctions, list it in toolpack.toml, grant it in
// grant.host_functions), as does a call for a function whose Tools or LLM
// is nil ("no tools are configured on this host"). When the plugin returns
// that error, the host's error for the call wraps sdk.ErrPermissionDenied
// as well as contract.ErrPluginFailed. A tool that fails answers with
// IsError set, as for a WebAssembly plugin; an LLM that fails fails the
// host call (serve.ErrHost in the plugin). Host calls carry the plugin
// call's deadline, so Config.LLM's ctx ends when the call times out. They
// do not count against Limits.MaxInstances: they run inside a call that
// does.
//
// # Versions
//
// go-plugin's protocol version is the SDK's major version and the magic
// cookie marks a ToolBrain plugin; a plugin of another major is refused by
// the handshake, one of a newer minor by sdk.Negotiate on Info. Both errors
// wrap sdk.ErrIncompatibleVersion and name both versions.
//
// # One transport
//
// The plugin set has one plugin, served and accepted over gRPC only
// (AllowedProtocols): mixing net/rpc and gRPC plugins in one set was seen
// to fail at random. A net/rpc plugin is refused at Open.
//
// # Crashes, timeouts, logs
//
// A process that dies during a call fails the calls in flight with
// [ErrCrashed], naming the plugin, its path, its exit status and the first
// line of a panic on its stderr; the call is not retried (a tool may have
// had effects) and the next call starts a new process. A process that died
// between calls is restarted by the next call without an error. A call that
// passes Limits.Timeout fails with contract.ErrTimeout (also when the plugin
// answers at the deadline with its context's error); gRPC cancels the
// plugin's context, and the process keeps running (killing it would fail
// every other call in flight).
//
// go-plugin's messages and the plugin's log records (see serve.Logger) go to
// Config.Logger through an hclog-to-slog adapter, with go-plugin's routine
// messages demoted to debug; nothing is written to the host's stderr.
//
// # Cost
//
// A round trip is a message each way on a Unix socket plus the JSON.
// Measured on two quiet cores (go test -run XXX -bench Call_ -benchtime
// 5000x ./runtime/goplugin): a reward on a 2 KB trace, p50 98-121 µs (mean
// 113-138), a tiny call 79-109 µs; the same run of the unary version took
// 190-218 and 112-133 µs. A process starts in 13-15 ms (BenchmarkOpen).
// Two changes made a round trip 40% cheaper: Stream instead of a unary call
// per request, and goccy/go-json instead of encoding/json for the plugin's
// decoding of the request (a 2 KB trace: 8 µs instead of 25-32).
//
// Plugins start with GOMAXPROCS=1: with a gRPC server that handles one call
// at a time per caller, fewer threads mean fewer hand-offs, and it took
// 15-25% off a round trip here (190-216 µs before, for the 2 KB reward). A
// plugin that computes on many cores sets GOMAXPROCS in Config.Env, which
// wins. A WebAssembly call is far cheaper: use a process when the plugin
// needs what WebAssembly cannot give.
//
// A host function call from the plugin is a unary gRPC call on the broker
// connection: a tool call whose plugin asks the LLM once (BenchmarkHostLLM,
// with an LLM that answers at once) took 230-290 µs where a tiny call takes
// 80-110; serving host functions adds nothing measurable to a process start
// (BenchmarkOpen), and nothing to a call that does not use them.
package goplugin
