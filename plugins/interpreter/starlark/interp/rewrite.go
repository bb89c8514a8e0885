package interp

import (
	"fmt"
	"slices"
	"strings"
)

// RewriteError is a Python construct the source rewrite could not translate
// (an f-string with an empty or unterminated expression). Line is 1-based.
type RewriteError struct {
	Line int
	Msg  string
}

func (e *RewriteError) Error() string { return fmt.Sprintf("line %d: syntax error: %s", e.Line, e.Msg) }

// Rewrite translates the Python habits Starlark's grammar lacks into
// Starlark, keeping every line where it was so that error lines still point
// at the model's code:
//
//   - f-strings: f"a{x!r:>8}b" becomes ("".join(["a", _fstring_format((x), ">8", "r"), "b"])),
//     with nested f-strings, {{ and }}, the = specifier and nested
//     replacement fields inside format specs.
//   - "is" and "is not" become == and != (Starlark has no identity
//     operator; code compares with None, True and False).
//   - import statements: "import json, math as m" binds the available
//     modules (json, math, re) under their names; "from math import sqrt"
//     binds members; importing anything else binds a placeholder whose use
//     (attribute or call) fails with a clear message naming what is
//     available, on the line of the use.
//
// Everything else, strings and comments included, is copied unchanged. The
// scan is a tokenizer, not a parser: an f prefix counts only directly before
// a quote and after a non-identifier character.
func Rewrite(src string) (string, error) {
	r := rewriter{src: src, line: 1}
	if err := r.run(true); err != nil {
		return "", err
	}
	return r.out.String(), nil
}

type rewriter struct {
	src  string
	i    int
	line int
	out  strings.Builder
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// run copies src to out, translating f-strings and (when statements is true)
// import statements.
func (r *rewriter) run(statements bool) error {
	depth := 0
	lineStart := true
	for r.i < len(r.src) {
		c := r.src[r.i]
		switch {
		case c == '#':
			j := strings.IndexByte(r.src[r.i:], '\n')
			if j < 0 {
				j = len(r.src) - r.i
			}
			r.out.WriteString(r.src[r.i : r.i+j])
			r.i += j
		case c == '\n':
			r.out.WriteByte(c)
			r.i++
			r.line++
			if depth == 0 {
				lineStart = true
			}
		case c == '\\' && r.i+1 < len(r.src) && r.src[r.i+1] == '\n':
			r.out.WriteString("\\\n")
			r.i += 2
			r.line++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f':
			r.out.WriteByte(c)
			r.i++
		case c == '"' || c == '\'':
			if err := r.str(""); err != nil {
				return err
			}
			lineStart = false
		case isIdentStart(c):
			j := r.i
			for j < len(r.src) && isIdent(r.src[j]) {
				j++
			}
			word := r.src[r.i:j]
			if j < len(r.src) && (r.src[j] == '"' || r.src[j] == '\'') && isPrefix(word) {
				r.i = j
				if err := r.str(strings.ToLower(word)); err != nil {
					return err
				}
				lineStart = false
				continue
			}
			if statements && lineStart && depth == 0 && (word == "import" || word == "from") {
				if err := r.importStmt(); err != nil {
					return err
				}
				lineStart = false
				continue
			}
			r.i = j
			lineStart = false
			if word == "is" {
				// "x is None" / "x is not None": Starlark has no
				// identity operator; equality is what such code means.
				k := j
				for k < len(r.src) && (r.src[k] == ' ' || r.src[k] == '\t') {
					k++
				}
				if strings.HasPrefix(r.src[k:], "not") && (k+3 == len(r.src) || !isIdent(r.src[k+3])) {
					r.out.WriteString("!=")
					r.out.WriteString(r.src[j:k])
					r.out.WriteString("   ")
					r.i = k + 3
				} else {
					r.out.WriteString("==")
				}
				continue
			}
			r.out.WriteString(word)
		default:
			switch c {
			case '(', '[', '{':
				depth++
			case ')', ']', '}':
				if depth > 0 {
					depth--
				}
			case ';':
				if depth == 0 {
					lineStart = true
					r.out.WriteByte(c)
					r.i++
					continue
				}
			}
			r.out.WriteByte(c)
			r.i++
			lineStart = false
		}
	}
	return nil
}

func isPrefix(w string) bool {
	switch strings.ToLower(w) {
	case "f", "r", "b", "rb", "br", "fr", "rf":
		return true
	}
	return false
}

// literal scans the string literal starting at r.i (at its quote) and returns
// its quote, its body (raw source between the quotes) and whether it was
// terminated. r.i ends after the closing quote.
func (r *rewriter) literal() (quote, body string, ok bool) {
	q := r.src[r.i]
	quote = string(q)
	if strings.HasPrefix(r.src[r.i:], strings.Repeat(quote, 3)) {
		quote = strings.Repeat(quote, 3)
	}
	start := r.i + len(quote)
	j := start
	for j < len(r.src) {
		c := r.src[j]
		switch {
		case c == '\\' && j+1 < len(r.src):
			// A backslash escapes the next character even in raw
			// strings, as far as finding the end is concerned.
			if r.src[j+1] == '\n' {
				r.line++
			}
			j += 2
			continue
		case c == '\n':
			if len(quote) == 1 {
				r.i = j
				return quote, r.src[start:j], false
			}
			r.line++
		case strings.HasPrefix(r.src[j:], quote):
			r.i = j + len(quote)
			return quote, r.src[start:j], true
		}
		j++
	}
	r.i = len(r.src)
	return quote, r.src[start:], false
}

// str copies or translates one string literal with the given (lower-case)
// prefix; r.i is at its opening quote.
func (r *rewriter) str(prefix string) error {
	startLine := r.line
	from := r.i
	quote, body, ok := r.literal()
	if !strings.Contains(prefix, "f") || !ok {
		// Unterminated literals are left for Starlark's parser to report.
		r.out.WriteString(prefix)
		r.out.WriteString(r.src[from:r.i])
		return nil
	}
	litPrefix := strings.ReplaceAll(prefix, "f", "")
	s, err := fstring(body, quote, litPrefix, startLine)
	if err != nil {
		return err
	}
	r.out.WriteString(s)
	return nil
}

// fstring translates the body of an f-string into a Starlark expression.
func fstring(body, quote, litPrefix string, line int) (string, error) {
	var parts []string
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, litPrefix+quote+lit.String()+quote)
			lit.Reset()
		}
	}
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\' && i+1 < len(body) && litPrefix == "":
			lit.WriteString(body[i : i+2])
			i += 2
		case c == '{' && i+1 < len(body) && body[i+1] == '{':
			lit.WriteByte('{')
			i += 2
		case c == '}' && i+1 < len(body) && body[i+1] == '}':
			lit.WriteByte('}')
			i += 2
		case c == '}':
			return "", &RewriteError{line, "f-string: single '}' is not allowed"}
		case c == '{':
			end, expr, conv, spec, err := field(body, i+1, line)
			if err != nil {
				return "", err
			}
			if strings.TrimSpace(expr) == "" {
				return "", &RewriteError{line, "f-string: empty expression not allowed"}
			}
			// f"{x=}" prints the expression text, then its repr.
			if t := strings.TrimRight(expr, " "); strings.HasSuffix(t, "=") && !strings.HasSuffix(t, "==") &&
				!strings.HasSuffix(t, "!=") && !strings.HasSuffix(t, "<=") && !strings.HasSuffix(t, ">=") {
				lit.WriteString(strings.ReplaceAll(strings.ReplaceAll(expr, "\\", "\\\\"), quote[:1], "\\"+quote[:1]))
				expr = strings.TrimSuffix(t, "=")
				if conv == "" && spec == "" {
					conv = "r"
				}
			}
			flush()
			inner, err := rewriteExpr(expr, line)
			if err != nil {
				return "", err
			}
			specExpr := `""`
			if spec != "" {
				if specExpr, err = fstring(spec, `"`, "", line); err != nil {
					return "", err
				}
			}
			parts = append(parts, fmt.Sprintf("_fstring_format((%s), %s, %q)", inner, specExpr, conv))
			line += strings.Count(body[i:end], "\n")
			i = end
		default:
			if c == '\n' {
				line++
			}
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	if len(parts) == 0 {
		return `""`, nil
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return `("".join([` + strings.Join(parts, ", ") + `]))`, nil
}

// field parses a replacement field starting after its '{' and returns the
// index after its '}', the expression, the conversion and the format spec.
func field(body string, i, line int) (end int, expr, conv, spec string, err error) {
	depth := 0
	start := i
	for i < len(body) {
		c := body[i]
		switch {
		case c == '\'' || c == '"':
			// A string inside the expression: skip to its end.
			q := string(c)
			if strings.HasPrefix(body[i:], strings.Repeat(q, 3)) {
				q = strings.Repeat(q, 3)
			}
			j := strings.Index(body[i+len(q):], q)
			if j < 0 {
				return 0, "", "", "", &RewriteError{line, "f-string: unterminated string in expression"}
			}
			i += len(q) + j + len(q)
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
		case (c == ')' || c == ']') && depth > 0:
			depth--
		case c == '}' && depth > 0:
			depth--
		case depth == 0 && c == '!' && i+1 < len(body) && body[i+1] != '=':
			expr = body[start:i]
			if i+1 >= len(body) || !strings.ContainsRune("rsa", rune(body[i+1])) {
				return 0, "", "", "", &RewriteError{line, "f-string: invalid conversion character: expected 's', 'r', or 'a'"}
			}
			conv = body[i+1 : i+2]
			i += 2
			if i < len(body) && body[i] == '}' {
				return i + 1, expr, conv, "", nil
			}
			if i < len(body) && body[i] == ':' {
				end, spec, err := specEnd(body, i+1, line)
				return end, expr, conv, spec, err
			}
			return 0, "", "", "", &RewriteError{line, "f-string: expecting '}'"}
		case depth == 0 && c == ':':
			expr = body[start:i]
			end, spec, err := specEnd(body, i+1, line)
			return end, expr, "", spec, err
		case depth == 0 && c == '}':
			return i + 1, body[start:i], "", "", nil
		}
		i++
	}
	return 0, "", "", "", &RewriteError{line, "f-string: expecting '}'"}
}

// specEnd finds the '}' that closes a format spec, which may itself hold
// nested {fields}.
func specEnd(body string, i, line int) (int, string, error) {
	depth := 0
	for j := i; j < len(body); j++ {
		switch body[j] {
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return j + 1, body[i:j], nil
			}
			depth--
		}
	}
	return 0, "", &RewriteError{line, "f-string: expecting '}'"}
}

// rewriteExpr translates f-strings nested in an expression.
func rewriteExpr(expr string, line int) (string, error) {
	r := rewriter{src: expr, line: line}
	if err := r.run(false); err != nil {
		return "", err
	}
	return r.out.String(), nil
}

// importStmt translates one import statement at r.i (at "import" or "from")
// up to the end of its line, onto the same line.
func (r *rewriter) importStmt() error {
	end := strings.IndexByte(r.src[r.i:], '\n')
	if end < 0 {
		end = len(r.src) - r.i
	}
	stmt := r.src[r.i : r.i+end]
	comment := ""
	if k := strings.IndexByte(stmt, '#'); k >= 0 {
		stmt, comment = stmt[:k], stmt[k:]
	}
	// A statement may continue after ';' on the same line.
	rest := ""
	if k := strings.IndexByte(stmt, ';'); k >= 0 {
		stmt, rest = stmt[:k], stmt[k:]
	}
	r.i += len(stmt)
	out, err := translateImport(strings.TrimSpace(stmt), r.line)
	if err != nil {
		return err
	}
	r.out.WriteString(out)
	_ = rest // copied by the main loop, which resumes at ';'
	_ = comment
	return nil
}

var importSplitter = strings.NewReplacer(",", " , ", "(", " ", ")", " ")

func translateImport(stmt string, line int) (string, error) {
	f := strings.Fields(importSplitter.Replace(stmt))
	var out []string
	bad := func() (string, error) {
		return "", &RewriteError{line, "invalid import statement: " + stmt}
	}
	switch f[0] {
	case "import":
		if len(f) < 2 {
			return bad()
		}
		// import a [as b], c [as d]
		for i := 1; i < len(f); {
			mod := f[i]
			alias := mod
			i++
			if i+1 < len(f) && f[i] == "as" {
				alias = f[i+1]
				i += 2
			}
			if i < len(f) {
				if f[i] != "," {
					return bad()
				}
				i++
			}
			if _, ok := modules[mod]; !ok {
				if alias == mod {
					// "import a.b" binds a; its use names a.b.
					alias, _, _ = strings.Cut(mod, ".")
					mod = alias
				}
				out = append(out, fmt.Sprintf("%s = _import(%q)", alias, mod))
				continue
			}
			if alias != mod {
				out = append(out, alias+" = "+mod)
			}
		}
	case "from":
		// from m import a [as b], c
		if len(f) < 4 || f[2] != "import" {
			return bad()
		}
		mod := f[1]
		members, ok := modules[mod]
		unknown := !ok
		for i := 3; i < len(f); {
			name := f[i]
			alias := name
			i++
			if i+1 < len(f) && f[i] == "as" {
				alias = f[i+1]
				i += 2
			}
			if i < len(f) {
				if f[i] != "," {
					return bad()
				}
				i++
			}
			if unknown || !slices.Contains(members, name) && name != "*" {
				if name == "*" {
					return fmt.Sprintf("_import(%q)", mod), nil
				}
				out = append(out, fmt.Sprintf("%s = _import(%q, %q)", alias, mod, name))
				continue
			}
			if name == "*" {
				for _, m := range members {
					out = append(out, m+" = "+mod+"."+m)
				}
				continue
			}
			out = append(out, alias+" = "+mod+"."+name)
		}
	}
	if len(out) == 0 {
		return "pass", nil
	}
	return strings.Join(out, "; "), nil
}
