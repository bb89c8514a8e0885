package wasmhost

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/sdk"
)

// withDefaults fills the zero fields of l and validates it. An error
// wraps contract.ErrBadConfig and names the field.
func withDefaults(l limits.Limits) (limits.Limits, error) {
	if l.MemoryPages == 0 {
		l.MemoryPages = limits.DefaultMemoryPages
	}
	if l.Timeout == 0 {
		l.Timeout = limits.DefaultTimeout
	}
	if l.MaxOutputBytes == 0 {
		l.MaxOutputBytes = limits.DefaultMaxOutputBytes
	}
	if l.MaxInstances == 0 {
		l.MaxInstances = runtime.GOMAXPROCS(0)
	}
	switch {
	case l.MemoryPages > 65536:
		return l, fmt.Errorf("%w: memory_pages %d above the 4 GiB of wasm32", contract.ErrBadConfig, l.MemoryPages)
	case l.Timeout < 0:
		return l, fmt.Errorf("%w: negative timeout %v", contract.ErrBadConfig, l.Timeout)
	case l.MaxOutputBytes < 0:
		return l, fmt.Errorf("%w: negative max_output_bytes %d", contract.ErrBadConfig, l.MaxOutputBytes)
	case l.MaxInstances < 0:
		return l, fmt.Errorf("%w: negative max_instances %d", contract.ErrBadConfig, l.MaxInstances)
	}
	return l, nil
}

// HostConfig configures a [Host]. The zero value works: no disk cache, no
// tools, no LLM, logs to slog.Default.
type HostConfig struct {
	// CacheDir keeps compiled modules on disk across processes; "" keeps
	// them in memory only.
	CacheDir string `toml:"cache_dir"`
	// CompileTimeout bounds compiling one module; 0 means
	// limits.DefaultCompileTimeout.
	CompileTimeout time.Duration `toml:"-"`
	// Logger receives plugin log messages; nil means slog.Default().
	Logger *slog.Logger `toml:"-"`
	// Tools answers toolbrain_call_tool; nil makes that call fail.
	Tools sdk.Tool `toml:"-"`
	// LLM answers toolbrain_llm; nil makes that call fail.
	LLM sdk.LLM `toml:"-"`
}
