package rewards

// A JSON scanner for WebAssembly rewards: the syntax of encoding/json
// (strings with their escapes, numbers, literals, nesting up to maxDepth,
// Unicode key folding) without reflection, fmt or indirect calls, so that
// DecodeAnswers can read two fields out of a request and check and skip the
// rest at a few nanoseconds a byte. Errors are *DecodeError.

import (
	"encoding/binary"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// scanner reads the JSON in data from byte i on; depth and open track the
// nesting, buf holds a string that needed unescaping.
type scanner struct {
	data  []byte
	i     int
	depth int
	// open is the stack of containers skip is inside: true for an object.
	open []bool
	buf  []byte // unescaped string scratch
}

func (d *scanner) fail(msg string) error { return &DecodeError{Offset: d.i, Msg: msg} }

func (d *scanner) typeError(field, want string) error {
	return &DecodeError{Offset: d.i, Msg: field + " must be " + want}
}

func quoteByte(c byte) string {
	return strconv.QuoteRune(rune(c))
}

func (d *scanner) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// expect consumes c after optional white space.
func (d *scanner) expect(c byte, what string) error {
	d.ws()
	if d.i >= len(d.data) {
		return d.fail("unexpected end of JSON input")
	}
	if d.data[d.i] != c {
		return d.fail("invalid character " + quoteByte(d.data[d.i]) + " " + what)
	}
	d.i++
	return nil
}

func (d *scanner) enter() error {
	d.depth++
	if d.depth > maxDepth {
		return d.fail("exceeded max depth")
	}
	return nil
}

// key reads `"name" :` and returns the unescaped name.
func (d *scanner) key() ([]byte, error) {
	if err := d.expect('"', "looking for beginning of object key string"); err != nil {
		return nil, err
	}
	key, err := d.str()
	if err != nil {
		return nil, err
	}
	if err := d.expect(':', "after object key"); err != nil {
		return nil, err
	}
	return key, nil
}

// next consumes the ',' or '}' after an object member; done is true at '}'.
func (d *scanner) next() (done bool, err error) {
	d.ws()
	if d.i >= len(d.data) {
		return true, d.fail("unexpected end of JSON input")
	}
	switch d.data[d.i] {
	case ',':
		d.i++
		return false, nil
	case '}':
		d.i++
		d.depth--
		return true, nil
	}
	return true, d.fail("invalid character " + quoteByte(d.data[d.i]) + " after object key:value pair")
}

// str decodes the string whose opening quote is just before d.i. The result
// aliases the input when there is nothing to unescape, else d.buf.
func (d *scanner) str() ([]byte, error) {
	data := d.data
	start := d.i
	i := start
	for i < len(data) {
		c := data[i]
		if c == '"' {
			d.i = i + 1
			return data[start:i], nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	b := append(d.buf[:0], data[start:i]...)
	for {
		if i >= len(data) {
			d.i = i
			return nil, d.fail("unexpected end of JSON input")
		}
		c := data[i]
		switch {
		case c == '"':
			d.i = i + 1
			d.buf = b
			return b, nil
		case c == '\\':
			if i+1 >= len(data) {
				d.i = i + 1
				return nil, d.fail("unexpected end of JSON input")
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(data, i+2)
				if !ok {
					d.i = i + 2
					return nil, d.badEscape()
				}
				i += 6
				if r >= 0xD800 && r < 0xE000 {
					// A high surrogate followed by an escaped low one is
					// one rune; any other surrogate is U+FFFD, and what
					// follows is read on its own (encoding/json's unquote).
					if r < 0xDC00 && i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
						if r2, ok := hex4(data, i+2); ok && r2 >= 0xDC00 && r2 < 0xE000 {
							b = utf8.AppendRune(b, (r-0xD800)<<10|(r2-0xDC00)+0x10000)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				d.i = i + 1
				return nil, d.fail("invalid character " + quoteByte(e) + " in string escape code")
			}
			i += 2
		case c < 0x20:
			d.i = i
			return nil, d.fail("invalid character " + quoteByte(c) + " in string literal")
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, data[i:i+size]...)
			}
			i += size
		}
	}
}

func (d *scanner) badEscape() error {
	if d.i+4 > len(d.data) {
		for j := d.i; j < len(d.data); j++ {
			if _, ok := hexDigit(d.data[j]); !ok {
				d.i = j
				return d.fail("invalid character " + quoteByte(d.data[j]) + " in \\u hexadecimal character escape")
			}
		}
		d.i = len(d.data)
		return d.fail("unexpected end of JSON input")
	}
	for j := d.i; j < d.i+4; j++ {
		if _, ok := hexDigit(d.data[j]); !ok {
			d.i = j
			break
		}
	}
	return d.fail("invalid character " + quoteByte(d.data[d.i]) + " in \\u hexadecimal character escape")
}

func hexDigit(c byte) (rune, bool) {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0'), true
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10), true
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10), true
	}
	return 0, false
}

// hex4 reads the four hex digits at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		v, ok := hexDigit(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | v
	}
	return r, true
}

// skipString consumes a string whose opening quote is just before d.i,
// checking its escapes but decoding nothing.
func (d *scanner) skipString() error {
	data := d.data
	i := d.i
	for i < len(data) {
		// Step over long string bodies (completions, observations) a
		// word at a time: fewer iterations, and under wazero's
		// termination checks every branch a Go plugin takes is an exit
		// to the host.
		for i+8 <= len(data) && !special(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
		}
		if i >= len(data) {
			break
		}
		c := data[i]
		switch {
		case c == '"':
			d.i = i + 1
			return nil
		case c == '\\':
			if i+1 >= len(data) {
				d.i = i + 1
				return d.fail("unexpected end of JSON input")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(data, i+2); !ok {
					d.i = i + 2
					return d.badEscape()
				}
				i += 6
			default:
				d.i = i + 1
				return d.fail("invalid character " + quoteByte(data[i+1]) + " in string escape code")
			}
		case c < 0x20:
			d.i = i
			return d.fail("invalid character " + quoteByte(c) + " in string literal")
		default:
			i++
		}
	}
	d.i = i
	return d.fail("unexpected end of JSON input")
}

// special reports whether any byte of x is '"', '\\' or below 0x20 (the
// classic "has zero byte" test, exact when only asking whether any is).
func special(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - ones) &^ v & highs }
	return zero(x^(ones*'"'))|zero(x^(ones*'\\'))|((x-ones*0x20)&^x&highs) != 0
}

func (d *scanner) literal(word string) error {
	for j := 0; j < len(word); j++ {
		if d.i >= len(d.data) {
			return d.fail("unexpected end of JSON input")
		}
		if d.data[d.i] != word[j] {
			return d.fail("invalid character " + quoteByte(d.data[d.i]) + " in literal " + word + " (expecting " + quoteByte(word[j]) + ")")
		}
		d.i++
	}
	return nil
}

// number consumes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; what may
// follow it is the caller's check. Token ids make numbers common in traces,
// hence the plain loops.
func (d *scanner) number() error {
	data := d.data
	i := d.i
	if data[i] == '-' {
		i++
	}
	if i < len(data) && data[i] == '0' {
		i++
	} else {
		if i >= len(data) || data[i] < '1' || data[i] > '9' {
			return d.badNumber(i, "in numeric literal")
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return d.badNumber(i, "after decimal point in numeric literal")
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return d.badNumber(i, "in exponent of numeric literal")
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	d.i = i
	return nil
}

func (d *scanner) badNumber(i int, what string) error {
	d.i = i
	if i >= len(d.data) {
		return d.fail("unexpected end of JSON input")
	}
	return d.fail("invalid character " + quoteByte(d.data[i]) + " " + what)
}

// skip consumes one value of any type at d.i, checking its syntax. It keeps
// its own stack rather than recursing so that depth costs no goroutine stack.
func (d *scanner) skip() error {
	// An error abandons the decoder, so only success needs the stack and
	// depth back where they were.
	base := len(d.open)
	for {
		// A value.
		d.ws()
		if d.i >= len(d.data) {
			return d.fail("unexpected end of JSON input")
		}
		switch c := d.data[d.i]; {
		case c == '{' || c == '[':
			d.i++
			if err := d.enter(); err != nil {
				return err
			}
			obj := c == '{'
			d.open = append(d.open, obj)
			d.ws()
			if d.i < len(d.data) && (obj && d.data[d.i] == '}' || !obj && d.data[d.i] == ']') {
				d.i++
				d.depth--
				d.open = d.open[:len(d.open)-1]
				break
			}
			if obj {
				if err := d.keySkip(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			d.i++
			if err := d.skipString(); err != nil {
				return err
			}
		case c == '-' || '0' <= c && c <= '9':
			if err := d.number(); err != nil {
				return err
			}
		case c == 't':
			if err := d.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := d.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := d.literal("null"); err != nil {
				return err
			}
		default:
			return d.fail("invalid character " + quoteByte(c) + " looking for beginning of value")
		}
		// After a value: close containers until one continues.
		for {
			if len(d.open) == base {
				return nil
			}
			d.ws()
			if d.i >= len(d.data) {
				return d.fail("unexpected end of JSON input")
			}
			obj := d.open[len(d.open)-1]
			c := d.data[d.i]
			if c == ',' {
				d.i++
				if obj {
					if err := d.keySkip(); err != nil {
						return err
					}
				}
				break
			}
			if obj && c == '}' || !obj && c == ']' {
				d.i++
				d.depth--
				d.open = d.open[:len(d.open)-1]
				continue
			}
			if obj {
				return d.fail("invalid character " + quoteByte(c) + " after object key:value pair")
			}
			return d.fail("invalid character " + quoteByte(c) + " after array element")
		}
	}
}

// keySkip consumes `"name" :` without decoding the name.
func (d *scanner) keySkip() error {
	if err := d.expect('"', "looking for beginning of object key string"); err != nil {
		return err
	}
	if err := d.skipString(); err != nil {
		return err
	}
	return d.expect(':', "after object key")
}

// foldEqual reports whether key matches name (lower-case ASCII) the way
// encoding/json matches a key to a field it does not match exactly: every
// rune r of key folds as unicode.ToUpper(unicode.ToLower(r)), so that
// "FINAL_ANSWER" and even "final_anſwer" (long s) are final_answer.
func foldEqual(key []byte, name string) bool {
	j := 0
	for i := 0; i < len(key); j++ {
		if j >= len(name) {
			return false
		}
		want := rune(name[j])
		if 'a' <= want && want <= 'z' {
			want -= 'a' - 'A'
		}
		c := key[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			if rune(c) != want {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(key[i:])
		if unicode.ToUpper(unicode.ToLower(r)) != want {
			return false
		}
		i += size
	}
	return j == len(name)
}
