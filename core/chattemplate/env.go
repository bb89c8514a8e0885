package chattemplate

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/parser"
)

// The environment reproduces the one transformers builds in
// _compile_jinja_template: a sandbox with trim_blocks and lstrip_blocks, the
// loopcontrols extension, the {% generation %} tag, a tojson filter that is
// Python's json.dumps, and the globals raise_exception and strftime_now.
// It is built once and shared, read-only, by every Template.

// maxRange is the sandbox's bound on range() (jinja2.sandbox.MAX_RANGE).
const maxRange = 100000

var sharedEnv = newEnvironment()

func newEnvironment() *exec.Environment {
	filters := exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters)
	_ = filters.Replace("tojson", filterToJSON)
	_ = filters.Replace("items", filterItems)
	_ = filters.Replace("reverse", filterReverse)
	_ = filters.Replace("dictsort", filterDictSort)

	tests := exec.NewTestSet(map[string]exec.TestFunction{}).Update(builtins.Tests)

	// Templates come from downloaded checkpoints: like transformers (which
	// gives Jinja no loader), refuse everything that reads other files.
	cs := map[string]parser.ControlStructureParser{}
	for _, name := range []string{"autoescape", "block", "filter", "for", "if", "macro", "raw", "set", "with", "do", "break", "continue", "call", "macro"} {
		if p, ok := builtins.ControlStructures.Get(name); ok {
			cs[name] = p
		}
	}
	cs["generation"] = generationParser
	cs["macro"] = boundedMacroParser

	methods := builtins.Methods
	methods.Dict = dictMethods()
	methods.Str = strMethods()

	globals := exec.EmptyContext().Update(builtins.GlobalFunctions)
	globals.Set("range", rangeFunction)

	return &exec.Environment{
		Context:           globals,
		Filters:           filters,
		Tests:             tests,
		ControlStructures: exec.NewControlStructureSet(cs),
		Methods:           methods,
	}
}

// renderState carries what one Render call needs from the template globals.
type renderState struct {
	raised *string // message given to raise_exception, if it was called
	now    time.Time
}

func (s *renderState) globals() map[string]any {
	return map[string]any{
		"raise_exception": func(_ *exec.Evaluator, params *exec.VarArgs) (any, error) {
			msg := ""
			if len(params.Args) > 0 {
				msg = params.Args[0].String()
			}
			s.raised = &msg
			return nil, errors.New(msg)
		},
		"strftime_now": func(_ *exec.Evaluator, params *exec.VarArgs) (any, error) {
			if len(params.Args) != 1 || !params.Args[0].IsString() {
				return nil, errors.New("strftime_now() takes one string argument")
			}
			return strftime(s.now, params.Args[0].String()), nil
		},
	}
}

// rangeFunction is range() with the sandbox's size limit; the engine's own
// streams values through a goroutine with no bound.
func rangeFunction(_ *exec.Evaluator, params *exec.VarArgs) ([]int, error) {
	start, stop, step := 0, 0, 1
	for _, a := range params.Args {
		if !a.IsInteger() {
			return nil, errors.New("range() arguments must be integers")
		}
	}
	switch len(params.Args) {
	case 1:
		stop = params.Args[0].Integer()
	case 2:
		start, stop = params.Args[0].Integer(), params.Args[1].Integer()
	case 3:
		start, stop, step = params.Args[0].Integer(), params.Args[1].Integer(), params.Args[2].Integer()
	default:
		return nil, errors.New("range() takes 1 to 3 integer arguments")
	}
	if step == 0 {
		return nil, errors.New("range() arg 3 must not be zero")
	}
	n := 0
	if step > 0 && stop > start {
		n = (stop - start + step - 1) / step
	} else if step < 0 && stop < start {
		n = (start - stop - step - 1) / -step
	}
	if n > maxRange {
		return nil, fmt.Errorf("range too big: the sandbox blocks ranges larger than %d", maxRange)
	}
	out := make([]int, n)
	for i := range out {
		out[i] = start + i*step
	}
	return out, nil
}

// noLoader is the loader behind every template: the source is served by the
// shifted loader in front of it and nothing else can be read.
type noLoader struct{}

var errNoInclude = errors.New("chat templates cannot load other templates")

func (noLoader) Read(string) (io.Reader, error)           { return nil, errNoInclude }
func (noLoader) Resolve(string) (string, error)           { return "", errNoInclude }
func (l noLoader) Inherit(string) (loaders.Loader, error) { return l, nil }
