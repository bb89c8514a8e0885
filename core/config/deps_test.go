package config

import (
	"os/exec"
	"strings"
	"testing"
)

// The configuration layer names plugins' limits and MCP servers but links no
// engine: reading toolbrain.toml must not pull in wazero (or the gomlx
// backends), which would make every tool that reads the file as heavy as
// the trainer.
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
	for _, engine := range []string{"github.com/tetratelabs/wazero", "github.com/gomlx/gomlx"} {
		for _, dep := range deps {
			if dep == engine || strings.HasPrefix(dep, engine+"/") {
				t.Errorf("core/config depends on %s (an engine): keep the types configuration names in engine-free packages (runtime/limits, runtime/mcp)", dep)
				break
			}
		}
	}
}
