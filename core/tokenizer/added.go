package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// AddedToken is an entry of tokenizer.json's added_tokens: a string that is
// matched in text before pre-tokenization and maps to one id.
type AddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedMatcher finds added tokens in text, leftmost then longest, as Hugging
// Face's Aho-Corasick pass does, with a byte trie. Text without any byte that
// starts a token costs one table lookup per byte, or a vectorised
// strings.IndexByte when all tokens share their first byte ('<' in Llama 3
// and Qwen).
type addedMatcher struct {
	root      trieNode
	first     [256]bool
	onlyFirst int // the one first byte of every token, or -1
}

type trieNode struct {
	children map[byte]*trieNode
	tok      *AddedToken // a token ends here
}

func newAddedMatcher(tokens []AddedToken) *addedMatcher {
	m := &addedMatcher{onlyFirst: -1}
	firsts := 0
	for i := range tokens {
		t := &tokens[i]
		if t.Content == "" {
			continue
		}
		if !m.first[t.Content[0]] {
			m.first[t.Content[0]] = true
			firsts++
			m.onlyFirst = int(t.Content[0])
		}
		n := &m.root
		for j := 0; j < len(t.Content); j++ {
			if n.children == nil {
				n.children = map[byte]*trieNode{}
			}
			c, ok := n.children[t.Content[j]]
			if !ok {
				c = &trieNode{}
				n.children[t.Content[j]] = c
			}
			n = c
		}
		if n.tok == nil { // on duplicate contents the first entry wins
			n.tok = t
		}
	}
	if firsts != 1 {
		m.onlyFirst = -1
	}
	return m
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) }

// candidates returns the tokens that match at s[i:], longest first.
func (m *addedMatcher) candidates(s string, i int, buf []*AddedToken) []*AddedToken {
	n := &m.root
	for j := i; j < len(s) && n.children != nil; j++ {
		if n = n.children[s[j]]; n == nil {
			break
		}
		if n.tok != nil {
			buf = append(buf, n.tok)
		}
	}
	for l, r := 0, len(buf)-1; l < r; l, r = l+1, r-1 {
		buf[l], buf[r] = buf[r], buf[l]
	}
	return buf
}

// find returns the next added token in s at or after pos and the span it
// covers, which includes the whitespace that lstrip/rstrip swallow. With no
// token it returns nil, len(s), len(s).
func (m *addedMatcher) find(s string, pos int) (tok *AddedToken, start, end int) {
	var buf [8]*AddedToken
	for i := pos; i < len(s); i++ {
		if m.onlyFirst >= 0 {
			j := strings.IndexByte(s[i:], byte(m.onlyFirst))
			if j < 0 {
				break
			}
			i += j
		} else if !m.first[s[i]] {
			continue
		}
		for _, t := range m.candidates(s, i, buf[:0]) {
			e := i + len(t.Content)
			if t.SingleWord {
				before, _ := utf8.DecodeLastRuneInString(s[:i])
				after, _ := utf8.DecodeRuneInString(s[e:])
				if (i > 0 && isWordRune(before)) || (e < len(s) && isWordRune(after)) {
					continue
				}
			}
			st := i
			if t.LStrip {
				for st > pos {
					r, w := utf8.DecodeLastRuneInString(s[pos:st])
					if !unicode.IsSpace(r) {
						break
					}
					st -= w
				}
			}
			if t.RStrip {
				for e < len(s) {
					r, w := utf8.DecodeRuneInString(s[e:])
					if !unicode.IsSpace(r) {
						break
					}
					e += w
				}
			}
			return t, st, e
		}
	}
	return nil, len(s), len(s)
}
