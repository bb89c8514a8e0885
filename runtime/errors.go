package runtime

import "errors"

// Sentinel errors of the runtime. Call errors wrap one of them together with
// the plugin's name, the function and the limit involved.
var (
	// ErrTimeout means a call ran past its timeout and was stopped.
	ErrTimeout = errors.New("runtime: plugin timeout exceeded")
	// ErrMemoryLimit means a plugin asked for more memory than its limit.
	ErrMemoryLimit = errors.New("runtime: plugin memory limit exceeded")
	// ErrOutputLimit means a plugin's output was larger than allowed.
	ErrOutputLimit = errors.New("runtime: plugin output limit exceeded")
	// ErrTrap means a plugin trapped (unreachable, out-of-bounds access,
	// division by zero, a panic in a guest language) or exited.
	ErrTrap = errors.New("runtime: plugin trapped")
	// ErrPluginFailed means a plugin function returned a non-zero status,
	// with the message the plugin set through error_set.
	ErrPluginFailed = errors.New("runtime: plugin reported an error")
	// ErrUnknownImport means a module imports a function the host does not
	// offer; it is refused at load time.
	ErrUnknownImport = errors.New("runtime: plugin imports an unknown host function")
	// ErrNoFunction means the plugin does not export the function called.
	ErrNoFunction = errors.New("runtime: plugin does not export function")
	// ErrNoSDKVersion is kept for callers that test for it; the host now
	// assumes the current SDK version for such a plugin (and logs it).
	// It meant neither the manifest nor the module states the
	// SDK version the plugin was built against.
	ErrNoSDKVersion = errors.New("runtime: plugin states no SDK version")
	// ErrClosed means the plugin or host was closed.
	ErrClosed = errors.New("runtime: closed")
	// ErrBadModule means the bytes are not a valid WebAssembly module.
	ErrBadModule = errors.New("runtime: invalid WebAssembly module")
	// ErrBadConfig means a Limits, Permissions or manifest value is invalid.
	ErrBadConfig = errors.New("runtime: invalid plugin configuration")
)
