package chattemplate

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// applyWhitespaceControl rewrites a template so that the engine, run with
// no whitespace handling of its own, lays text out as Jinja2's lexer does
// with trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False:
//
//   - newlines (\r\n, \r, \n) become \n and one trailing newline is dropped;
//   - "-" after an opening or before a closing delimiter strips all
//     whitespace on that side; "+" keeps it; both markers are removed;
//   - trim_blocks: one "\n" right after %} or #} is dropped;
//   - lstrip_blocks: spaces and tabs between the start of a line and {% or
//     {# are dropped.
//
// # Why not the engine's own options
//
// gonja's LeftStripBlocks also strips blanks before a block tag that
// follows other text on the same line ("{{ x }} {% if %}" loses its space),
// which changes the output of real templates. Doing the layout here, with
// Jinja2's rules (jinja2/lexer.py, tokeniter), keeps the engine out of it.
func applyWhitespaceControl(src string) (string, error) {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	src = strings.TrimSuffix(src, "\n")

	var out strings.Builder
	out.Grow(len(src))
	pos := 0
	lineStarting := true
	for pos < len(src) {
		open := nextOpen(src, pos)
		if open < 0 {
			out.WriteString(src[pos:])
			break
		}
		text := src[pos:open]
		kind := src[open+1] // '{', '%' or '#'
		i := open + 2
		sign := byte(0)
		if i < len(src) && (src[i] == '-' || src[i] == '+') {
			sign = src[i]
			i++
		}
		switch {
		case sign == '-':
			text = strings.TrimRightFunc(text, unicode.IsSpace)
		case sign != '+' && kind != '{':
			lpos := strings.LastIndexByte(text, '\n') + 1
			if (lpos > 0 || lineStarting) && lpos < len(text) && isBlank(text[lpos:]) {
				text = text[:lpos]
			}
		}
		out.WriteString(text)

		if kind == '%' && isRawTag(src, i) {
			pos, lineStarting = copyRaw(&out, src, open, i)
			continue
		}

		// Find the end of the tag and copy it without markers.
		end, endLen, endSign, ok := tagEnd(src, i, kind)
		if ok && endLen < 0 {
			return "", errTooDeep
		}
		out.WriteString(src[open : open+2])
		if !ok {
			// Unterminated: hand the rest to the engine, which reports it.
			out.WriteString(src[i:])
			break
		}
		out.WriteString(src[i:end])
		out.WriteString(src[end+endLen-2 : end+endLen])
		pos = end + endLen
		switch {
		case endSign == '-':
			rest := strings.TrimLeftFunc(src[pos:], unicode.IsSpace)
			skipped := src[pos : len(src)-len(rest)]
			pos += len(skipped)
			lineStarting = strings.HasSuffix(skipped, "\n")
		case endSign != '+' && kind != '{' && pos < len(src) && src[pos] == '\n':
			pos++
			lineStarting = true
		default:
			lineStarting = false
		}
	}
	return out.String(), nil
}

// maxNesting bounds bracket nesting inside one tag. The engine's parser
// recurses per level, and a Go stack overflow is fatal; Python's Jinja stops
// far below this with RecursionError.
const maxNesting = 256

var errTooDeep = errors.New("brackets nested deeper than 256 levels")

func isBlank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// nextOpen finds the next "{{", "{%" or "{#" at or after pos.
func nextOpen(src string, pos int) int {
	for {
		j := strings.IndexByte(src[pos:], '{')
		if j < 0 || pos+j+1 >= len(src) {
			return -1
		}
		j += pos
		switch src[j+1] {
		case '{', '%', '#':
			return j
		}
		pos = j + 1
	}
}

// tagEnd finds where the tag body that starts at i ends: the index of the
// closing delimiter (including a "-" or "+" marker in front of it), the
// length of marker plus delimiter (-1 when brackets nest deeper than
// maxNesting), and the marker. Comments end at the first
// "#}"; blocks and expressions skip string literals and close only outside
// brackets, as Jinja2's lexer does.
func tagEnd(src string, i int, kind byte) (end, n int, sign byte, ok bool) {
	closer := "}}"
	switch kind {
	case '%':
		closer = "%}"
	case '#':
		closer = "#}"
	}
	depth := 0
	for j := i; j < len(src); {
		c := src[j]
		if depth == 0 || kind == '#' {
			if (c == '-' || c == '+') && strings.HasPrefix(src[j+1:], closer) && !(c == '+' && kind == '{') {
				return j, 3, c, true
			}
			if strings.HasPrefix(src[j:], closer) {
				return j, 2, 0, true
			}
		}
		if kind == '#' {
			_, size := utf8.DecodeRuneInString(src[j:])
			j += size
			continue
		}
		switch c {
		case '\'', '"':
			k := j + 1
			for k < len(src) && src[k] != c {
				if src[k] == '\\' {
					k++
				}
				k++
			}
			if k >= len(src) {
				return 0, 0, 0, false
			}
			j = k + 1
			continue
		case '(', '[', '{':
			depth++
			if depth > maxNesting {
				return j, -1, 0, true
			}
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		}
		j++
	}
	return 0, 0, 0, false
}

// isRawTag reports whether the block tag body at i is "raw".
func isRawTag(src string, i int) bool {
	rest := strings.TrimLeftFunc(src[i:], unicode.IsSpace)
	if !strings.HasPrefix(rest, "raw") {
		return false
	}
	rest = strings.TrimLeftFunc(rest[3:], unicode.IsSpace)
	return strings.HasPrefix(rest, "%}") || strings.HasPrefix(rest, "-%}")
}

// copyRaw copies {% raw %}...{% endraw %} with its body untouched, applying
// the whitespace rules Jinja2 applies around the two tags. open is the
// position of "{%"; i is just past the optional marker.
func copyRaw(out *strings.Builder, src string, open, i int) (int, bool) {
	end, endLen, endSign, ok := tagEnd(src, i, '%')
	if !ok || endLen < 0 {
		out.WriteString(src[open:])
		return len(src), false
	}
	pos := end + endLen
	if endSign == '-' {
		pos = len(src) - len(strings.TrimLeftFunc(src[pos:], unicode.IsSpace))
	} // no trim_blocks after {% raw %}, as in Jinja2
	// Find {%[-+]? endraw ... %}.
	body := pos
	for {
		k := strings.Index(src[body:], "{%")
		if k < 0 {
			// Unterminated raw: let the engine report it.
			out.WriteString("{% raw %}")
			out.WriteString(src[pos:])
			return len(src), false
		}
		k += body
		j := k + 2
		sign := byte(0)
		if j < len(src) && (src[j] == '-' || src[j] == '+') {
			sign = src[j]
			j++
		}
		rest := strings.TrimLeftFunc(src[j:], unicode.IsSpace)
		if !strings.HasPrefix(rest, "endraw") {
			body = k + 2
			continue
		}
		e, eLen, eSign, ok := tagEnd(src, j, '%')
		if !ok || eLen < 0 {
			body = k + 2
			continue
		}
		text := src[pos:k]
		switch {
		case sign == '-':
			text = strings.TrimRightFunc(text, unicode.IsSpace)
		case sign != '+':
			lpos := strings.LastIndexByte(text, '\n') + 1
			if lpos > 0 && lpos < len(text) && isBlank(text[lpos:]) {
				text = text[:lpos]
			}
		}
		out.WriteString("{% raw %}")
		out.WriteString(text)
		out.WriteString("{% endraw %}")
		next := e + eLen
		lineStarting := false
		switch {
		case eSign == '-':
			rest := strings.TrimLeftFunc(src[next:], unicode.IsSpace)
			lineStarting = strings.HasSuffix(src[next:len(src)-len(rest)], "\n")
			next = len(src) - len(rest)
		case eSign != '+' && next < len(src) && src[next] == '\n':
			next++
			lineStarting = true
		}
		return next, lineStarting
	}
}
