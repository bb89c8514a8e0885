package interp

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"unicode/utf8"

	starjson "go.starlark.net/lib/json"
	starmath "go.starlark.net/lib/math"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/toolbrain/toolbrain/internal/pyfloat"
)

// The modules code may use: "import json" and friends bind these (see
// Rewrite), and they are also predeclared, so a program that skips the
// import works too.
var (
	jsonModule = &starlarkstruct.Module{Name: "json", Members: starlark.StringDict{
		"dumps":  starlark.NewBuiltin("json.dumps", jsonDumps),
		"loads":  starlark.NewBuiltin("json.loads", jsonLoads),
		"encode": starjson.Module.Members["encode"],
		"decode": starjson.Module.Members["decode"],
		"indent": starjson.Module.Members["indent"],
	}}
	mathModule = newMathModule()
	reModule   = newReModule()

	// modules maps a module name to its sorted member names, for import
	// translation.
	modules = map[string][]string{}
)

func init() {
	for _, m := range []*starlarkstruct.Module{jsonModule, mathModule, reModule} {
		names := m.Members.Keys()
		slices.Sort(names)
		modules[m.Name] = names
	}
}

func newMathModule() *starlarkstruct.Module {
	m := starlark.StringDict{}
	for k, v := range starmath.Module.Members {
		m[k] = v
	}
	delete(m, "round") // Python's math has no round; the builtin is Python's
	unary := func(name string, f func(float64) float64) {
		m[name] = starlark.NewBuiltin("math."+name, func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var x starlark.Value
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &x); err != nil {
				return nil, err
			}
			xf, ok := starlark.AsFloat(x)
			if !ok {
				return nil, fmt.Errorf("%s: must be real number, not %s", b.Name(), x.Type())
			}
			return starlark.Float(f(xf)), nil
		})
	}
	unary("log10", math.Log10)
	unary("log2", math.Log2)
	m["inf"] = starlark.Float(math.Inf(1))
	m["nan"] = starlark.Float(math.NaN())
	m["tau"] = starlark.Float(2 * math.Pi)
	pred := func(name string, f func(float64) bool) {
		m[name] = starlark.NewBuiltin("math."+name, func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var x starlark.Value
			if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &x); err != nil {
				return nil, err
			}
			xf, ok := starlark.AsFloat(x)
			if !ok {
				return nil, fmt.Errorf("%s: must be real number, not %s", b.Name(), x.Type())
			}
			return starlark.Bool(f(xf)), nil
		})
	}
	pred("isnan", math.IsNaN)
	pred("isinf", func(x float64) bool { return math.IsInf(x, 0) })
	pred("isfinite", func(x float64) bool { return !math.IsInf(x, 0) && !math.IsNaN(x) })
	m["isclose"] = starlark.NewBuiltin("math.isclose", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var a, c starlark.Value
		relTol, absTol := 1e-9, 0.0
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "a", &a, "b", &c, "rel_tol?", &relTol, "abs_tol?", &absTol); err != nil {
			return nil, err
		}
		x, ok1 := starlark.AsFloat(a)
		y, ok2 := starlark.AsFloat(c)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s: must be real numbers", b.Name())
		}
		if x == y {
			return starlark.True, nil
		}
		d := math.Abs(x - y)
		return starlark.Bool(d <= math.Max(relTol*math.Max(math.Abs(x), math.Abs(y)), absTol)), nil
	})
	m["factorial"] = starlark.NewBuiltin("math.factorial", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var n int
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &n); err != nil {
			return nil, err
		}
		if n < 0 || n > 5000 {
			return nil, fmt.Errorf("%s: argument %d out of range [0, 5000]", b.Name(), n)
		}
		return starlark.MakeBigInt(new(big.Int).MulRange(1, int64(n))), nil
	})
	m["gcd"] = starlark.NewBuiltin("math.gcd", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		g := new(big.Int)
		for _, a := range args {
			i, ok := a.(starlark.Int)
			if !ok {
				return nil, fmt.Errorf("%s: '%s' object cannot be interpreted as an integer", b.Name(), a.Type())
			}
			g.GCD(nil, nil, g, new(big.Int).Abs(i.BigInt()))
		}
		return starlark.MakeBigInt(g), nil
	})
	m["trunc"] = starlark.NewBuiltin("math.trunc", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var x starlark.Value
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &x); err != nil {
			return nil, err
		}
		return starlark.NumberToInt(x)
	})
	return &starlarkstruct.Module{Name: "math", Members: m}
}

// jsonDumps is Python's json.dumps(obj, indent=None, sort_keys=False,
// ensure_ascii=True, separators=None) with Python's output exactly: ", " and
// ": " separators (or "," and ": " with indent), non-ASCII escaped as \uXXXX
// unless ensure_ascii is False, NaN and Infinity as JavaScript names.
func jsonDumps(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		obj         starlark.Value
		indent      starlark.Value = starlark.None
		sortKeys    bool
		ensureASCII                = true
		separators  starlark.Value = starlark.None
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "obj", &obj, "indent?", &indent, "sort_keys?", &sortKeys,
		"ensure_ascii?", &ensureASCII, "separators?", &separators); err != nil {
		return nil, err
	}
	e := jsonEncoder{item: ", ", key: ": ", ascii: ensureASCII, sort: sortKeys}
	switch v := indent.(type) {
	case starlark.NoneType:
	case starlark.Int:
		n, _ := v.Int64()
		if n < 0 || n > 64 {
			return nil, fmt.Errorf("%s: indent %d out of range", b.Name(), n)
		}
		e.indent, e.item = strings.Repeat(" ", int(n)), ","
		e.pretty = true
	case starlark.String:
		e.indent, e.item, e.pretty = string(v), ",", true
	default:
		return nil, fmt.Errorf("%s: indent must be int or str, not %s", b.Name(), indent.Type())
	}
	if t, ok := separators.(starlark.Tuple); ok && len(t) == 2 {
		s1, ok1 := starlark.AsString(t[0])
		s2, ok2 := starlark.AsString(t[1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s: separators must be two strings", b.Name())
		}
		e.item, e.key = s1, s2
	}
	if err := e.encode(obj, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return starlark.String(e.b.String()), nil
}

func jsonLoads(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &s); err != nil {
		return nil, err
	}
	v, err := starlark.Call(thread, starjson.Module.Members["decode"], starlark.Tuple{s}, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return v, nil
}

type jsonEncoder struct {
	b                 strings.Builder
	item, key, indent string
	pretty            bool
	ascii, sort       bool
	// strict refuses NaN and infinities, which are not JSON.
	strict bool
}

func (e *jsonEncoder) newline(depth int) {
	if e.pretty {
		e.b.WriteByte('\n')
		for range depth {
			e.b.WriteString(e.indent)
		}
	}
}

func (e *jsonEncoder) encode(v starlark.Value, depth int) error {
	if depth > 200 {
		return fmt.Errorf("nesting deeper than 200 (circular reference?)")
	}
	if e.b.Len() > maxReprBytes {
		return fmt.Errorf("output larger than %d bytes", maxReprBytes)
	}
	switch v := v.(type) {
	case starlark.NoneType:
		e.b.WriteString("null")
	case starlark.Bool:
		if v {
			e.b.WriteString("true")
		} else {
			e.b.WriteString("false")
		}
	case starlark.Int:
		e.b.WriteString(v.String())
	case starlark.Float:
		f := float64(v)
		if e.strict && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return fmt.Errorf("%s is not a JSON number", pyfloat.Repr(f))
		}
		switch {
		case math.IsNaN(f):
			e.b.WriteString("NaN")
		case math.IsInf(f, 1):
			e.b.WriteString("Infinity")
		case math.IsInf(f, -1):
			e.b.WriteString("-Infinity")
		default:
			e.b.WriteString(pyfloat.Repr(f))
		}
	case starlark.String:
		e.str(string(v))
	case *starlark.List, starlark.Tuple:
		n := v.(starlark.Indexable).Len()
		if n == 0 {
			e.b.WriteString("[]")
			return nil
		}
		e.b.WriteByte('[')
		for i := range n {
			if i > 0 {
				e.b.WriteString(e.item)
			}
			e.newline(depth + 1)
			if err := e.encode(v.(starlark.Indexable).Index(i), depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte(']')
	case *starlark.Dict:
		items := v.Items()
		if len(items) == 0 {
			e.b.WriteString("{}")
			return nil
		}
		keys := make([]string, len(items))
		for i, kv := range items {
			switch k := kv[0].(type) {
			case starlark.String:
				keys[i] = string(k)
			case starlark.Int, starlark.Float, starlark.Bool, starlark.NoneType:
				var kb jsonEncoder
				if err := kb.encode(k, 0); err != nil {
					return err
				}
				keys[i] = kb.b.String()
			default:
				return fmt.Errorf("keys must be str, int, float, bool or None, not %s", k.Type())
			}
		}
		order := make([]int, len(items))
		for i := range order {
			order[i] = i
		}
		if e.sort {
			slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
		}
		e.b.WriteByte('{')
		for n, i := range order {
			if n > 0 {
				e.b.WriteString(e.item)
			}
			e.newline(depth + 1)
			e.str(keys[i])
			e.b.WriteString(e.key)
			if err := e.encode(items[i][1], depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte('}')
	default:
		//lint:ignore ST1005 Python's message, word for word
		return fmt.Errorf("Object of type %s is not JSON serializable", v.Type())
	}
	return nil
}

// str writes s as a JSON string the way Python's json module does.
func (e *jsonEncoder) str(s string) {
	e.b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '"':
			e.b.WriteString(`\"`)
		case r == '\\':
			e.b.WriteString(`\\`)
		case r == '\n':
			e.b.WriteString(`\n`)
		case r == '\r':
			e.b.WriteString(`\r`)
		case r == '\t':
			e.b.WriteString(`\t`)
		case r == '\b':
			e.b.WriteString(`\b`)
		case r == '\f':
			e.b.WriteString(`\f`)
		case r < 0x20:
			fmt.Fprintf(&e.b, `\u%04x`, r)
		case r >= 0x7f && e.ascii:
			if r > 0xffff {
				r -= 0x10000
				fmt.Fprintf(&e.b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			} else {
				fmt.Fprintf(&e.b, `\u%04x`, r)
			}
		default:
			e.b.WriteRune(r)
		}
	}
	e.b.WriteByte('"')
}
