// Package depcheck lets a test keep heavy packages (an engine: wazero,
// go-plugin, gomlx) out of a package's dependencies, so that an engine-free
// package stays engine-free when someone adds an import.
package depcheck

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// Deps lists the packages pkg depends on, itself and the standard library
// included, as `go list -deps pkg` run in dir does ("" is the current
// directory, the package under test in a test).
func Deps(dir, pkg string) ([]string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(gobin, "list", "-deps", pkg)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w\n%s", pkg, err, stderr.String())
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		return nil, fmt.Errorf("go list -deps %s listed nothing", pkg)
	}
	return deps, nil
}

// Matches returns the deps that are one of roots or a package below one
// (root + "/..."), in the order of deps.
func Matches(deps []string, roots ...string) []string {
	var out []string
	for _, dep := range deps {
		for _, root := range roots {
			if dep == root || strings.HasPrefix(dep, root+"/") {
				out = append(out, dep)
				break
			}
		}
	}
	return out
}

// Without fails t for each of roots that the package in the test's
// directory depends on (itself or a package below it), naming the first
// such dependency and why it is kept out; it skips t when there is no go
// command.
func Without(t testing.TB, why string, roots ...string) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	deps, err := Deps("", ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range roots {
		if found := Matches(deps, root); len(found) > 0 {
			t.Errorf("depends on %s (%d packages of %s): %s", found[0], len(found), root, why)
		}
	}
}
