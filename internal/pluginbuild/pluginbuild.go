// Package pluginbuild gives tests the WebAssembly plugins built from source by
// plugins/build.sh, running the build once per test process.
//
// # Why the tests build
//
// .wasm files are never committed, so a test that needs one must either find
// it or make it. build.sh is incremental and serialised with flock, so every
// test package can call it and only the first one pays. The build is skipped
// (loudly) only when a toolchain is truly absent and CI is not set; in CI a
// failed build fails the test.
package pluginbuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once   sync.Once
	dir    string
	output []byte
	err    error
)

// Dir builds the plugins (once per process) and returns the directory that
// holds the .wasm files.
func Dir(tb testing.TB) string {
	tb.Helper()
	once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		// internal/pluginbuild/pluginbuild.go → the repository's plugins/.
		plugins := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(file))), "plugins")
		dir = filepath.Join(plugins, "build")
		cmd := exec.Command("bash", filepath.Join(plugins, "build.sh"))
		output, err = cmd.CombinedOutput()
	})
	if err != nil {
		_, noNpm := exec.LookPath("npm")
		_, noGo := exec.LookPath("go")
		if os.Getenv("CI") == "" && (noNpm != nil || noGo != nil) {
			tb.Skipf("SKIPPING: cannot build the WebAssembly plugins here (npm or go missing): %v\n%s", err, output)
		}
		tb.Fatalf("plugins/build.sh failed: %v\n%s", err, output)
	}
	return dir
}

// Path is Dir joined with a file name, e.g. Path(t, "exactmatch-go.wasm").
func Path(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Dir(tb), name)
}
