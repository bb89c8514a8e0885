package wasmhost

import (
	"log/slog"
	"time"

	"github.com/toolbrain/toolbrain/sdk"
)

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
