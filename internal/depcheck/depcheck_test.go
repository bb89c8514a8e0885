package depcheck_test

import (
	"os/exec"
	"reflect"
	"testing"

	"github.com/toolbrain/toolbrain/internal/depcheck"
)

func TestMatches(t *testing.T) {
	deps := []string{"errors", "github.com/tetratelabs/wazero", "github.com/tetratelabs/wazero/api", "github.com/tetratelabs/wazeroish", "github.com/toolbrain/toolbrain/sdk"}
	tests := []struct {
		name  string
		roots []string
		want  []string
	}{
		{name: "a root and what is below it, not a longer name", roots: []string{"github.com/tetratelabs/wazero"}, want: []string{"github.com/tetratelabs/wazero", "github.com/tetratelabs/wazero/api"}},
		{name: "several roots, in the order of deps", roots: []string{"github.com/toolbrain/toolbrain", "errors"}, want: []string{"errors", "github.com/toolbrain/toolbrain/sdk"}},
		{name: "none", roots: []string{"github.com/gomlx/gomlx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := depcheck.Matches(deps, tt.roots...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Matches = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	deps, err := depcheck.Deps("", ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"os/exec", "testing", "github.com/toolbrain/toolbrain/internal/depcheck"} {
		if len(depcheck.Matches(deps, want)) == 0 {
			t.Errorf("deps of depcheck lack %s: %q", want, deps)
		}
	}
	if found := depcheck.Matches(deps, "github.com/tetratelabs/wazero"); len(found) > 0 {
		t.Errorf("depcheck depends on %q", found)
	}
	if _, err := depcheck.Deps("", "./no-such-package"); err == nil {
		t.Error("a missing package listed without an error")
	}
}
