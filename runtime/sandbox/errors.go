package sandbox

import "errors"

// Sentinel errors. A [Result]'s Err wraps one of them when the code failed;
// the code's failures are never returned as Run's error, which is reserved
// for the host's own (a closed sandbox, a cancelled context).
var (
	// ErrNoInterpreter means no interpreter module is available: the binary
	// was built without the embedded one and Options.Interpreter is nil.
	ErrNoInterpreter = errors.New("sandbox: no interpreter module")
	// ErrSyntax means the code did not parse or named an undefined
	// variable; nothing ran.
	ErrSyntax = errors.New("sandbox: syntax error")
	// ErrRuntime means the code failed while running.
	ErrRuntime = errors.New("sandbox: runtime error")
	// ErrSteps means the code ran past its execution-step cap.
	ErrSteps = errors.New("sandbox: execution step limit exceeded")
	// ErrTimeout means the code ran past its wall-clock timeout.
	ErrTimeout = errors.New("sandbox: timeout exceeded")
	// ErrMemory means the code needed more memory than its cap.
	ErrMemory = errors.New("sandbox: memory limit exceeded")
	// ErrOutput means the code printed (or answered) more than its cap.
	ErrOutput = errors.New("sandbox: output limit exceeded")
	// ErrTool means a tool call failed: the tool's own error, or
	// arguments refused by its schema or the size cap.
	ErrTool = errors.New("sandbox: tool call failed")
	// ErrToolCalls means the episode made more tool calls than its cap.
	ErrToolCalls = errors.New("sandbox: tool call limit exceeded")
	// ErrCodeTooLarge means the code is longer than Options.MaxCodeBytes.
	ErrCodeTooLarge = errors.New("sandbox: code too large")
	// ErrCrashed means the interpreter trapped for another reason; the
	// episode goes on with a fresh interpreter.
	ErrCrashed = errors.New("sandbox: interpreter crashed")
	// ErrEpisodeDone means Run was called after final_answer.
	ErrEpisodeDone = errors.New("sandbox: episode already ended with final_answer")
	// ErrClosed means the sandbox or episode was closed.
	ErrClosed = errors.New("sandbox: closed")
)
