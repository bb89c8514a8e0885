package config

import (
	"testing"

	"github.com/toolbrain/toolbrain/internal/depcheck"
)

// The configuration layer names plugins' limits and MCP servers but links no
// engine: reading toolbrain.toml must not pull in wazero (or the gomlx
// backends), which would make every tool that reads the file as heavy as
// the trainer.
func TestDeps_NoEngine(t *testing.T) {
	depcheck.Without(t, "keep the types configuration names in engine-free packages (runtime/limits, runtime/contract, runtime/mcp)",
		"github.com/tetratelabs/wazero", "github.com/gomlx/gomlx")
}
