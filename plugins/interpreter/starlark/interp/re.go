package interp

import (
	"fmt"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The re module: Python's re API over Go's regexp (RE2 syntax, linear time).
// Patterns that need backtracking (backreferences \1 in patterns, lookahead
// (?=...), lookbehind (?<=...)) are refused with an error that says so;
// (?P<name>...) groups, \d \w \s, classes, anchors and flags work as in
// Python. Flags: re.I (IGNORECASE), re.M (MULTILINE), re.S (DOTALL).

const (
	flagI = 2
	flagM = 8
	flagS = 16
)

func newReModule() *starlarkstruct.Module {
	m := starlark.StringDict{
		"I": starlark.MakeInt(flagI), "IGNORECASE": starlark.MakeInt(flagI),
		"M": starlark.MakeInt(flagM), "MULTILINE": starlark.MakeInt(flagM),
		"S": starlark.MakeInt(flagS), "DOTALL": starlark.MakeInt(flagS),
	}
	for _, name := range []string{"search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"} {
		m[name] = starlark.NewBuiltin("re."+name, reFunc(name, nil))
	}
	m["compile"] = starlark.NewBuiltin("re.compile", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var pattern string
		flags := 0
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &pattern, "flags?", &flags); err != nil {
			return nil, err
		}
		re, err := compileRe(pattern, flags)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		return &pattern_{re: re, src: pattern}, nil
	})
	m["escape"] = starlark.NewBuiltin("re.escape", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var s string
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &s); err != nil {
			return nil, err
		}
		return starlark.String(regexp.QuoteMeta(s)), nil
	})
	return &starlarkstruct.Module{Name: "re", Members: m}
}

// compileRe translates a Python pattern to RE2 and compiles it.
func compileRe(pattern string, flags int) (*regexp.Regexp, error) {
	p := pattern
	// Python's \Z is RE2's \z; (?P<name>) is accepted by both.
	p = strings.ReplaceAll(p, `\Z`, `\z`)
	prefix := ""
	if flags&flagI != 0 {
		prefix += "i"
	}
	if flags&flagM != 0 {
		prefix += "m"
	}
	if flags&flagS != 0 {
		prefix += "s"
	}
	if prefix != "" {
		p = "(?" + prefix + ")" + p
	}
	re, err := regexp.Compile(p)
	if err != nil {
		msg := err.Error()
		if strings.Contains(pattern, "(?=") || strings.Contains(pattern, "(?!") || strings.Contains(pattern, "(?<") && !strings.Contains(pattern, "(?P<") {
			msg += " (lookahead and lookbehind are not supported: patterns use RE2 syntax)"
		} else if strings.Contains(msg, "escape sequence") {
			msg += " (backreferences are not supported: patterns use RE2 syntax)"
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return re, nil
}

// reFunc is re.<name>(pattern, string, ...) when pat is nil, and the method
// Pattern.<name>(string, ...) otherwise.
func reFunc(name string, pat *pattern_) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var (
			pattern string
			s       string
			repl    starlark.Value
			count   = 0
			flags   = 0
		)
		var pairs []any
		if pat == nil {
			pairs = append(pairs, "pattern", &pattern)
		}
		switch name {
		case "sub", "subn":
			pairs = append(pairs, "repl", &repl, "string", &s, "count?", &count)
		case "split":
			pairs = append(pairs, "string", &s, "maxsplit?", &count)
		default:
			pairs = append(pairs, "string", &s)
		}
		if pat == nil {
			pairs = append(pairs, "flags?", &flags)
		}
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, pairs...); err != nil {
			return nil, err
		}
		var re *regexp.Regexp
		if pat != nil {
			re = pat.re
		} else {
			var err error
			if re, err = compileRe(pattern, flags); err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
		}
		switch name {
		case "search":
			return matchAt(re, s, re.FindStringSubmatchIndex(s)), nil
		case "match":
			loc := re.FindStringSubmatchIndex(s)
			if loc == nil || loc[0] != 0 {
				// The leftmost match may start later while one at 0
				// exists: anchor and retry.
				anch, err := regexp.Compile(`\A(?:` + re.String() + `)`)
				if err != nil {
					return nil, err
				}
				return matchAt(re, s, anch.FindStringSubmatchIndex(s)), nil
			}
			return matchAt(re, s, loc), nil
		case "fullmatch":
			anch, err := regexp.Compile(`\A(?:` + re.String() + `)\z`)
			if err != nil {
				return nil, err
			}
			return matchAt(re, s, anch.FindStringSubmatchIndex(s)), nil
		case "findall":
			var out []starlark.Value
			for _, loc := range re.FindAllStringSubmatchIndex(s, -1) {
				n := re.NumSubexp()
				switch n {
				case 0:
					out = append(out, starlark.String(s[loc[0]:loc[1]]))
				case 1:
					out = append(out, findallGroup(s, loc, 1))
				default:
					t := make(starlark.Tuple, n)
					for g := 1; g <= n; g++ {
						t[g-1] = findallGroup(s, loc, g)
					}
					out = append(out, t)
				}
			}
			return starlark.NewList(out), nil
		case "finditer":
			var out []starlark.Value
			for _, loc := range re.FindAllStringSubmatchIndex(s, -1) {
				out = append(out, matchAt(re, s, loc))
			}
			return starlark.NewList(out), nil
		case "sub", "subn":
			res, n, err := substitute(thread, re, repl, s, count)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			if name == "subn" {
				return starlark.Tuple{starlark.String(res), starlark.MakeInt(n)}, nil
			}
			return starlark.String(res), nil
		case "split":
			var out []starlark.Value
			last := 0
			for i, loc := range re.FindAllStringSubmatchIndex(s, -1) {
				if count > 0 && i >= count {
					break
				}
				out = append(out, starlark.String(s[last:loc[0]]))
				for g := 1; g <= re.NumSubexp(); g++ {
					if loc[2*g] < 0 {
						out = append(out, starlark.None)
					} else {
						out = append(out, starlark.String(s[loc[2*g]:loc[2*g+1]]))
					}
				}
				last = loc[1]
			}
			out = append(out, starlark.String(s[last:]))
			return starlark.NewList(out), nil
		}
		return nil, fmt.Errorf("%s: not implemented", b.Name())
	}
}

// findallGroup is Python's findall element for group g: "" when it did not take part.
func findallGroup(s string, loc []int, g int) starlark.Value {
	if loc[2*g] < 0 {
		return starlark.String("")
	}
	return starlark.String(s[loc[2*g]:loc[2*g+1]])
}

func matchAt(re *regexp.Regexp, s string, loc []int) starlark.Value {
	if loc == nil {
		return starlark.None
	}
	return &match{re: re, s: s, loc: loc}
}

// substitute is re.sub: repl is a string with \1, \g<1>, \g<name>
// backreferences, or a function of the match.
func substitute(thread *starlark.Thread, re *regexp.Regexp, repl starlark.Value, s string, count int) (string, int, error) {
	var template string
	fn, isFn := repl.(starlark.Callable)
	if !isFn {
		t, ok := starlark.AsString(repl)
		if !ok {
			return "", 0, fmt.Errorf("repl must be str or function, not %s", repl.Type())
		}
		template = t
	}
	var b strings.Builder
	last, n := 0, 0
	for _, loc := range re.FindAllStringSubmatchIndex(s, -1) {
		if count > 0 && n >= count {
			break
		}
		b.WriteString(s[last:loc[0]])
		if isFn {
			v, err := starlark.Call(thread, fn, starlark.Tuple{&match{re: re, s: s, loc: loc}}, nil)
			if err != nil {
				return "", 0, err
			}
			str, ok := starlark.AsString(v)
			if !ok {
				return "", 0, fmt.Errorf("repl function returned %s, want str", v.Type())
			}
			b.WriteString(str)
		} else if err := expand(&b, re, template, s, loc); err != nil {
			return "", 0, err
		}
		last = loc[1]
		n++
	}
	b.WriteString(s[last:])
	return b.String(), n, nil
}

// expand writes Python's expansion of a replacement template.
func expand(b *strings.Builder, re *regexp.Regexp, t, s string, loc []int) error {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c != '\\' || i+1 == len(t) {
			b.WriteByte(c)
			continue
		}
		i++
		switch d := t[i]; {
		case d >= '0' && d <= '9':
			g := int(d - '0')
			if i+1 < len(t) && t[i+1] >= '0' && t[i+1] <= '9' {
				g = g*10 + int(t[i+1]-'0')
				i++
			}
			if g > re.NumSubexp() {
				return fmt.Errorf("invalid group reference %d", g)
			}
			if loc[2*g] >= 0 {
				b.WriteString(s[loc[2*g]:loc[2*g+1]])
			}
		case d == 'g':
			end := strings.IndexByte(t[i:], '>')
			if i+1 >= len(t) || t[i+1] != '<' || end < 0 {
				return fmt.Errorf("missing group name in \\g<...>")
			}
			name := t[i+2 : i+end]
			g := re.SubexpIndex(name)
			if g < 0 {
				if _, err := fmt.Sscan(name, &g); err != nil || g > re.NumSubexp() || g < 0 {
					return fmt.Errorf("unknown group name %q", name)
				}
			}
			if loc[2*g] >= 0 {
				b.WriteString(s[loc[2*g]:loc[2*g+1]])
			}
			i += end
		case d == 'n':
			b.WriteByte('\n')
		case d == 't':
			b.WriteByte('\t')
		case d == '\\':
			b.WriteByte('\\')
		default:
			b.WriteByte('\\')
			b.WriteByte(d)
		}
	}
	return nil
}

// pattern_ is a compiled pattern (re.compile).
type pattern_ struct {
	re  *regexp.Regexp
	src string
}

var _ starlark.HasAttrs = (*pattern_)(nil)

func (p *pattern_) String() string        { return "re.compile(" + pyQuote(p.src) + ")" }
func (p *pattern_) Type() string          { return "re.Pattern" }
func (p *pattern_) Freeze()               {}
func (p *pattern_) Truth() starlark.Bool  { return true }
func (p *pattern_) Hash() (uint32, error) { return starlark.String(p.src).Hash() }
func (p *pattern_) AttrNames() []string {
	return []string{"findall", "finditer", "fullmatch", "match", "pattern", "search", "split", "sub", "subn"}
}
func (p *pattern_) Attr(name string) (starlark.Value, error) {
	switch name {
	case "pattern":
		return starlark.String(p.src), nil
	case "search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split":
		return starlark.NewBuiltin(name, reFunc(name, p)), nil
	}
	return nil, nil
}

// match is a match object: group(), groups(), groupdict(), start(), end(),
// span(), string.
type match struct {
	re  *regexp.Regexp
	s   string
	loc []int
}

var _ starlark.HasAttrs = (*match)(nil)

func (m *match) String() string {
	return fmt.Sprintf("<re.Match object; span=(%d, %d), match=%s>", m.loc[0], m.loc[1], pyQuote(m.s[m.loc[0]:m.loc[1]]))
}
func (m *match) Type() string          { return "re.Match" }
func (m *match) Freeze()               {}
func (m *match) Truth() starlark.Bool  { return true }
func (m *match) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: re.Match") }
func (m *match) AttrNames() []string {
	return []string{"end", "group", "groupdict", "groups", "span", "start", "string"}
}

// index resolves a group number or name.
func (m *match) index(v starlark.Value) (int, error) {
	if s, ok := starlark.AsString(v); ok {
		g := m.re.SubexpIndex(s)
		if g < 0 {
			return 0, fmt.Errorf("no such group %q", s)
		}
		return g, nil
	}
	var g int
	if err := starlark.AsInt(v, &g); err != nil || g < 0 || g > m.re.NumSubexp() {
		return 0, fmt.Errorf("no such group %s", v)
	}
	return g, nil
}

func (m *match) get(g int) starlark.Value {
	if m.loc[2*g] < 0 {
		return starlark.None
	}
	return starlark.String(m.s[m.loc[2*g]:m.loc[2*g+1]])
}

func (m *match) Attr(name string) (starlark.Value, error) {
	if name == "string" {
		return starlark.String(m.s), nil
	}
	fn := func(f func(args starlark.Tuple) (starlark.Value, error)) (starlark.Value, error) {
		return starlark.NewBuiltin(name, func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if len(kwargs) > 0 {
				return nil, fmt.Errorf("%s: unexpected keyword arguments", b.Name())
			}
			v, err := f(args)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			return v, nil
		}), nil
	}
	groupArg := func(args starlark.Tuple) (int, error) {
		if len(args) == 0 {
			return 0, nil
		}
		return m.index(args[0])
	}
	switch name {
	case "group":
		return fn(func(args starlark.Tuple) (starlark.Value, error) {
			if len(args) <= 1 {
				g, err := groupArg(args)
				if err != nil {
					return nil, err
				}
				return m.get(g), nil
			}
			t := make(starlark.Tuple, len(args))
			for i, a := range args {
				g, err := m.index(a)
				if err != nil {
					return nil, err
				}
				t[i] = m.get(g)
			}
			return t, nil
		})
	case "groups":
		return fn(func(args starlark.Tuple) (starlark.Value, error) {
			t := make(starlark.Tuple, m.re.NumSubexp())
			for g := range t {
				t[g] = m.get(g + 1)
				if t[g] == starlark.None && len(args) > 0 {
					t[g] = args[0]
				}
			}
			return t, nil
		})
	case "groupdict":
		return fn(func(args starlark.Tuple) (starlark.Value, error) {
			d := starlark.NewDict(0)
			for g, n := range m.re.SubexpNames() {
				if n != "" {
					_ = d.SetKey(starlark.String(n), m.get(g))
				}
			}
			return d, nil
		})
	case "start", "end", "span":
		return fn(func(args starlark.Tuple) (starlark.Value, error) {
			g, err := groupArg(args)
			if err != nil {
				return nil, err
			}
			s, e := m.loc[2*g], m.loc[2*g+1]
			switch name {
			case "start":
				return starlark.MakeInt(s), nil
			case "end":
				return starlark.MakeInt(e), nil
			}
			return starlark.Tuple{starlark.MakeInt(s), starlark.MakeInt(e)}, nil
		})
	}
	return nil, nil
}
