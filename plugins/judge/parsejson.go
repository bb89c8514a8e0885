package judge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// More sentinel errors of the judge: answers that hold no usable verdict.
var (
	// ErrBadScores means the model's answer holds no usable scores: no
	// JSON object with a "scores" list, a wrong count, an id that is not
	// one of the group's, or a score outside [0, 1].
	ErrBadScores = errors.New("judge: bad scores")
	// ErrBadVerdict means the model's answer holds no yes-or-no verdict.
	ErrBadVerdict = errors.New("judge: bad verdict")
)

// maxObjectStarts bounds how many '{' of an answer are tried as the start
// of a JSON object, and maxAnswer how much of it is read, so that any
// answer is read in bounded time.
const (
	maxObjectStarts = 256
	maxAnswer       = 64 << 10
)

// lastObjectWith finds, in an answer that may wrap its JSON in prose or
// code fences, the last JSON object that has key (matched without regard
// to case), and returns that key's value.
func lastObjectWith(text, key string) (json.RawMessage, bool) {
	text = clipUTF8(text, maxAnswer)
	var found json.RawMessage
	ok := false
	starts := 0
	for i := 0; i < len(text) && starts < maxObjectStarts; i++ {
		if text[i] != '{' {
			continue
		}
		starts++
		var obj map[string]json.RawMessage
		dec := json.NewDecoder(strings.NewReader(text[i:]))
		if dec.Decode(&obj) != nil {
			continue
		}
		for k, v := range obj {
			if strings.EqualFold(strings.TrimSpace(k), key) {
				found, ok = v, true
			}
		}
	}
	return found, ok
}

// scoreEntry is one entry of the scores list; id and score may be JSON
// numbers or strings.
type scoreEntry struct {
	ID    json.RawMessage `json:"trajectory_id"`
	Alias json.RawMessage `json:"id"`
	Score json.RawMessage `json:"score"`
}

// ParseScores reads the scores of n traces from a model's answer to
// [Relative.Prompt] and returns them in trace order.
//
// The answer may wrap its JSON in prose or code fences; the last object
// with a "scores" key is read. Its value may be the list asked for
// ([{"trajectory_id": "1", "score": 0.9, "explanation": "..."}, ...], ids
// and scores as numbers or strings), a list of n numbers in trajectory
// order, or an object from id to score ({"1": 0.9, "2": 0.1}). Ids run from
// 1 to n; ids that run from 0 to n-1 are accepted too (the rule of
// [ParseRanking]: a set holding 0 and not n is 0-based).
//
// Every failure wraps [ErrBadScores]: no such object, a value of another
// shape, a count other than n, ids that are not each of the group's once
// (each problem named), or a score that is not a number in [0, 1] (named
// with its id).
func ParseScores(text string, n int) ([]float64, error) {
	if n < 1 || n > MaxTraces {
		return nil, fmt.Errorf("%w: scores of %d traces: want 1..%d", ErrBadScores, n, MaxTraces)
	}
	raw, ok := lastObjectWith(text, "scores")
	if !ok {
		return nil, fmt.Errorf(`%w: no JSON object with a "scores" list in the answer: %s`, ErrBadScores, quote(text, 200))
	}
	ids, vals, err := scoreList(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadScores, err)
	}
	if len(ids) != n {
		return nil, fmt.Errorf("%w: %d scores for %d trajectories", ErrBadScores, len(ids), n)
	}
	base := 1
	if contains(ids, 0) && !contains(ids, n) {
		base = 0
	}
	if problems := permutationProblems(ids, n, base); problems != "" {
		return nil, fmt.Errorf("%w: trajectory ids are not each of %d..%d once: %s", ErrBadScores, base, base+n-1, problems)
	}
	out := make([]float64, n)
	for k, id := range ids {
		v := vals[k]
		if math.IsNaN(v) || v < 0 || v > 1 {
			return nil, fmt.Errorf("%w: trajectory %d has score %v, want a number from 0 to 1", ErrBadScores, id, v)
		}
		out[id-base] = v
	}
	return out, nil
}

// scoreList reads the three shapes ParseScores accepts into ids (-1 for
// "in order") and values.
func scoreList(raw json.RawMessage) (ids []int, vals []float64, err error) {
	raw = bytes.TrimSpace(raw)
	var entries []scoreEntry
	var numbers []json.RawMessage
	var byID map[string]json.RawMessage
	switch {
	case json.Unmarshal(raw, &byID) == nil:
		for k, v := range byID {
			id, err := atoiLoose(k)
			if err != nil {
				return nil, nil, fmt.Errorf("trajectory id %q: %w", short(k), err)
			}
			x, err := numberLoose(v)
			if err != nil {
				return nil, nil, fmt.Errorf("trajectory %d: score %s: %w", id, short(string(v)), err)
			}
			ids, vals = append(ids, id), append(vals, x)
		}
		return ids, vals, nil
	case json.Unmarshal(raw, &entries) == nil:
		for k, e := range entries {
			if len(e.ID) == 0 {
				e.ID = e.Alias
			}
			if len(e.ID) == 0 || len(e.Score) == 0 {
				return nil, nil, fmt.Errorf("entry %d lacks trajectory_id or score", k)
			}
			id, err := atoiLoose(string(e.ID))
			if err != nil {
				return nil, nil, fmt.Errorf("entry %d: trajectory_id %s: %w", k, short(string(e.ID)), err)
			}
			x, err := numberLoose(e.Score)
			if err != nil {
				return nil, nil, fmt.Errorf("trajectory %d: score %s: %w", id, short(string(e.Score)), err)
			}
			ids, vals = append(ids, id), append(vals, x)
		}
		return ids, vals, nil
	case json.Unmarshal(raw, &numbers) == nil:
		for k, v := range numbers {
			x, err := numberLoose(v)
			if err != nil {
				return nil, nil, fmt.Errorf("score %d, %s: %w", k+1, short(string(v)), err)
			}
			ids, vals = append(ids, k+1), append(vals, x)
		}
		return ids, vals, nil
	}
	return nil, nil, fmt.Errorf(`"scores" is %s: want a list of {"trajectory_id", "score"} objects`, short(string(raw)))
}

// atoiLoose reads an id written as a JSON number or string, or a map key
// ("1", "#1", "trajectory 1").
func atoiLoose(s string) (int, error) {
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	s = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "trajectory")
	s = strings.TrimSpace(strings.TrimLeft(s, "_#: "))
	v, err := strconv.Atoi(s)
	if err != nil || v < -(1<<20) || v > 1<<20 {
		return 0, errors.New("not an integer")
	}
	return v, nil
}

// numberLoose reads a score written as a JSON number or a string holding
// one.
func numberLoose(raw json.RawMessage) (float64, error) {
	var x float64
	if json.Unmarshal(raw, &x) == nil {
		return x, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if x, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsInf(x, 0) {
			return x, nil
		}
	}
	return 0, errors.New("not a number")
}

// ParseVerdict reads a yes-or-no verdict from a model's answer to
// [Correctness.Prompt]: the "accept" key of the last JSON object that has
// one (true or false, or a string yes, no, true, false, correct,
// incorrect), else an answer that is one such word alone (case and
// punctuation aside). Anything else fails with [ErrBadVerdict].
func ParseVerdict(text string) (bool, error) {
	if raw, ok := lastObjectWith(text, "accept"); ok {
		var b bool
		if json.Unmarshal(raw, &b) == nil {
			return b, nil
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if v, ok := verdictWord(s); ok {
				return v, nil
			}
		}
		return false, fmt.Errorf(`%w: "accept" is %s: want true or false`, ErrBadVerdict, short(string(raw)))
	}
	if v, ok := verdictWord(text); ok {
		return v, nil
	}
	return false, fmt.Errorf(`%w: no JSON object with an "accept" key in the answer (want {"accept": true} or false): %s`, ErrBadVerdict, quote(text, 200))
}

// verdictWord reads a single yes-or-no word.
func verdictWord(s string) (bool, bool) {
	w := strings.ToLower(strings.Trim(strings.TrimSpace(s), " \t\n.!\"'`*"))
	switch w {
	case "yes", "true", "correct", "accept", "accepted":
		return true, true
	case "no", "false", "incorrect", "reject", "rejected":
		return false, true
	}
	return false, false
}
