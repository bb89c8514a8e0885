package contract_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps_NoEngine keeps the contract engine-free: neither wazero nor
// go-plugin's process machinery (nor gomlx) may enter its dependencies, so
// that runtime/goplugin and configuration readers can name a Manifest or an
// ErrTimeout without linking the WebAssembly runtime.
func TestDeps_NoEngine(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages, not a dependency list: %q", len(deps), out)
	}
	engines := []string{
		"github.com/tetratelabs/wazero",
		"github.com/hashicorp/go-plugin",
		"github.com/gomlx/gomlx",
		"github.com/toolbrain/toolbrain/runtime/wasmhost",
		"github.com/toolbrain/toolbrain/runtime/goplugin",
	}
	for _, engine := range engines {
		for _, dep := range deps {
			if dep == engine || strings.HasPrefix(dep, engine+"/") {
				t.Errorf("runtime/contract depends on %s (an engine): keep the contract to plain types and errors", dep)
				break
			}
		}
	}
}
