package pack_test

import (
	"errors"
	"testing"

	"github.com/toolbrain/toolbrain/runtime/pack"
)

// FuzzParseManifest checks that no input panics the toolpack.toml parser,
// that every failure is an ErrBadManifest, and that what it accepts is
// self-consistent. Regression inputs live in testdata/fuzz.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(goodManifest))
	f.Add([]byte("name = \"a\"\nversion = \"1\"\nsdk_version = \"1.0\"\n[module]\nkind = \"goplugin\"\npath = \"a\"\n[[tools]]\nname = \"t\"\ndescription = \"d\"\n"))
	f.Add([]byte("[[tools]]\n[tools.parameters]\n\"$ref\" = \"#/$defs/x\"\n"))
	f.Add([]byte("tools = [{name = \"x\", description = \"d\", parameters = {type = \"object\"}}]\n"))
	f.Add([]byte("name = 'x'\n[limits]\ntimeout = 5\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := pack.ParseManifest("toolpack.toml", data)
		if err != nil {
			if !errors.Is(err, pack.ErrBadManifest) {
				t.Fatalf("error %v is not ErrBadManifest", err)
			}
			return
		}
		if m.Name == "" || len(m.Tools) == 0 || (m.Module.Kind != pack.ModuleWASM && m.Module.Kind != pack.ModuleGoPlugin) {
			t.Fatalf("accepted an incomplete manifest: %+v", m)
		}
	})
}
