package retrieval

import (
	"strings"
	"unicode"
)

// Tokenize splits text into the terms BM25 indexes: runs of letters and
// digits, split again at snake_case underscores and camelCase humps
// ("getWeatherForecast" → get, weather, forecast; "HTTPServer" → http,
// server), lower-cased, English stop words dropped and light suffixes
// stripped (see Stem), so that "forecasts" meets "forecast".
func Tokenize(text string) []string {
	var out []string
	for _, w := range words(text) {
		w = strings.ToLower(w)
		if stopWords[w] {
			continue
		}
		out = append(out, Stem(w))
	}
	return out
}

// words splits text at every rune that is not a letter or digit, and at
// case changes inside a word: a lower-to-upper step, and the last upper of
// an upper run followed by a lower ("HTTPServer" → HTTP, Server).
func words(text string) []string {
	var out []string
	rs := []rune(text)
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			out = append(out, string(rs[start:end]))
		}
		start = -1
	}
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		prev := rs[i-1]
		switch {
		case unicode.IsLower(prev) && unicode.IsUpper(r),
			unicode.IsLetter(prev) != unicode.IsLetter(r):
			flush(i)
			start = i
		case unicode.IsUpper(prev) && unicode.IsUpper(r) && i+1 < len(rs) && unicode.IsLower(rs[i+1]):
			flush(i)
			start = i
		}
	}
	flush(len(rs))
	return out
}

// Stem strips a few English inflections from a lower-case word, in three
// steps: plurals ("queries" → query, "boxes" → box, "events" → event),
// then "-ing" and "-ed", then a final "e", so that "create", "created",
// "creates" and "creating" all become "creat". It is deliberately light
// (no Porter rules): tool vocabularies are short and a wrong conflation
// costs more than a missed one. Words of four letters or fewer are kept.
func Stem(w string) string {
	if len(w) <= 4 {
		return w
	}
	switch n := len(w); {
	case strings.HasSuffix(w, "ies"):
		w = w[:n-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"), strings.HasSuffix(w, "xes"):
		w = w[:n-2]
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"):
	case strings.HasSuffix(w, "s"):
		w = w[:n-1]
	}
	switch n := len(w); {
	case strings.HasSuffix(w, "ing") && n > 5:
		w = undouble(w[:n-3])
	case strings.HasSuffix(w, "ed") && n > 5:
		w = undouble(w[:n-2])
	}
	if n := len(w); n > 4 && w[n-1] == 'e' {
		w = w[:n-1]
	}
	return w
}

// undouble drops the doubled final consonant of a stripped stem
// ("stopp" → stop), leaving "ll", "ss" and "zz" ("call", "pass").
func undouble(w string) string {
	n := len(w)
	if c := w[n-1]; n >= 3 && c == w[n-2] && 'a' <= c && c <= 'z' && !strings.ContainsRune("aeioulsz", rune(c)) {
		return w[:n-1]
	}
	return w
}

// stopWords are function words that carry no tool-choosing signal.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be by can could do does for from
		give has have how i if in into is it its me my of on or our please should so some
		than that the their them then there these this those to us was we what when where
		which who will with would you your want need like`) {
		stopWords[w] = true
	}
}
