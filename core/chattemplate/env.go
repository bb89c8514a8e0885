package chattemplate

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
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

func filterToJSON(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	o := jsonOptions{itemSep: ", ", keySep: ": ", limit: MaxRenderBytes}
	pos := []string{"ensure_ascii", "indent", "separators", "sort_keys"}
	arg := func(name string) (*exec.Value, bool) {
		if v, ok := params.KwArgs[name]; ok {
			return v, true
		}
		if i := slices.Index(pos, name); i < len(params.Args) {
			return params.Args[i], true
		}
		return nil, false
	}
	if len(params.Args) > len(pos) {
		return exec.AsValue(errors.New("tojson: too many arguments"))
	}
	for k := range params.KwArgs {
		if !slices.Contains(pos, k) {
			return exec.AsValue(fmt.Errorf("tojson: unexpected keyword argument %q", k))
		}
	}
	if v, ok := arg("ensure_ascii"); ok {
		o.ensureASCII = v.IsTrue()
	}
	if v, ok := arg("indent"); ok && !v.IsNil() {
		o.hasIndent = true
		o.itemSep = ","
		switch {
		case v.IsInteger():
			o.indent = strings.Repeat(" ", max(0, min(v.Integer(), 64)))
		case v.IsString():
			o.indent = v.String()
		default:
			return exec.AsValue(fmt.Errorf("tojson: indent must be an int or a string, not %s", v.String()))
		}
	}
	if v, ok := arg("separators"); ok && !v.IsNil() {
		if !v.IsList() || v.Len() != 2 {
			return exec.AsValue(errors.New("tojson: separators must be a pair of strings"))
		}
		o.itemSep, o.keySep = v.Index(0).String(), v.Index(1).String()
	}
	if v, ok := arg("sort_keys"); ok {
		o.sortKeys = v.IsTrue()
	}
	var sb strings.Builder
	if err := pyJSON(&sb, in.Interface(), &o, 0); err != nil {
		return exec.AsValue(err)
	}
	return exec.AsSafeValue(sb.String())
}

// orderedPairs lists a dict's entries in Python's order: insertion order for
// the engine's Dict, sorted keys for a Go map.
func orderedPairs(v *exec.Value) []*exec.Pair {
	switch d := v.Interface().(type) {
	case *exec.Dict:
		return d.Pairs
	case exec.Dict:
		return d.Pairs
	}
	keys := v.Keys() // sorted by the engine
	pairs := make([]*exec.Pair, 0, len(keys))
	for _, k := range keys {
		item, _ := v.GetItem(k.Interface())
		pairs = append(pairs, &exec.Pair{Key: k, Value: item})
	}
	return pairs
}

func itemsOf(v *exec.Value) []any {
	pairs := orderedPairs(v)
	out := make([]any, len(pairs))
	for i, p := range pairs {
		out[i] = []any{p.Key.Interface(), p.Value.Interface()}
	}
	return out
}

func filterItems(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if len(params.Args) > 0 || len(params.KwArgs) > 0 {
		return exec.AsValue(errors.New("items() takes no arguments"))
	}
	if in.IsNil() {
		return exec.AsValue([]any{})
	}
	if !in.IsDict() {
		return exec.AsValue(errors.New("items: can only get item pairs from a mapping"))
	}
	return exec.AsValue(itemsOf(in))
}

// dictMethods keeps the engine's dict methods but makes keys(), values() and
// items() follow insertion order as Python's do.
func dictMethods() *exec.MethodSet[map[string]any] {
	noArgs := func(name string, args *exec.VarArgs) error {
		if len(args.Args) > 0 || len(args.KwArgs) > 0 {
			return fmt.Errorf("%s() takes no arguments", name)
		}
		return nil
	}
	m := map[string]exec.Method[map[string]any]{
		"keys": func(_ map[string]any, self *exec.Value, args *exec.VarArgs) (any, error) {
			if err := noArgs("keys", args); err != nil {
				return nil, err
			}
			pairs := orderedPairs(self)
			out := make([]any, len(pairs))
			for i, p := range pairs {
				out[i] = p.Key.Interface()
			}
			return out, nil
		},
		"values": func(_ map[string]any, self *exec.Value, args *exec.VarArgs) (any, error) {
			if err := noArgs("values", args); err != nil {
				return nil, err
			}
			pairs := orderedPairs(self)
			out := make([]any, len(pairs))
			for i, p := range pairs {
				out[i] = p.Value.Interface()
			}
			return out, nil
		},
		"items": func(_ map[string]any, self *exec.Value, args *exec.VarArgs) (any, error) {
			if err := noArgs("items", args); err != nil {
				return nil, err
			}
			return itemsOf(self), nil
		},
		"get": func(_ map[string]any, self *exec.Value, args *exec.VarArgs) (any, error) {
			if len(args.Args) < 1 || len(args.Args) > 2 {
				return nil, errors.New("get() takes 1 or 2 positional arguments")
			}
			for _, p := range orderedPairs(self) {
				if p.Key.EqualValueTo(args.Args[0]) {
					return p.Value.Interface(), nil
				}
			}
			if len(args.Args) == 2 {
				return args.Args[1].Interface(), nil
			}
			return nil, nil
		},
	}
	// Everything else (pop, update, copy, ...) as the engine has it.
	for _, name := range []string{"pop", "setdefault", "update", "copy", "clear"} {
		if fn, ok := builtins.Methods.Dict.Get(name); ok {
			m[name] = fn
		}
	}
	return exec.NewMethodSet(m)
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

// generationControlStructure is transformers' {% generation %} ...
// {% endgeneration %} block, which marks assistant text for training masks.
// Here it renders its body unchanged, as transformers does when no mask is
// asked for.
type generationControlStructure struct {
	location *tokens.Token
	wrapper  *nodes.Wrapper
}

func (g *generationControlStructure) Position() *tokens.Token { return g.location }
func (g *generationControlStructure) String() string {
	return fmt.Sprintf("GenerationControlStructure(Line=%d Col=%d)", g.location.Line, g.location.Col)
}

func (g *generationControlStructure) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	// Same scope as the surrounding block: the body is the caller() of a
	// call block in Jinja, which sees and may not change outer variables.
	return r.ExecuteWrapper(g.wrapper)
}

func generationParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	g := &generationControlStructure{location: p.Current()}
	if !args.End() {
		return nil, args.Error("generation takes no arguments", args.Current())
	}
	wrapper, endargs, err := p.WrapUntil("endgeneration")
	if err != nil {
		return nil, err
	}
	if !endargs.End() {
		return nil, endargs.Error("endgeneration takes no arguments", nil)
	}
	g.wrapper = wrapper
	return g, nil
}

// noLoader is the loader behind every template: the source is served by the
// shifted loader in front of it and nothing else can be read.
type noLoader struct{}

var errNoInclude = errors.New("chat templates cannot load other templates")

func (noLoader) Read(string) (io.Reader, error)           { return nil, errNoInclude }
func (noLoader) Resolve(string) (string, error)           { return "", errNoInclude }
func (l noLoader) Inherit(string) (loaders.Loader, error) { return l, nil }

// filterReverse is Jinja's reverse: the engine's sorts before reversing.
func filterReverse(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if len(params.Args) > 0 || len(params.KwArgs) > 0 {
		return exec.AsValue(errors.New("reverse takes no arguments"))
	}
	if in.IsString() {
		r := []rune(in.String())
		slices.Reverse(r)
		return exec.AsValue(string(r))
	}
	var out []any
	if in.IsDict() {
		for _, p := range orderedPairs(in) {
			out = append(out, p.Key.Interface())
		}
	} else if in.IsList() {
		n := in.Len()
		out = make([]any, n)
		for i := range n {
			out[i] = in.Index(i).Interface()
		}
	} else {
		return exec.AsValue(fmt.Errorf("reverse: cannot reverse %s", in.String()))
	}
	slices.Reverse(out)
	return exec.AsValue(out)
}

// filterDictSort is Jinja's dictsort(case_sensitive=False, by='key',
// reverse=False); the engine's sees no entries in its own Dict type.
func filterDictSort(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	caseSensitive, byValue, reverse := false, false, false
	names := []string{"case_sensitive", "by", "reverse"}
	for i, a := range params.Args {
		if i >= len(names) {
			return exec.AsValue(errors.New("dictsort: too many arguments"))
		}
		params.KwArgs[names[i]] = a
	}
	for k, v := range params.KwArgs {
		switch k {
		case "case_sensitive":
			caseSensitive = v.IsTrue()
		case "by":
			switch v.String() {
			case "key":
			case "value":
				byValue = true
			default:
				return exec.AsValue(errors.New("dictsort: by must be 'key' or 'value'"))
			}
		case "reverse":
			reverse = v.IsTrue()
		default:
			return exec.AsValue(fmt.Errorf("dictsort: unexpected keyword argument %q", k))
		}
	}
	if !in.IsDict() {
		return exec.AsValue(errors.New("dictsort: can only sort a mapping"))
	}
	pairs := slices.Clone(orderedPairs(in))
	key := func(p *exec.Pair) *exec.Value {
		v := p.Key
		if byValue {
			v = p.Value
		}
		if !caseSensitive && v.IsString() {
			return exec.AsValue(strings.ToLower(v.String()))
		}
		return v
	}
	slices.SortStableFunc(pairs, func(a, b *exec.Pair) int {
		c := compareValues(key(a), key(b))
		if reverse {
			return -c
		}
		return c
	})
	out := make([]any, len(pairs))
	for i, p := range pairs {
		out[i] = []any{p.Key.Interface(), p.Value.Interface()}
	}
	return exec.AsValue(out)
}

func compareValues(a, b *exec.Value) int {
	switch {
	case a.IsNumber() && b.IsNumber():
		fa, fb := a.Float(), b.Float()
		if fa < fb {
			return -1
		} else if fa > fb {
			return 1
		}
		return 0
	}
	return strings.Compare(a.String(), b.String())
}

// strMethods keeps the engine's string methods but gives strip, lstrip and
// rstrip Python's meaning: no argument (or None) strips whitespace, a string
// strips any of its characters.
func strMethods() *exec.MethodSet[string] {
	names := []string{"capitalize", "capwords", "casefold", "center", "count", "encode", "endswith", "expandtabs",
		"find", "format", "format_map", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower",
		"isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "partition",
		"removeprefix", "removesuffix", "replace", "rfind", "rjust", "rpartition", "rsplit", "split",
		"splitlines", "startswith", "swapcase", "title", "upper", "zfill"}
	m := map[string]exec.Method[string]{}
	for _, n := range names {
		if fn, ok := builtins.Methods.Str.Get(n); ok {
			m[n] = fn
		}
	}
	strip := func(name string, left, right bool) exec.Method[string] {
		return func(self string, _ *exec.Value, args *exec.VarArgs) (any, error) {
			if len(args.KwArgs) > 0 || len(args.Args) > 1 {
				return nil, fmt.Errorf("%s() takes at most 1 argument", name)
			}
			cut := isPySpace
			if len(args.Args) == 1 && !args.Args[0].IsNil() {
				if !args.Args[0].IsString() {
					return nil, fmt.Errorf("%s arg must be None or str", name)
				}
				chars := args.Args[0].String()
				cut = func(r rune) bool { return strings.ContainsRune(chars, r) }
			}
			if left {
				self = strings.TrimLeftFunc(self, cut)
			}
			if right {
				self = strings.TrimRightFunc(self, cut)
			}
			return self, nil
		}
	}
	m["replace"] = func(self string, _ *exec.Value, args *exec.VarArgs) (any, error) {
		if len(args.Args) < 2 || len(args.Args) > 3 || !args.Args[0].IsString() || !args.Args[1].IsString() {
			return nil, errors.New("replace() takes two strings and an optional count")
		}
		n := -1
		if len(args.Args) == 3 {
			if !args.Args[2].IsInteger() {
				return nil, errors.New("replace() count must be an integer")
			}
			n = args.Args[2].Integer()
		}
		return strings.Replace(self, args.Args[0].String(), args.Args[1].String(), n), nil
	}
	split := func(name string, fromRight bool) exec.Method[string] {
		return func(self string, _ *exec.Value, args *exec.VarArgs) (any, error) {
			var sepV, maxV *exec.Value
			if len(args.Args) > 2 {
				return nil, fmt.Errorf("%s() takes at most 2 arguments", name)
			}
			if len(args.Args) > 0 {
				sepV = args.Args[0]
			}
			if len(args.Args) > 1 {
				maxV = args.Args[1]
			}
			for k, v := range args.KwArgs {
				switch k {
				case "sep":
					sepV = v
				case "maxsplit":
					maxV = v
				default:
					return nil, fmt.Errorf("%s() got an unexpected keyword argument %q", name, k)
				}
			}
			maxsplit := -1
			if maxV != nil {
				if !maxV.IsInteger() {
					return nil, fmt.Errorf("%s() maxsplit must be an integer", name)
				}
				maxsplit = maxV.Integer()
			}
			var parts []string
			if sepV == nil || sepV.IsNil() {
				parts = pySplitSpace(self, maxsplit, fromRight)
			} else {
				if !sepV.IsString() {
					return nil, fmt.Errorf("%s() sep must be None or str", name)
				}
				sep := sepV.String()
				if sep == "" {
					return nil, errors.New("empty separator")
				}
				if fromRight {
					parts = pyRSplitSep(self, sep, maxsplit)
				} else {
					parts = strings.SplitN(self, sep, maxsplitToN(maxsplit))
				}
			}
			out := make([]any, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return out, nil
		}
	}
	m["count"] = func(self string, _ *exec.Value, args *exec.VarArgs) (any, error) {
		if len(args.Args) < 1 || len(args.Args) > 3 || !args.Args[0].IsString() || len(args.KwArgs) > 0 {
			return nil, errors.New("count() takes a string and optional start and end")
		}
		r := []rune(self)
		lo, hi := 0, len(r)
		bound := func(v *exec.Value, dflt int) (int, error) {
			if v.IsNil() {
				return dflt, nil
			}
			if !v.IsInteger() {
				return 0, errors.New("count() indices must be integers or None")
			}
			i := v.Integer()
			if i < 0 {
				i += len(r)
			}
			return max(0, min(i, len(r))), nil
		}
		var err error
		if len(args.Args) > 1 {
			if lo, err = bound(args.Args[1], 0); err != nil {
				return nil, err
			}
		}
		if len(args.Args) > 2 {
			if hi, err = bound(args.Args[2], len(r)); err != nil {
				return nil, err
			}
		}
		if hi < lo {
			return 0, nil
		}
		sub := args.Args[0].String()
		if sub == "" {
			return hi - lo + 1, nil
		}
		return strings.Count(string(r[lo:hi]), sub), nil
	}
	m["split"] = split("split", false)
	m["rsplit"] = split("rsplit", true)
	m["strip"] = strip("strip", true, true)
	m["lstrip"] = strip("lstrip", true, false)
	m["rstrip"] = strip("rstrip", false, true)
	return exec.NewMethodSet(m)
}

func maxsplitToN(maxsplit int) int {
	if maxsplit < 0 {
		return -1
	}
	return maxsplit + 1
}

// pyRSplitSep is Python's str.rsplit(sep, maxsplit).
func pyRSplitSep(s, sep string, maxsplit int) []string {
	if maxsplit < 0 {
		return strings.Split(s, sep)
	}
	var parts []string
	for maxsplit > 0 {
		i := strings.LastIndex(s, sep)
		if i < 0 {
			break
		}
		parts = append(parts, s[i+len(sep):])
		s = s[:i]
		maxsplit--
	}
	parts = append(parts, s)
	slices.Reverse(parts)
	return parts
}

// pySplitSpace is Python's str.split()/rsplit() without a separator: runs of
// whitespace separate, and no empty strings come back.
func pySplitSpace(s string, maxsplit int, fromRight bool) []string {
	var parts []string
	if !fromRight {
		for {
			s = strings.TrimLeftFunc(s, isPySpace)
			if s == "" {
				return parts
			}
			if maxsplit == 0 {
				return append(parts, s)
			}
			i := strings.IndexFunc(s, isPySpace)
			if i < 0 {
				return append(parts, s)
			}
			parts = append(parts, s[:i])
			s = s[i:]
			maxsplit--
		}
	}
	for {
		s = strings.TrimRightFunc(s, isPySpace)
		if s == "" {
			break
		}
		if maxsplit == 0 {
			parts = append(parts, s)
			break
		}
		i := strings.LastIndexFunc(s, isPySpace)
		if i < 0 {
			parts = append(parts, s)
			break
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		parts = append(parts, s[i+size:])
		s = s[:i]
		maxsplit--
	}
	slices.Reverse(parts)
	return parts
}

// maxMacroDepth bounds macro recursion. Python stops runaway recursion with
// RecursionError; in Go it would be a fatal stack overflow, which no
// recover() catches.
const maxMacroDepth = 64

// boundedMacroControlStructure defines a macro as the engine does, wrapped in
// a depth counter. Each definition made during a render gets its own
// counter, so direct and mutual recursion are both bounded.
type boundedMacroControlStructure struct {
	nodes.ControlStructure
	macro *nodes.Macro
}

func boundedMacroParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	inner, err := builtinMacroParser(p, args)
	if err != nil {
		return nil, err
	}
	mcs, ok := inner.(*controlStructures.MacroControlStructure)
	if !ok {
		return nil, fmt.Errorf("unexpected macro node %T", inner)
	}
	return &boundedMacroControlStructure{ControlStructure: inner, macro: mcs.Macro}, nil
}

var builtinMacroParser = func() parser.ControlStructureParser {
	p, _ := builtins.ControlStructures.Get("macro")
	return p
}()

func (b *boundedMacroControlStructure) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	fn, err := exec.MacroNodeToFunc(b.macro, r)
	if err != nil {
		return fmt.Errorf("macro %s: %w", b.macro.Name, err)
	}
	depth := 0
	bud, _ := r.Environment.Context.Get(budgetVar)
	r.Environment.Context.Set(b.macro.Name, func(params *exec.VarArgs) *exec.Value {
		if bud, ok := bud.(*budget); ok {
			if err := bud.charge(1, 0); err != nil {
				return exec.AsValue(err)
			}
		}
		if depth >= maxMacroDepth {
			return exec.AsValue(fmt.Errorf("macro %s: recursion deeper than %d", b.macro.Name, maxMacroDepth))
		}
		depth++
		defer func() { depth-- }()
		return fn(params)
	})
	return nil
}
