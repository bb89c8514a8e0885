package goplugin

import "errors"

// Sentinel errors of the go-plugin transport. Errors of a call also wrap the
// shared sentinels of runtime/contract where the failure is the same as a WebAssembly
// plugin's (contract.ErrTimeout, contract.ErrOutputLimit,
// contract.ErrPluginFailed, contract.ErrNoFunction, contract.ErrClosed), so that
// callers test for them once for both transports.
var (
	// ErrCrashed means the plugin process exited or became unreachable
	// during a call. The call is not retried (it may have had effects);
	// the next call starts a new process.
	ErrCrashed = errors.New("goplugin: plugin process crashed")
	// ErrStart means the plugin process could not be started or did not
	// complete the handshake: not a ToolBrain plugin, an unsupported
	// protocol, a start timeout, or a failing Configure.
	ErrStart = errors.New("goplugin: plugin process failed to start")
	// ErrTransport means a call failed in gRPC for another reason.
	ErrTransport = errors.New("goplugin: transport error")
)
