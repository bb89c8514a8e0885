package doccheck

import (
	"reflect"
	"strings"
	"testing"
)

func TestMissing(t *testing.T) {
	got, err := Missing("testdata/src")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"testdata/src/lib/lib.go:15: Bare",
		"testdata/src/lib/lib.go:25: BareType",
		"testdata/src/lib/lib.go:31: DocIface.Bare",
		"testdata/src/lib/lib.go:41: BareConst",
		"testdata/src/lib/lib.go:44: BareVar",
		"testdata/src/lib/lib.go:52: Fields.Bare",
		"testdata/src/lib/lib.go:59: Fields.AfterBlank",
		"testdata/src/lib/lib.go:8: Undocumented",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Missing:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMissing_Errors(t *testing.T) {
	if _, err := Missing("testdata/no-such-dir"); err == nil {
		t.Fatal("no error for a root that does not exist")
	}
}

// Every exported identifier of runtime/ and sdk/ (the surface third parties
// build against, wazero's api package the model) says what it is for.
func TestPublicTreesDocumented(t *testing.T) {
	for _, root := range []string{"../../runtime", "../../sdk"} {
		missing, err := Missing(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range missing {
			t.Errorf("%s has no doc comment", strings.TrimPrefix(m, "../../"))
		}
	}
}
