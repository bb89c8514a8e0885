package goplugin_test

import (
	"testing"

	"github.com/toolbrain/toolbrain/internal/depcheck"
)

// TestDeps_NoWASM keeps the process host free of the WebAssembly engine: it
// shares runtime/contract with runtime/wasmhost, not the engine (opening a
// go-plugin pack is runtime/pack's GoPlugin, which links both hosts).
func TestDeps_NoWASM(t *testing.T) {
	depcheck.Without(t, "the go-plugin host needs only runtime/contract and runtime/limits",
		"github.com/tetratelabs/wazero", "github.com/toolbrain/toolbrain/runtime/wasmhost", "github.com/toolbrain/toolbrain/runtime/pack")
}
