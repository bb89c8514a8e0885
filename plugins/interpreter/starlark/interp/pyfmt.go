package interp

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.starlark.net/starlark"

	"github.com/toolbrain/toolbrain/internal/pyfloat"
)

// Python's text forms of values. Models compare what they print with what
// Python would print, so str, repr, print and f-strings follow CPython's
// rules for the types the two languages share: floats in their shortest
// round-trip form switching to exponent notation at 1e16 and 1e-4 ("1e+16",
// "1e-05"), strings quoted with ' unless they hold ' and no ", containers
// with ", " separators, True/False/None.

// pyQuote is CPython's str.__repr__; bytes that are not UTF-8 show as \xNN.
func pyQuote(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		case !unicode.IsPrint(r) && r != ' ':
			switch {
			case r <= 0xff:
				fmt.Fprintf(&b, "\\x%02x", r)
			case r <= 0xffff:
				fmt.Fprintf(&b, "\\u%04x", r)
			default:
				fmt.Fprintf(&b, "\\U%08x", r)
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	b.WriteByte(q)
	return b.String()
}

// pyStr is Python's str(v).
func pyStr(v starlark.Value) string {
	if s, ok := v.(starlark.String); ok {
		return string(s)
	}
	var b strings.Builder
	writeRepr(&b, v, 0)
	return b.String()
}

// pyRepr is Python's repr(v).
func pyRepr(v starlark.Value) string {
	var b strings.Builder
	writeRepr(&b, v, 0)
	return b.String()
}

func writeRepr(b *strings.Builder, v starlark.Value, depth int) {
	if depth > 100 || b.Len() > maxReprBytes {
		b.WriteString("...")
		return
	}
	switch v := v.(type) {
	case starlark.NoneType:
		b.WriteString("None")
	case starlark.Bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case starlark.String:
		b.WriteString(pyQuote(string(v)))
	case starlark.Float:
		b.WriteString(pyfloat.Repr(float64(v)))
	case *starlark.List:
		b.WriteByte('[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, v.Index(i), depth+1)
		}
		b.WriteByte(']')
	case starlark.Tuple:
		b.WriteByte('(')
		for i, x := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, x, depth+1)
		}
		if len(v) == 1 {
			b.WriteByte(',')
		}
		b.WriteByte(')')
	case *starlark.Dict:
		b.WriteByte('{')
		for i, kv := range v.Items() {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, kv[0], depth+1)
			b.WriteString(": ")
			writeRepr(b, kv[1], depth+1)
		}
		b.WriteByte('}')
	case *starlark.Set:
		if v.Len() == 0 {
			b.WriteString("set()")
			return
		}
		b.WriteByte('{')
		i := 0
		for x := range starlark.Elements(v) {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, x, depth+1)
			i++
		}
		b.WriteByte('}')
	default:
		b.WriteString(v.String())
	}
}

// maxReprBytes bounds the text form of one value, so that printing a huge
// nested structure stops early instead of filling memory.
const maxReprBytes = 16 << 20

// formatSpec is Python's format-spec mini-language:
// [[fill]align][sign][z][#][0][width][grouping][.precision][type].
type formatSpec struct {
	fill      rune
	align     byte
	sign      byte
	alt       bool
	zero      bool
	width     int
	grouping  byte
	precision int // -1: none
	typ       byte
}

func parseSpec(s string) (formatSpec, error) {
	sp := formatSpec{fill: ' ', precision: -1}
	bad := func() (formatSpec, error) { return sp, fmt.Errorf("invalid format specifier %q", s) }
	i := 0
	if r, n := utf8.DecodeRuneInString(s); n > 0 && n < len(s) && strings.IndexByte("<>=^", s[n]) >= 0 {
		sp.fill, sp.align, i = r, s[n], n+1
	} else if len(s) > 0 && strings.IndexByte("<>=^", s[0]) >= 0 {
		sp.align, i = s[0], 1
	}
	if i < len(s) && strings.IndexByte("+- ", s[i]) >= 0 {
		sp.sign = s[i]
		i++
	}
	if i < len(s) && s[i] == 'z' {
		i++
	}
	if i < len(s) && s[i] == '#' {
		sp.alt = true
		i++
	}
	if i < len(s) && s[i] == '0' {
		sp.zero = true
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j > i {
		w, err := strconv.Atoi(s[i:j])
		if err != nil || w > 1<<20 {
			return bad()
		}
		sp.width, i = w, j
	}
	if i < len(s) && (s[i] == ',' || s[i] == '_') {
		sp.grouping = s[i]
		i++
	}
	if i < len(s) && s[i] == '.' {
		j = i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		p, err := strconv.Atoi(s[i+1 : j])
		if err != nil || p > 1000 {
			return bad()
		}
		sp.precision, i = p, j
	}
	if i < len(s) {
		sp.typ = s[i]
		i++
	}
	if i != len(s) {
		return bad()
	}
	return sp, nil
}

// pyFormat is Python's format(v, spec) for None, bools, ints, floats and
// strings; other values accept only an empty spec.
func pyFormat(v starlark.Value, spec string) (string, error) {
	if spec == "" {
		return pyStr(v), nil
	}
	sp, err := parseSpec(spec)
	if err != nil {
		return "", err
	}
	var body string
	numeric := false
	switch v := v.(type) {
	case starlark.String:
		if sp.typ != 0 && sp.typ != 's' {
			return "", fmt.Errorf("unknown format code '%c' for object of type 'str'", sp.typ)
		}
		body = string(v)
		if sp.precision >= 0 && utf8.RuneCountInString(body) > sp.precision {
			body = string([]rune(body)[:sp.precision])
		}
	case starlark.Int:
		numeric = true
		switch sp.typ {
		case 'e', 'E', 'f', 'F', 'g', 'G', '%':
			f, _ := starlark.AsFloat(v)
			body = formatFloat(f, sp)
		default:
			if body, err = formatInt(v.BigInt(), sp); err != nil {
				return "", err
			}
		}
	case starlark.Bool:
		if sp.typ == 0 || sp.typ == 's' {
			body = pyStr(v)
		} else {
			numeric = true
			n := int64(0)
			if v {
				n = 1
			}
			if body, err = formatInt(big.NewInt(n), sp); err != nil {
				return "", err
			}
		}
	case starlark.Float:
		numeric = true
		switch sp.typ {
		case 0, 'e', 'E', 'f', 'F', 'g', 'G', '%', 'n':
			body = formatFloat(float64(v), sp)
		default:
			return "", fmt.Errorf("unknown format code '%c' for object of type 'float'", sp.typ)
		}
	default:
		return "", fmt.Errorf("unsupported format string passed to %s.__format__", v.Type())
	}
	return pad(body, sp, numeric), nil
}

func formatInt(n *big.Int, sp formatSpec) (string, error) {
	neg := n.Sign() < 0
	a := new(big.Int).Abs(n)
	var digits, prefix string
	switch sp.typ {
	case 0, 'd', 'n':
		digits = a.String()
	case 'b':
		digits, prefix = a.Text(2), "0b"
	case 'o':
		digits, prefix = a.Text(8), "0o"
	case 'x':
		digits, prefix = a.Text(16), "0x"
	case 'X':
		digits, prefix = strings.ToUpper(a.Text(16)), "0X"
	case 'c':
		return string(rune(n.Int64())), nil
	default:
		return "", fmt.Errorf("unknown format code '%c' for object of type 'int'", sp.typ)
	}
	if sp.precision >= 0 {
		return "", fmt.Errorf("precision not allowed in integer format specifier")
	}
	if sp.grouping != 0 {
		every := 3
		if sp.typ == 'b' || sp.typ == 'o' || sp.typ == 'x' || sp.typ == 'X' {
			every = 4
		}
		digits = group(digits, sp.grouping, every)
	}
	if !sp.alt {
		prefix = ""
	}
	return signOf(neg, sp) + prefix + digits, nil
}

func formatFloat(f float64, sp formatSpec) string {
	neg := math.Signbit(f) && !math.IsNaN(f)
	a := math.Abs(f)
	var s string
	prec := sp.precision
	switch {
	case math.IsInf(a, 0):
		s = "inf"
	case math.IsNaN(a):
		s = "nan"
	default:
		switch sp.typ {
		case 'f', 'F':
			if prec < 0 {
				prec = 6
			}
			s = strconv.FormatFloat(a, 'f', prec, 64)
		case 'e', 'E':
			if prec < 0 {
				prec = 6
			}
			s = strconv.FormatFloat(a, 'e', prec, 64)
		case '%':
			if prec < 0 {
				prec = 6
			}
			s = strconv.FormatFloat(a*100, 'f', prec, 64) + "%"
		case 'g', 'G', 'n':
			if prec < 0 {
				prec = 6
			}
			s = pyG(a, prec, sp.alt)
		default: // no type: like repr, or 'g' with at least one digit after the point
			if prec < 0 {
				s = pyfloat.Repr(a)
			} else {
				s = pyG(a, max(prec, 1), sp.alt)
				if !strings.ContainsAny(s, ".e") {
					s += ".0"
				}
			}
		}
	}
	if sp.typ == 'E' || sp.typ == 'G' || sp.typ == 'F' {
		s = strings.ToUpper(s)
	}
	if sp.grouping != 0 {
		intPart, rest := s, ""
		if k := strings.IndexAny(s, ".e%"); k >= 0 {
			intPart, rest = s[:k], s[k:]
		}
		if intPart != "inf" && intPart != "nan" {
			s = group(intPart, sp.grouping, 3) + rest
		}
	}
	return signOf(neg, sp) + s
}

// pyG is Python's 'g' presentation: exponent notation when the exponent is
// below -4 or at least the precision, trailing zeros removed unless alt.
func pyG(a float64, prec int, alt bool) string {
	if prec == 0 {
		prec = 1
	}
	if a == 0 {
		if alt {
			return "0." + strings.Repeat("0", prec-1)
		}
		return "0"
	}
	e := strconv.FormatFloat(a, 'e', prec-1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	var s string
	if exp < -4 || exp >= prec {
		s = e
		if !alt {
			m, x, _ := strings.Cut(s, "e")
			if strings.Contains(m, ".") {
				m = strings.TrimRight(strings.TrimRight(m, "0"), ".")
			}
			s = m + "e" + x
		}
		return s
	}
	s = strconv.FormatFloat(a, 'f', max(prec-1-exp, 0), 64)
	if !alt && strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func signOf(neg bool, sp formatSpec) string {
	switch {
	case neg:
		return "-"
	case sp.sign == '+':
		return "+"
	case sp.sign == ' ':
		return " "
	}
	return ""
}

func group(digits string, sep byte, every int) string {
	if len(digits) <= every {
		return digits
	}
	var b strings.Builder
	first := len(digits) % every
	if first > 0 {
		b.WriteString(digits[:first])
	}
	for i := first; i < len(digits); i += every {
		if b.Len() > 0 {
			b.WriteByte(sep)
		}
		b.WriteString(digits[i : i+every])
	}
	return b.String()
}

func pad(body string, sp formatSpec, numeric bool) string {
	n := utf8.RuneCountInString(body)
	if n >= sp.width {
		return body
	}
	align, fill := sp.align, sp.fill
	if sp.zero && align == 0 && numeric {
		align, fill = '=', '0'
	}
	if align == 0 {
		align = '<'
		if numeric {
			align = '>'
		}
	}
	gap := sp.width - n
	f := string(fill)
	switch align {
	case '>':
		return strings.Repeat(f, gap) + body
	case '^':
		return strings.Repeat(f, gap/2) + body + strings.Repeat(f, gap-gap/2)
	case '=':
		sign := ""
		if len(body) > 0 && (body[0] == '-' || body[0] == '+' || body[0] == ' ') {
			sign, body = body[:1], body[1:]
		}
		if sp.alt && len(body) > 1 && body[0] == '0' && strings.IndexByte("bBoOxX", body[1]) >= 0 {
			sign, body = sign+body[:2], body[2:]
		}
		return sign + strings.Repeat(f, gap) + body
	}
	return body + strings.Repeat(f, gap)
}
