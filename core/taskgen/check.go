package taskgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/sdk"
)

// checker runs the checks of the package documentation and remembers the
// kept questions, by metadata.
type checker struct {
	set   *schema.Set
	tools sdk.Tool
	near  float64
	scope []string // nil: every key
	// exact and tokens hold the kept questions of each metadata key.
	exact  map[string]map[string]bool
	tokens map[string][]keptQuestion
	vocab  map[string]uint32
}

// keptQuestion is a kept question as the near-duplicate check reads it.
type keptQuestion struct {
	tokens  []uint32 // the token set as sorted ids of the checker's vocabulary
	numbers string   // see numbers
}

func newChecker(specs []sdk.ToolSpec, tools sdk.Tool, near float64, scope []string) (*checker, error) {
	set, err := schema.NewSet(specs)
	if err != nil {
		return nil, fmt.Errorf("taskgen: tools: %w", err)
	}
	if near == 0 {
		near = DefaultNearDuplicate
	}
	return &checker{set: set, tools: tools, near: near, scope: scope, exact: map[string]map[string]bool{}, tokens: map[string][]keptQuestion{}, vocab: map[string]uint32{}}, nil
}

// check returns the reason c is rejected and what is wrong, or "" to keep
// it. The error is non-nil only when ctx is done.
func (k *checker) check(ctx context.Context, id string, c Candidate) (Reason, string, error) {
	if detail := shape(c); detail != "" {
		return ReasonSchema, detail, nil
	}
	for i, call := range c.Calls {
		err := k.set.Validate(sdk.ToolCallRequest{Name: call.Name, Arguments: call.Arguments})
		switch {
		case errors.Is(err, schema.ErrUnknownTool):
			return ReasonUnknownTool, fmt.Sprintf("calls[%d]: %v", i, err), nil
		case err != nil:
			return ReasonSchema, fmt.Sprintf("calls[%d]: %v", i, err), nil
		}
	}
	key := k.scopeKey(c.Metadata)
	q := normalise(c.Question)
	if k.exact[key][q] {
		return ReasonDuplicate, "the same question is already kept", nil
	}
	if k.near <= 1 {
		kq := k.question(q)
		for _, other := range k.tokens[key] {
			// Questions whose numbers (amounts, dates, ids) differ ask
			// different things, however alike their words.
			if kq.numbers != other.numbers {
				continue
			}
			if s := jaccard(kq.tokens, other.tokens); s >= k.near {
				return ReasonNearDuplicate, fmt.Sprintf("Jaccard similarity %.2f with a kept question (threshold %.2f)", s, k.near), nil
			}
		}
	}
	detail, err := k.answerable(ctx, id, c)
	if err != nil {
		return "", "", err
	}
	if detail != "" {
		return ReasonUnanswerable, detail, nil
	}
	return "", "", nil
}

// keep records c's question as kept.
func (k *checker) keep(c Candidate) {
	key := k.scopeKey(c.Metadata)
	q := normalise(c.Question)
	if k.exact[key] == nil {
		k.exact[key] = map[string]bool{}
	}
	k.exact[key][q] = true
	k.tokens[key] = append(k.tokens[key], k.question(q))
}

// shape says what is wrong with c's fields, "" when nothing is.
func shape(c Candidate) string {
	switch {
	case c.Question == "":
		return "question is empty"
	case len(c.Question) > MaxQuestionBytes:
		return fmt.Sprintf("question is %d bytes, more than %d", len(c.Question), MaxQuestionBytes)
	case c.Answer == "":
		return "answer is empty"
	case len(c.Answer) > MaxAnswerBytes:
		return fmt.Sprintf("answer is %d bytes, more than %d", len(c.Answer), MaxAnswerBytes)
	case c.Difficulty != Easy && c.Difficulty != Medium && c.Difficulty != Hard:
		return fmt.Sprintf("difficulty %q, want easy, medium or hard", c.Difficulty)
	case len(c.Calls) == 0:
		return "no calls"
	case len(c.Calls) > MaxCalls:
		return fmt.Sprintf("%d calls, more than %d", len(c.Calls), MaxCalls)
	}
	for _, k := range []string{"difficulty", "calls"} {
		if _, ok := c.Metadata[k]; ok {
			return fmt.Sprintf("metadata key %q is reserved", k)
		}
	}
	return ""
}

// answerable runs c's calls and says why c is not answerable, "" when it
// is. The error is non-nil only when ctx is done.
func (k *checker) answerable(ctx context.Context, id string, c Candidate) (string, error) {
	task := Task{ID: id, Prompt: c.Question, Expected: c.Answer, Difficulty: c.Difficulty, Calls: c.Calls, Metadata: c.Metadata}.SDK()
	var last sdk.ToolCallResponse
	for i, call := range c.Calls {
		resp, err := k.tools.CallTool(ctx, sdk.ToolCallRequest{Name: call.Name, Arguments: call.Arguments, Task: &task})
		if ctx.Err() != nil {
			return "", fmt.Errorf("taskgen: %w", ctx.Err())
		}
		if err != nil {
			return fmt.Sprintf("calls[%d] %s failed: %v", i, call.Name, err), nil
		}
		if resp.IsError {
			return fmt.Sprintf("calls[%d] %s answered with a tool error: %s", i, call.Name, clip(resp.Content)), nil
		}
		last = resp
	}
	out := last.Content
	if strings.TrimSpace(out) == "" {
		out = string(last.Data)
	}
	if !AnswerIn(c.Answer, out) {
		return fmt.Sprintf("the answer %q is not in the output of the final call %s: %q", clip(c.Answer), c.Calls[len(c.Calls)-1].Name, clip(out)), nil
	}
	return "", nil
}

// AnswerIn reports whether answer appears in output by the package's rule:
// the normalised answer occurs in the normalised output at word
// boundaries, or the answer is a number equal to one of the output's.
func AnswerIn(answer, output string) bool {
	a, o := normalise(answer), normalise(output)
	if a == "" {
		return false
	}
	for i := 0; ; {
		j := strings.Index(o[i:], a)
		if j < 0 {
			break
		}
		start, end := i+j, i+j+len(a)
		// "6" is not in "-6" (a sign), but is in "4-6" (a range).
		negated := start > 0 && o[start-1] == '-' && a[0] >= '0' && a[0] <= '9' && boundary(o, start-2)
		if boundary(o, start-1) && boundary(o, end) && !negated {
			return true
		}
		i = start + 1
	}
	x, err := strconv.ParseFloat(strings.TrimSpace(answer), 64)
	if err != nil {
		return false
	}
	for _, f := range strings.FieldsFunc(output, func(r rune) bool { return !(unicode.IsDigit(r) || r == '.' || r == '-' || r == 'e' || r == '+') }) {
		if y, err := strconv.ParseFloat(strings.TrimRight(f, "."), 64); err == nil && y == x {
			return true
		}
	}
	return false
}

// boundary reports whether position i of s is outside s or not a letter
// or digit.
func boundary(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return true
	}
	b := s[i]
	return !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b >= 0x80)
}

// normalise lower-cases s, turns punctuation into spaces (keeping the
// characters of numbers and identifiers: . - _ @ inside words, and a
// minus sign) and collapses runs of space.
func normalise(s string) string {
	var b strings.Builder
	space := true
	rs := []rune(strings.ToLower(s))
	for i, r := range rs {
		keep := unicode.IsLetter(r) || unicode.IsDigit(r)
		if !keep && strings.ContainsRune(".-_@", r) && i > 0 && i+1 < len(rs) && isWord(rs[i-1]) && isWord(rs[i+1]) {
			keep = true
		}
		if r == '-' && i+1 < len(rs) && unicode.IsDigit(rs[i+1]) && (i == 0 || !isWord(rs[i-1])) {
			keep = true // a minus sign
		}
		if keep {
			b.WriteRune(r)
			space = false
		} else if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimSpace(b.String())
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// question is a normalised question's token set and numbers.
func (k *checker) question(normalised string) keptQuestion {
	var kq keptQuestion
	var nums []string
	seen := map[string]bool{}
	for _, w := range strings.Fields(normalised) {
		if seen[w] {
			continue
		}
		seen[w] = true
		id, ok := k.vocab[w]
		if !ok {
			id = uint32(len(k.vocab))
			k.vocab[w] = id
		}
		kq.tokens = append(kq.tokens, id)
		if strings.ContainsAny(w, "0123456789") {
			nums = append(nums, w)
		}
	}
	slices.Sort(kq.tokens)
	sort.Strings(nums)
	kq.numbers = strings.Join(nums, " ")
	return kq
}

// jaccard is |a ∩ b| / |a ∪ b| of two sorted sets (1 for two empty sets).
func jaccard(a, b []uint32) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	inter := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			inter++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// scopeKey is the scope's part of m as one comparable string.
func (k *checker) scopeKey(m map[string]string) string {
	if k.scope != nil {
		part := make(map[string]string, len(k.scope))
		for _, key := range k.scope {
			if v, ok := m[key]; ok {
				part[key] = v
			}
		}
		m = part
	}
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m) // encoding/json sorts the keys
	return string(b)
}

// clip shortens s for a message.
func clip(s string) string {
	const n = 160
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
