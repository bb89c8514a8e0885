package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func splitAll(p pretokenizer, s string) []string {
	var out []string
	p.split(s, func(piece string) { out = append(out, piece) })
	return out
}

// matcherCases exercise every branch of the well-known patterns.
var matcherCases = []string{
	"Hello, world!",
	"  leading spaces and trailing   ",
	"I'm you're we'll DON'T 'S 'Re 'LL 'x ſ 'ſ",
	"numbers 1234567 and 3.14159 ١٢٣٤ ½",
	"def f(x):\n\treturn x**2  # square\n",
	"\n\n\n   \n",
	"a  \n  b\r\n\r\nc \t\u00a0d\u3000e",
	"emoji 🤖🔧 and accents café naïve",
	"中文分词测试，工具调用。",
	"https://example.com/a?b=c&d=e",
	"...!!!\n\n???   ",
	" ?! x",
	"\xff\xfe invalid \xc3 bytes \xe2\x82",
	"tab\tletter \ttab",
	"'",
	" ",
	"x",
	"",
}

// comparable reports whether regexp2 is a valid oracle for s: invalid UTF-8
// is out (Hugging Face never sees it; here it only has to round-trip).
func comparable(s string) bool { return utf8.ValidString(s) }

func TestMatcher_AgainstRegexp2(t *testing.T) {
	for _, pat := range []struct {
		name, pattern string
	}{
		{"gpt2", PatternGPT2},
		{"llama3", PatternLlama3},
		{"qwen2", PatternQwen2},
	} {
		re, err := newRegexMatcher(pat.pattern)
		if err != nil {
			t.Fatal(err)
		}
		fast := &splitter{m: fastPatterns[pat.pattern], behavior: behaviorIsolated}
		slow := &splitter{m: re, behavior: behaviorIsolated}
		for _, s := range matcherCases {
			t.Run(pat.name+"/"+s, func(t *testing.T) {
				got, want := splitAll(fast, s), splitAll(slow, s)
				if comparable(s) && !slices.Equal(got, want) {
					t.Errorf("split(%q)\n fast %q\nregex %q", s, got, want)
				}
				if strings.Join(got, "") != s {
					t.Errorf("pieces %q do not cover %q", got, s)
				}
			})
		}
	}
}

// FuzzMatcher checks the hand-written matchers against regexp2 on any input.
func FuzzMatcher(f *testing.F) {
	for _, s := range matcherCases {
		f.Add(s)
	}
	type pair struct{ fast, slow *splitter }
	var pairs []pair
	for _, pattern := range []string{PatternGPT2, PatternLlama3, PatternQwen2} {
		re, err := newRegexMatcher(pattern)
		if err != nil {
			f.Fatal(err)
		}
		pairs = append(pairs, pair{
			&splitter{m: fastPatterns[pattern], behavior: behaviorIsolated},
			&splitter{m: re, behavior: behaviorIsolated},
		})
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return // backtracking regexp2 is slow on long inputs
		}
		for _, p := range pairs {
			got, want := splitAll(p.fast, s), splitAll(p.slow, s)
			if comparable(s) && !slices.Equal(got, want) {
				t.Fatalf("split(%q)\n fast %q\nregex %q", s, got, want)
			}
			if strings.Join(got, "") != s {
				t.Fatalf("pieces %q do not cover %q", got, s)
			}
		}
	})
}

func TestSplitter_Behaviors(t *testing.T) {
	// Expected values from the Hugging Face tokenizers documentation and
	// tests for NormalizedString::split on "the-final--countdown" with "-".
	tests := []struct {
		name     string
		behavior string
		invert   bool
		want     []string
	}{
		{"removed", behaviorRemoved, false, []string{"the", "final", "countdown"}},
		{"isolated", behaviorIsolated, false, []string{"the", "-", "final", "-", "-", "countdown"}},
		{"merged_with_previous", behaviorMergedWithPrev, false, []string{"the-", "final-", "-", "countdown"}},
		{"merged_with_next", behaviorMergedWithNext, false, []string{"the", "-final", "-", "-countdown"}},
		{"contiguous", behaviorContiguous, false, []string{"the", "-", "final", "--", "countdown"}},
		{"removed_inverted", behaviorRemoved, true, []string{"-", "-", "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := &splitter{m: literalMatcher{lit: "-"}, behavior: tt.behavior, invert: tt.invert}
			if got := splitAll(sp, "the-final--countdown"); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDigits(t *testing.T) {
	tests := []struct {
		name       string
		individual bool
		want       []string
	}{
		{"runs", false, []string{"Call ", "123", " please"}},
		{"individual", true, []string{"Call ", "1", "2", "3", " please"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := &splitter{m: digitsMatcher{individual: tt.individual}, behavior: behaviorIsolated}
			if got := splitAll(sp, "Call 123 please"); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
