package wasmhost

import "errors"

// Sentinel errors of the WebAssembly host alone; the ones every host shares
// (timeout, output limit, plugin failure, missing function, closed, bad
// configuration) are in runtime/contract. Call errors wrap one of them
// together with the plugin's name, the function and the limit involved.
var (
	// ErrMemoryLimit means a plugin asked for more memory than its limit.
	ErrMemoryLimit = errors.New("runtime: plugin memory limit exceeded")
	// ErrTrap means a plugin trapped (unreachable, out-of-bounds access,
	// division by zero, a panic in a guest language) or exited.
	ErrTrap = errors.New("runtime: plugin trapped")
	// ErrUnknownImport means a module imports a function the host does not
	// offer; it is refused at load time.
	ErrUnknownImport = errors.New("runtime: plugin imports an unknown host function")
	// ErrNoSDKVersion is kept for callers that test for it; the host now
	// assumes the current SDK version for such a plugin (and logs it).
	// It meant neither the manifest nor the module states the
	// SDK version the plugin was built against.
	ErrNoSDKVersion = errors.New("runtime: plugin states no SDK version")
	// ErrBadModule means the bytes are not a valid WebAssembly module.
	ErrBadModule = errors.New("runtime: invalid WebAssembly module")
)
