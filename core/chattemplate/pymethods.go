package chattemplate

// The Python methods that chat templates call on dicts and strings
// (dict.items/get/keys/values, str.split/rsplit/strip/...), with Python's
// semantics where gonja's differ.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
)

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
