// Package backend picks the gomlx backend that runs ToolBrain's graphs.
//
// The default is "cpu", ToolBrain's own CPU backend (core/backend/cpu):
// pure Go like gomlx's backend ("go") and needing nothing but the binary,
// its matmuls on SIMD kernels, 5-20× faster on the benchmark shape. It
// implements only the ops ToolBrain's graphs use; a graph needing another
// fails to build with an error that suggests "go", which runs everything.
// An XLA backend (CPU or GPU through a PJRT plugin) is used only when the
// configuration names it, and never downloads a plugin: the user points at
// one they installed.
//
// # Why ops run sequentially on the pure-Go backend
//
// gomlx v0.26's pure-Go backend runs independent ops of a graph in parallel
// on a shared worker pool, and matmuls split themselves on the same pool. With
// several independent matmuls on 2 cores this was seen to deadlock (3 runs in
// 30). Executing ops sequentially ("ops_sequential") keeps matmuls parallel
// inside themselves, which is where nearly all the time goes, and cannot
// deadlock. TestGoBackend_NoDeadlock runs such a graph under a timeout.
package backend

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/backends/xla"

	"github.com/toolbrain/toolbrain/core/backend/cpu"
)

// Default is the backend used when the configuration names none. It
// became "cpu" once the whole test suite passed on it (with "go" mapped to
// it, except the tests of "go"'s own options).
const Default = "cpu"

// ErrUnknown is returned for a backend name that is not "go", "cpu" or "xla…".
var ErrUnknown = errors.New("backend: unknown backend")

func init() {
	// gomlx's XLA backend otherwise downloads PJRT plugins from the network
	// the first time it is created. ToolBrain never downloads code at run
	// time: users install a plugin and name it.
	xla.EnableAutoInstall(false)
}

// New returns the backend named by spec:
//
//	"cpu" or ""             ToolBrain's CPU backend with SIMD matmuls
//	                        (default); options "cpu:kernel=avx2,workers=2"
//	"go"                    gomlx's pure-Go backend: every op, slower
//	"xla"                   the first PJRT plugin found (cuda before cpu) in
//	                        PJRT_PLUGIN_LIBRARY_PATH and the standard places
//	"xla:cpu", "xla:cuda"   that PJRT plugin by name
//	"xla:/path/plugin.so"   that PJRT plugin file
//
// Extra comma-separated options after the name are passed to the backend
// ("xla:cuda,tf32").
func New(spec string) (backends.Backend, error) {
	name, opts, _ := strings.Cut(spec, ":")
	switch name {
	case "go":
		return newGo(opts)
	case "", cpu.Name:
		b, err := cpu.New(opts)
		if err != nil {
			return nil, fmt.Errorf("backend %q: %w", spec, err)
		}
		return b, nil
	case "xla":
		if opts != "" {
			plugin, _, _ := strings.Cut(opts, ",")
			if strings.ContainsRune(plugin, filepath.Separator) && !filepath.IsAbs(plugin) {
				return nil, fmt.Errorf("backend %q: a PJRT plugin path must be absolute", spec)
			}
		}
		b, err := xla.New(opts)
		if err != nil {
			return nil, fmt.Errorf("backend %q: %w (install a PJRT plugin and set PJRT_PLUGIN_LIBRARY_PATH, or use backend = \"go\")", spec, err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("%w %q: want \"go\", \"cpu\" or \"xla[:plugin]\"", ErrUnknown, spec)
	}
}

// newGo builds the pure-Go backend. Options are gomlx's simplego options,
// except "parallelism=N", which prints to stdout and re-enables the parallel
// op scheduling that can deadlock.
func newGo(opts string) (backends.Backend, error) {
	config := []string{"ops_sequential"}
	for _, o := range strings.Split(opts, ",") {
		switch {
		case o == "":
		case strings.HasPrefix(o, "parallelism"), o == "ops_parallel":
			return nil, fmt.Errorf("backend \"go:%s\": option %q is not allowed (it can deadlock the worker pool)", opts, o)
		default:
			config = append(config, o)
		}
	}
	b, err := simplego.New(strings.Join(config, ","))
	if err != nil {
		return nil, fmt.Errorf("backend \"go:%s\": %w", opts, err)
	}
	return b, nil
}
