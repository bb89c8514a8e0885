package contract

import "errors"

// Sentinel errors that every plugin host (runtime/wasmhost, runtime/goplugin)
// returns for the same failure, whatever the transport. Call errors wrap one
// of them together with the plugin's name, the function and the limit
// involved. The WebAssembly host adds its own (memory limit, trap, bad
// module) in runtime/wasmhost.
var (
	// ErrTimeout means a call ran past its timeout and was stopped.
	ErrTimeout = errors.New("runtime: plugin timeout exceeded")
	// ErrOutputLimit means a plugin's output was larger than allowed.
	ErrOutputLimit = errors.New("runtime: plugin output limit exceeded")
	// ErrPluginFailed means a plugin function returned a non-zero status,
	// with the message the plugin set (through error_set in WebAssembly).
	ErrPluginFailed = errors.New("runtime: plugin reported an error")
	// ErrNoFunction means the plugin does not export the function called.
	ErrNoFunction = errors.New("runtime: plugin does not export function")
	// ErrClosed means the plugin or host was closed.
	ErrClosed = errors.New("runtime: closed")
	// ErrBadConfig means a Limits, Permissions or manifest value is invalid.
	ErrBadConfig = errors.New("runtime: invalid plugin configuration")
)
