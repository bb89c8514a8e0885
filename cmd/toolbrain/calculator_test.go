package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
	"github.com/toolbrain/toolbrain/internal/pluginbuild"
)

// calculatorPack makes a built calculator pack directory under parent:
// its toolpack.toml and calculator.wasm, the module's sha256 written in by
// `pack build`.
func calculatorPack(t *testing.T, parent string) string {
	t.Helper()
	dir := filepath.Join(parent, "calculator")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{"../../plugins/packs/calculator/toolpack.toml": "toolpack.toml", pluginbuild.Path(t, "calculator.wasm"): "calculator.wasm"} {
		if err := atomicfile.Copy(src, filepath.Join(dir, dst)); err != nil {
			t.Fatal(err)
		}
	}
	mustTB(t, "pack", "build", dir, "-o", t.TempDir())
	return dir
}
