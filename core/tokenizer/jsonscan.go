package tokenizer

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// # Why a scanner
//
// The vocabulary and merges are 95% of a tokenizer.json (9-11 MB for Llama 3
// and Qwen). encoding/json decodes them through reflection and validates the
// bytes once per nested Unmarshal; this scanner reads the two shapes it
// needs directly and cuts Load time by about half. Its input has already
// passed encoding/json's validation as part of the whole file, but it still
// checks every step and returns errors rather than trusting that.
// FuzzScanVocab compares it with encoding/json.

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrInvalid, s.i, fmt.Sprintf(format, args...))
}

// expect consumes c after optional whitespace.
func (s *scanner) expect(c byte) error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != c {
		return s.errorf("want %q", c)
	}
	s.i++
	return nil
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// str reads a JSON string. Plain valid-UTF-8 strings are sliced directly;
// ones with escapes or invalid UTF-8 go through encoding/json, which
// decodes them exactly as it would have.
func (s *scanner) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.i
	escaped := false
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if !escaped && utf8.Valid(raw) {
				return string(raw), nil
			}
			var out string
			if err := json.Unmarshal(s.b[start-1:s.i], &out); err != nil {
				return "", fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			return out, nil
		case c == '\\':
			escaped = true
			s.i += 2
		case c < 0x20:
			return "", s.errorf("control character in string")
		default:
			s.i++
		}
	}
	return "", s.errorf("unterminated string")
}

// id reads a non-negative JSON integer that fits in int32. Negative ids are
// read too so that the caller can report them.
func (s *scanner) id() (int32, error) {
	s.ws()
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	start := s.i
	var v int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		v = v*10 + int64(s.b[s.i]-'0')
		if v > 1<<31 {
			return 0, s.errorf("id out of range")
		}
		s.i++
	}
	if s.i == start {
		return 0, s.errorf("want an integer id")
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, s.errorf("id is not an integer")
	}
	if neg {
		v = -v
	}
	if v > 1<<31-1 || v < -1<<31 {
		return 0, s.errorf("id out of range")
	}
	return int32(v), nil
}

// scanVocab reads {"token": id, ...}; a repeated token keeps its last id, as
// with encoding/json.
func scanVocab(raw []byte) (map[string]int32, error) {
	s := &scanner{b: raw}
	if s.peek() == 'n' {
		return map[string]int32{}, nil // null
	}
	if err := s.expect('{'); err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	vocab := make(map[string]int32, len(raw)/12)
	if s.peek() == '}' {
		s.i++
		return vocab, nil
	}
	for {
		tok, err := s.str()
		if err != nil {
			return nil, fmt.Errorf("vocab: %w", err)
		}
		if err := s.expect(':'); err != nil {
			return nil, fmt.Errorf("vocab: %w", err)
		}
		id, err := s.id()
		if err != nil {
			return nil, fmt.Errorf("vocab %q: %w", tok, err)
		}
		vocab[tok] = id
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return vocab, nil
		default:
			return nil, fmt.Errorf("vocab: %w", s.errorf("want ',' or '}'"))
		}
	}
}

// scanMerges reads both spellings of merges: ["a b", ...] (older files) and
// [["a", "b"], ...] (tokenizers >= 0.20, needed when tokens contain spaces).
func scanMerges(raw []byte) ([][2]string, error) {
	s := &scanner{b: raw}
	if c := s.peek(); c == 0 || c == 'n' {
		return nil, nil // absent or null
	}
	if err := s.expect('['); err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	merges := make([][2]string, 0, len(raw)/12)
	if s.peek() == ']' {
		s.i++
		return merges, nil
	}
	for {
		var pair [2]string
		n := len(merges)
		if s.peek() == '[' {
			s.i++
			var err error
			if pair[0], err = s.str(); err == nil {
				if err = s.expect(','); err == nil {
					if pair[1], err = s.str(); err == nil {
						err = s.expect(']')
					}
				}
			}
			if err != nil {
				return nil, fmt.Errorf("merges[%d]: want [left, right]: %w", n, err)
			}
		} else {
			line, err := s.str()
			if err != nil {
				return nil, fmt.Errorf("merges[%d]: %w", n, err)
			}
			a, b, ok := cutSpace(line)
			if !ok {
				return nil, fmt.Errorf("merges[%d] %q: %w: want \"left right\"", n, line, ErrInvalid)
			}
			pair = [2]string{a, b}
		}
		merges = append(merges, pair)
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return merges, nil
		default:
			return nil, fmt.Errorf("merges: %w", s.errorf("want ',' or ']'"))
		}
	}
}

// cutSpace splits "a b" at its only space.
func cutSpace(line string) (string, string, bool) {
	at := -1
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' {
			if at >= 0 {
				return "", "", false
			}
			at = i
		}
	}
	if at < 0 {
		return "", "", false
	}
	return line[:at], line[at+1:], true
}
