// Package contract is what every plugin host agrees on, whatever carries the
// calls: a plugin's [Manifest] (what it states about itself), the
// [Permissions] it asks for and is granted, the user's [PluginConfig] from
// toolbrain.toml, and the sentinel errors a call wraps ([ErrTimeout],
// [ErrOutputLimit], [ErrPluginFailed], [ErrNoFunction], [ErrClosed],
// [ErrBadConfig]) so that callers test for them once for both transports.
//
// It imports no engine: the WebAssembly host (runtime/wasmhost, wazero) and
// the process host (runtime/goplugin, go-plugin) both build on it, and so
// can configuration readers and the tool-pack format without linking either.
// A plugin's resource limits, the other engine-free part of the contract,
// are in runtime/limits.
package contract
