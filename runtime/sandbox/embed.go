package sandbox

import (
	"embed"
	"fmt"
)

//go:generate bash ../../plugins/build.sh

// embedded holds embedded/starlark.wasm when plugins/build.sh ran before the
// build, and only a README otherwise.
//
// # Why a directory
//
// A //go:embed of a missing file fails the build; a directory pattern embeds
// whatever it holds. So a fresh clone builds (the binary then reports
// [ErrNoInterpreter]), and a build after plugins/build.sh carries the
// interpreter without a committed binary.
//
//go:embed embedded
var embedded embed.FS

// EmbeddedInterpreter returns the Starlark interpreter module built into this
// binary, or an error wrapping [ErrNoInterpreter] that says how to build it.
func EmbeddedInterpreter() ([]byte, error) {
	b, err := embedded.ReadFile("embedded/starlark.wasm")
	if err != nil {
		return nil, fmt.Errorf("%w: this binary was built before plugins/build.sh; run `go generate ./runtime/sandbox` (or plugins/build.sh) and rebuild, or pass the module in Options.Interpreter", ErrNoInterpreter)
	}
	return b, nil
}
