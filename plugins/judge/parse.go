package judge

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MaxTraces is the largest group the judge ranks: beyond it each trace
// would get a few characters of the prompt.
const MaxTraces = 1024

// Sentinel errors of the judge.
var (
	// ErrBadRanking means the model's answer holds no usable ranking: no
	// list of indices, or one that is not a permutation of the group.
	ErrBadRanking = errors.New("judge: bad ranking")
	// ErrBadConfig means a configuration value is malformed or out of
	// range.
	ErrBadConfig = errors.New("judge: bad config")
)

// The lists ParseRanking reads: integers, optionally quoted (models
// sometimes write ["2", "0"]), comma separated, a trailing comma allowed.
// Go's regexp runs in linear time, so any answer is scanned in one pass.
const listPattern = `\[\s*(?:["']?-?\d+["']?\s*(?:,\s*["']?-?\d+["']?\s*)*,?\s*)?\]`

var (
	listRe = regexp.MustCompile(listPattern)
	// keyRe is a "ranking" key followed by a list: JSON ("ranking": [...]),
	// a Python dict ('ranking': [...]) or YAML-ish prose (Ranking = [...]).
	keyRe = regexp.MustCompile(`(?i)["']?\branking["']?\s*[:=]\s*(` + listPattern + `)`)
	intRe = regexp.MustCompile(`-?\d+`)
)

// ParseRanking reads a ranking of n traces, best first, from a model's
// answer, and returns it as trace indices 0..n-1.
//
// # Which list is read
//
// The answer may wrap its JSON in prose or in code fences. The ranking is
// the list that follows the last "ranking" key in the text (quoted or not,
// with ':' or '='), so {"ranking": [2, 0, 1], "reasoning": "..."} is read
// even when the reasoning was cut short by the token limit; when no such key
// exists, it is the last bare list of integers, as in "[2, 0, 1]". Only one
// list is read: an invalid one is an error, never a cue to try another.
// Numbers written in prose without brackets ("2 then 0 then 1") are not
// read.
//
// # 0-based or 1-based
//
// A list that is a permutation of 0..n-1 is read as it is. Otherwise, a
// list that holds n and no 0 is read 1-based (the numbering of the Python
// reference) and must be a permutation of 1..n; 1 is subtracted from each
// entry. No list can be both, so the rule is never ambiguous.
//
// # Errors
//
// Every failure wraps [ErrBadRanking]: no list found (the message quotes the
// start of the answer), or a list that is not a permutation, with each
// index out of range, repeated or missing named; an n outside
// 1..[MaxTraces].
func ParseRanking(text string, n int) ([]int, error) {
	if n < 1 || n > MaxTraces {
		return nil, fmt.Errorf("%w: a ranking of %d traces: want 1..%d", ErrBadRanking, n, MaxTraces)
	}
	var list string
	if m := keyRe.FindAllStringSubmatchIndex(text, -1); len(m) > 0 {
		last := m[len(m)-1]
		list = text[last[2]:last[3]]
	} else if m := listRe.FindAllStringIndex(text, -1); len(m) > 0 {
		last := m[len(m)-1]
		list = text[last[0]:last[1]]
	} else {
		return nil, fmt.Errorf(`%w: no list of trace indices in the answer (want JSON such as {"ranking": [1, 0]}): %s`,
			ErrBadRanking, quote(text, 200))
	}
	digits := intRe.FindAllString(list, -1)
	vals := make([]int, len(digits))
	for i, d := range digits {
		v, err := strconv.Atoi(d)
		if err != nil || v > 1<<20 || v < -(1<<20) {
			return nil, fmt.Errorf("%w: %s: index %s is out of range 0..%d", ErrBadRanking, short(list), short(d), n-1)
		}
		vals[i] = v
	}
	if problems := permutationProblems(vals, n, 0); problems == "" {
		return vals, nil
	}
	if contains(vals, n) && !contains(vals, 0) {
		problems := permutationProblems(vals, n, 1)
		if problems == "" {
			for i := range vals {
				vals[i]--
			}
			return vals, nil
		}
		return nil, fmt.Errorf("%w: %s read 1-based (it holds %d and no 0) is not a permutation of 1..%d: %s",
			ErrBadRanking, short(list), n, n, problems)
	}
	return nil, fmt.Errorf("%w: %s is not a permutation of 0..%d: %s", ErrBadRanking, short(list), n-1, permutationProblems(vals, n, 0))
}

// permutationProblems describes why vals is not a permutation of
// base..base+n-1, or returns "" when it is.
func permutationProblems(vals []int, n, base int) string {
	count := make([]int, n)
	var out, dup []string
	for _, v := range vals {
		if v < base || v >= base+n {
			out = append(out, strconv.Itoa(v))
			continue
		}
		count[v-base]++
		if count[v-base] == 2 {
			dup = append(dup, strconv.Itoa(v))
		}
	}
	var missing []string
	for i, c := range count {
		if c == 0 {
			missing = append(missing, strconv.Itoa(i+base))
		}
	}
	var parts []string
	if len(out) > 0 {
		parts = append(parts, fmt.Sprintf("%s out of range %d..%d", enumerate(out), base, base+n-1))
	}
	if len(dup) > 0 {
		parts = append(parts, enumerate(dup)+" repeated")
	}
	if len(missing) > 0 {
		parts = append(parts, enumerate(missing)+" missing")
	}
	return strings.Join(parts, "; ")
}

// enumerate joins items for an error message, naming at most eight.
func enumerate(items []string) string {
	const most = 8
	if len(items) <= most {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:most], ", "), len(items)-most)
}

// short is s for an error message, cut after 120 bytes.
func short(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	return clipUTF8(s, max) + "..."
}

func contains(vals []int, x int) bool {
	for _, v := range vals {
		if v == x {
			return true
		}
	}
	return false
}

// quote is s for an error message: quoted, at most max bytes of it.
func quote(s string, max int) string {
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(clipUTF8(s, max)), len(s))
}

// Scores turns a ranking (trace indices, best first, a permutation of
// 0..n-1 as [ParseRanking] returns) into one reward per trace, in trace
// order, spaced linearly from 1 for the best to 0 for the worst: the trace
// at rank r of n gets (n-1-r)/(n-1). A ranking of one trace gives [1]; an
// empty one, an empty slice.
//
// The Python reference computes 1 - r*(1/(n-1)), which can differ from this
// in the last bit (and leave the worst trace at 1e-16 instead of 0); the
// form here is exact at both ends and symmetric.
//
// Scores panics when ranking is not a permutation of 0..n-1: a programmer
// error, since a ranking read from a model goes through ParseRanking first.
func Scores(ranking []int) []float64 {
	n := len(ranking)
	if problems := permutationProblems(ranking, n, 0); problems != "" {
		panic(fmt.Sprintf("judge.Scores: %v is not a permutation of 0..%d: %s", ranking, n-1, problems))
	}
	scores := make([]float64, n)
	if n == 1 {
		scores[0] = 1
		return scores
	}
	for r, i := range ranking {
		scores[i] = float64(n-1-r) / float64(n-1)
	}
	return scores
}
