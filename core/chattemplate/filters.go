package chattemplate

// The filters transformers' environment changes or that gonja spells
// differently from Jinja: tojson (Python's json.dumps), items, reverse and
// dictsort.

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

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
