package contract_test

import (
	"testing"

	"github.com/toolbrain/toolbrain/internal/depcheck"
)

// TestDeps_NoEngine keeps the contract engine-free, so that runtime/goplugin,
// runtime/pack and configuration readers can name a Manifest or an
// ErrTimeout without linking a plugin engine.
func TestDeps_NoEngine(t *testing.T) {
	depcheck.Without(t, "keep runtime/contract to plain types and errors",
		"github.com/tetratelabs/wazero", "github.com/hashicorp/go-plugin", "github.com/gomlx/gomlx",
		"github.com/toolbrain/toolbrain/runtime/wasmhost", "github.com/toolbrain/toolbrain/runtime/goplugin")
}
