package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// Well-known split patterns. tokenizer.json files spell them exactly like
// this, so Split recognises them by string equality and runs a hand-written
// matcher instead of the backtracking regexp2 engine (about 20x faster). The
// matchers are checked against regexp2 by TestMatcher_AgainstRegexp2 and
// FuzzMatcher.
const (
	// PatternGPT2 is the GPT-2 pattern, implied by ByteLevel{use_regex: true}.
	PatternGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// PatternLlama3 is the Llama 3 (cl100k-style) pattern: digits in groups of up to three.
	PatternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// PatternQwen2 is the Qwen2/Qwen3 pattern: the Llama 3 one with single digits.
	PatternQwen2 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// matcher yields the non-overlapping, non-empty matches in s, in order.
type matcher interface {
	matches(s string, yield func(start, end int))
}

// fastPattern is the hand-written matcher for the three patterns above.
type fastPattern struct {
	caseInsensitive bool // (?i:'s|...)
	anyLetterPrefix bool // [^\r\n\p{L}\p{N}]?\p{L}+ rather than " ?\p{L}+"
	maxDigits       int  // \p{N}{1,maxDigits}; 0 means " ?\p{N}+"
	newlines        bool // [\r\n]* after punctuation, and the \s*[\r\n]+ branch
}

var fastPatterns = map[string]*fastPattern{
	PatternGPT2:   {},
	PatternLlama3: {caseInsensitive: true, anyLetterPrefix: true, maxDigits: 3, newlines: true},
	PatternQwen2:  {caseInsensitive: true, anyLetterPrefix: true, maxDigits: 1, newlines: true},
}

// decodeRune returns the rune at s[i:] and its width. Invalid bytes read as
// U+FFFD of width 1, exactly how regexp2 sees them, so that the raw byte is
// kept (and round-trips through byte-level BPE).
func decodeRune(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return (r|0x20) >= 'a' && (r|0x20) <= 'z'
	}
	return unicode.IsLetter(r)
}

func isNumber(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= '0' && r <= '9'
	}
	return unicode.IsNumber(r)
}

// isSpace is \s: Unicode White_Space, which is what both regexp2 and
// Oniguruma use.
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.IsSpace(r)
}

func isOther(r rune) bool { return r >= 0 && !isSpace(r) && !isLetter(r) && !isNumber(r) }

// contractionLen returns the length of 's|'t|'re|'ve|'m|'ll|'d at s[i:], or 0.
// fold is (?i:...) with ASCII folding, as regexp2 and transformers.js do it;
// Oniguruma (Hugging Face) may also fold U+017F LONG S to 's'.
func contractionLen(s string, i int, fold bool) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return 0
	}
	lower := func(c byte) byte {
		if fold && c >= 'A' && c <= 'Z' {
			return c + 32
		}
		return c
	}
	switch lower(s[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if i+2 < len(s) && lower(s[i+2]) == 'e' {
			return 3
		}
	case 'l':
		if i+2 < len(s) && lower(s[i+2]) == 'l' {
			return 3
		}
	}
	return 0
}

// run advances over runes satisfying pred and returns the new position and
// the number of runes consumed, stopping after max runes when max > 0.
func run(s string, i int, pred func(rune) bool, max int) int {
	n := 0
	for i < len(s) && (max <= 0 || n < max) {
		r, w := decodeRune(s, i)
		if !pred(r) {
			break
		}
		i += w
		n++
	}
	return i
}

func (p *fastPattern) matches(s string, yield func(start, end int)) {
	for pos := 0; pos < len(s); {
		e := p.end(s, pos)
		yield(pos, e)
		pos = e
	}
}

// end implements leftmost-first alternation of the pattern at pos, the
// branches tried in the pattern's order.
func (p *fastPattern) end(s string, pos int) int {
	if n := contractionLen(s, pos, p.caseInsensitive); n > 0 {
		return pos + n
	}
	r0, w0 := decodeRune(s, pos)
	r1, w1 := decodeRune(s, pos+w0)
	// Letters.
	if isLetter(r0) {
		return run(s, pos+w0, isLetter, 0)
	}
	if isLetter(r1) {
		if (p.anyLetterPrefix && r0 != '\r' && r0 != '\n' && !isNumber(r0)) || (!p.anyLetterPrefix && r0 == ' ') {
			return run(s, pos+w0+w1, isLetter, 0)
		}
	}
	// Numbers.
	if p.maxDigits > 0 {
		if isNumber(r0) {
			return run(s, pos, isNumber, p.maxDigits)
		}
	} else if isNumber(r0) {
		return run(s, pos+w0, isNumber, 0)
	} else if r0 == ' ' && isNumber(r1) {
		return run(s, pos+w0+w1, isNumber, 0)
	}
	// Punctuation and symbols, with an optional leading space.
	start := -1
	if isOther(r0) {
		start = pos
	} else if r0 == ' ' && isOther(r1) {
		start = pos + w0
	}
	if start >= 0 {
		e := run(s, start, isOther, 0)
		if p.newlines {
			for e < len(s) && (s[e] == '\r' || s[e] == '\n') {
				e++
			}
		}
		return e
	}
	// Whitespace: r0 is \s here (everything else has matched above).
	wsEnd, lastNL, last := pos, -1, pos
	for wsEnd < len(s) {
		r, w := decodeRune(s, wsEnd)
		if !isSpace(r) {
			break
		}
		if r == '\r' || r == '\n' {
			lastNL = wsEnd
		}
		last = wsEnd
		wsEnd += w
	}
	if wsEnd == pos { // cannot happen for valid input; keep progress anyway
		return pos + w0
	}
	if p.newlines && lastNL >= 0 {
		return lastNL + 1 // \s*[\r\n]+ backtracks to the last newline
	}
	if wsEnd == len(s) || last > pos {
		if wsEnd == len(s) {
			return wsEnd // \s+(?!\S) at end of text
		}
		return last // \s+(?!\S) gives the last space to the next word
	}
	return wsEnd // \s+
}

// regexMatcher is the general fallback for any other pattern.
type regexMatcher struct{ re *regexp2.Regexp }

func newRegexMatcher(pattern string) (*regexMatcher, error) {
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("compile split pattern %q: %w: %w", pattern, ErrInvalid, err)
	}
	return &regexMatcher{re: re}, nil
}

// matches maps regexp2's rune offsets back to byte offsets. Go converts
// each invalid byte to one U+FFFD rune, and so does decodeRune, so the two
// stay aligned. A regexp2 error (only a timeout, which is not set) ends the
// matches: the rest of s stays one piece.
func (m *regexMatcher) matches(s string, yield func(start, end int)) {
	runes := make([]rune, 0, len(s))
	offs := make([]int, 0, len(s)+1)
	for i := 0; i < len(s); {
		r, w := decodeRune(s, i)
		runes = append(runes, r)
		offs = append(offs, i)
		i += w
	}
	offs = append(offs, len(s))
	match, err := m.re.FindRunesMatchStartingAt(runes, 0)
	for err == nil && match != nil {
		if match.Length > 0 {
			yield(offs[match.Index], offs[match.Index+match.Length])
		}
		match, err = m.re.FindNextMatch(match)
	}
}

// literalMatcher is Split with {"String": "..."}.
type literalMatcher struct{ lit string }

func (m literalMatcher) matches(s string, yield func(start, end int)) {
	if m.lit == "" {
		return
	}
	for pos := 0; ; {
		i := strings.Index(s[pos:], m.lit)
		if i < 0 {
			return
		}
		yield(pos+i, pos+i+len(m.lit))
		pos += i + len(m.lit)
	}
}

// digitsMatcher is the Digits pre-tokenizer: runs of \p{N} (or single ones).
type digitsMatcher struct{ individual bool }

func (m digitsMatcher) matches(s string, yield func(start, end int)) {
	for i := 0; i < len(s); {
		r, w := decodeRune(s, i)
		switch {
		case !isNumber(r):
			i += w
		case m.individual:
			yield(i, i+w)
			i += w
		default:
			e := run(s, i, isNumber, 0)
			yield(i, e)
			i = e
		}
	}
}

// Split behaviours, as Hugging Face names them.
const (
	behaviorRemoved        = "Removed"
	behaviorIsolated       = "Isolated"
	behaviorMergedWithPrev = "MergedWithPrevious"
	behaviorMergedWithNext = "MergedWithNext"
	behaviorContiguous     = "Contiguous"
)

// pretokenizer cuts a string into pieces, calling emit for each non-empty
// piece in order.
type pretokenizer interface {
	split(s string, emit func(string))
}

type splitter struct {
	m        matcher
	behavior string
	invert   bool
}

type span struct {
	start, end int
	match      bool
}

func (p *splitter) split(s string, emit func(string)) {
	if s == "" {
		return
	}
	// Fast path: Isolated without invert emits gaps and matches in order.
	if p.behavior == behaviorIsolated && !p.invert {
		if fp, ok := p.m.(*fastPattern); ok {
			for pos := 0; pos < len(s); {
				e := fp.end(s, pos)
				emit(s[pos:e])
				pos = e
			}
			return
		}
	}
	var spans []span
	pos := 0
	p.m.matches(s, func(start, end int) {
		if start > pos {
			spans = append(spans, span{pos, start, false})
		}
		spans = append(spans, span{start, end, true})
		pos = end
	})
	if pos < len(s) {
		spans = append(spans, span{pos, len(s), false})
	}
	if p.invert {
		for i := range spans {
			spans[i].match = !spans[i].match
		}
	}
	emitSpans(s, mergeSpans(spans, p.behavior), emit)
}

// mergeSpans applies a Split behaviour the way Hugging Face's
// NormalizedString::split does.
func mergeSpans(spans []span, behavior string) []span {
	var out []span
	switch behavior {
	case behaviorRemoved:
		for _, sp := range spans {
			if !sp.match {
				out = append(out, sp)
			}
		}
	case behaviorMergedWithPrev:
		prevMatch := false
		for _, sp := range spans {
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].end = sp.end
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
	case behaviorMergedWithNext:
		prevMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].start = sp.start
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	case behaviorContiguous:
		prevMatch := false
		for _, sp := range spans {
			if sp.match == prevMatch && len(out) > 0 {
				out[len(out)-1].end = sp.end
			} else {
				out = append(out, sp)
			}
			prevMatch = sp.match
		}
	default: // Isolated
		out = spans
	}
	return out
}

func emitSpans(s string, spans []span, emit func(string)) {
	for _, sp := range spans {
		if sp.end > sp.start {
			emit(s[sp.start:sp.end])
		}
	}
}

// byteLevelPre is the ByteLevel pre-tokenizer. The byte mapping itself is
// done by the model; here only the optional GPT-2 split and prefix space.
type byteLevelPre struct {
	addPrefixSpace bool
	re             *splitter // nil unless use_regex
}

func (p *byteLevelPre) split(s string, emit func(string)) {
	if p.addPrefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	if p.re == nil {
		emit(s)
		return
	}
	p.re.split(s, emit)
}

type sequencePre []pretokenizer

func (seq sequencePre) split(s string, emit func(string)) {
	if len(seq) == 0 {
		emit(s)
		return
	}
	first, rest := seq[0], seq[1:]
	first.split(s, func(piece string) {
		if piece != "" {
			rest.split(piece, emit)
		}
	})
}
