package taskgen

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"unicode"

	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/sdk"
)

// Scripted is the offline generator for any tool set (a pack or an MCP
// server). For each task it picks a tool, builds arguments from the
// tool's JSON schema — a property's const, else one of its enum values,
// else one of its examples, else its default, else a value of its type
// within its bounds (free text: a word of the sample data, or a fixed
// word list) — checks them against the schema, calls the real tool and
// takes the first line of its output as the gold answer. A call that
// fails or answers with a tool error is not proposed. The question is a
// template ("What does add return for a = 3 and b = 7?"): the generator is
// scripted, not a model. Every task is one call and easy.
type Scripted struct {
	// Tools runs the calls (required).
	Tools sdk.Tool
	// Task is the task each call carries (for tools that read it); nil
	// for none.
	Task *sdk.Task
	// Metadata is copied into every candidate.
	Metadata map[string]string
}

var _ Generator = (*Scripted)(nil)

// scriptedTries bounds the calls made per task asked for.
const scriptedTries = 4

// fallbackWords are the free-text values when there is no sample data.
var fallbackWords = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"}

// Generate proposes up to req.N tasks, drawing with req.Seed.
func (s *Scripted) Generate(ctx context.Context, req Request) ([]Candidate, error) {
	if s.Tools == nil {
		return nil, fmt.Errorf("%w: Scripted.Tools is nil", ErrOptions)
	}
	set, err := schema.NewSet(req.Tools)
	if err != nil {
		return nil, fmt.Errorf("taskgen: tools: %w", err)
	}
	r := rand.New(rand.NewPCG(req.Seed, 0x7461736b67656e)) // "taskgen"
	words := sampleWords(req.Sample)
	if len(words) == 0 {
		words = fallbackWords
	}
	var out []Candidate
	for try := 0; try < scriptedTries*req.N && len(out) < req.N; try++ {
		spec := req.Tools[r.IntN(len(req.Tools))]
		var sch jsonSchema
		if len(spec.Parameters) > 0 && json.Unmarshal(spec.Parameters, &sch) != nil {
			continue
		}
		b := builder{r: r, words: words}
		args := b.object(sch)
		raw, err := json.Marshal(args)
		if err != nil {
			continue
		}
		if set.Validate(sdk.ToolCallRequest{Name: spec.Name, Arguments: raw}) != nil {
			continue
		}
		resp, err := s.Tools.CallTool(ctx, sdk.ToolCallRequest{Name: spec.Name, Arguments: raw, Task: s.Task})
		if ctx.Err() != nil {
			return out, fmt.Errorf("taskgen: %w", ctx.Err())
		}
		if err != nil || resp.IsError {
			continue
		}
		answer := firstLine(resp.Content)
		if answer == "" {
			answer = firstLine(string(resp.Data))
		}
		if answer == "" || len(answer) > MaxAnswerBytes {
			continue
		}
		out = append(out, Candidate{
			Question:   question(spec.Name, spec.ParameterNames(), args),
			Answer:     answer,
			Calls:      []Call{{Name: spec.Name, Arguments: raw}},
			Difficulty: Easy,
			Metadata:   s.Metadata,
		})
	}
	return out, nil
}

// question is the template: "What does NAME return for a = 3 and b = 7?"
func question(name string, order []string, args map[string]any) string {
	var parts []string
	seen := map[string]bool{}
	add := func(k string) {
		v, ok := args[k]
		if !ok || seen[k] {
			return
		}
		seen[k] = true
		b, _ := json.Marshal(v)
		parts = append(parts, k+" = "+string(b))
	}
	for _, k := range order {
		add(k)
	}
	rest := make([]string, 0, len(args))
	for k := range args {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	for _, k := range rest {
		add(k)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("What does %s return when called with no arguments?", name)
	}
	list := strings.Join(parts[:len(parts)-1], ", ")
	if list != "" {
		list += " and "
	}
	return fmt.Sprintf("What does %s return for %s%s?", name, list, parts[len(parts)-1])
}

// firstLine is s's first non-blank line, trimmed.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if t := strings.TrimSpace(line); t != "" {
			return t
		}
	}
	return ""
}

// maxSampleWords bounds the distinct words taken from the sample.
const maxSampleWords = 512

// sampleWords are the sample's distinct words of 3 to 20 letters, lower
// case, in order of appearance.
func sampleWords(sample string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range strings.FieldsFunc(sample, func(r rune) bool { return !unicode.IsLetter(r) }) {
		w = strings.ToLower(w)
		if len(w) < 3 || len(w) > 20 || seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
		if len(out) == maxSampleWords {
			break
		}
	}
	return out
}

// jsonSchema is the part of a JSON Schema the builder reads.
type jsonSchema struct {
	Type       any                   `json:"type"`
	Properties map[string]jsonSchema `json:"properties"`
	Required   []string              `json:"required"`
	Enum       []any                 `json:"enum"`
	Const      any                   `json:"const"`
	Default    any                   `json:"default"`
	Examples   []any                 `json:"examples"`
	Minimum    *float64              `json:"minimum"`
	Maximum    *float64              `json:"maximum"`
	MinLength  *int                  `json:"minLength"`
	MaxLength  *int                  `json:"maxLength"`
	Items      *jsonSchema           `json:"items"`
	MinItems   *int                  `json:"minItems"`
	MaxItems   *int                  `json:"maxItems"`
}

// typ is the schema's type, the first of a list; "" when unset.
func (s jsonSchema) typ() string {
	switch t := s.Type.(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if x, ok := x.(string); ok && x != "null" {
				return x
			}
		}
	}
	if s.Properties != nil {
		return "object"
	}
	return ""
}

// builder draws argument values.
type builder struct {
	r     *rand.Rand
	words []string
	depth int
}

// maxDepth bounds nested objects and arrays.
const maxDepth = 4

// object builds an object with every required property and, by a coin
// toss each, the optional ones.
func (b *builder) object(s jsonSchema) map[string]any {
	out := map[string]any{}
	if b.depth > maxDepth {
		return out
	}
	b.depth++
	defer func() { b.depth-- }()
	names := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		required := false
		for _, q := range s.Required {
			required = required || q == k
		}
		if !required && b.r.IntN(2) == 0 {
			continue
		}
		out[k] = b.value(s.Properties[k])
	}
	return out
}

// value draws one value of s.
func (b *builder) value(s jsonSchema) any {
	switch {
	case s.Const != nil:
		return s.Const
	case len(s.Enum) > 0:
		return s.Enum[b.r.IntN(len(s.Enum))]
	case len(s.Examples) > 0:
		return s.Examples[b.r.IntN(len(s.Examples))]
	case s.Default != nil:
		return s.Default
	}
	switch s.typ() {
	case "integer", "number":
		lo, hi := 0.0, 20.0
		if s.Minimum != nil {
			lo = *s.Minimum
			if s.Maximum == nil {
				hi = lo + 20
			}
		}
		if s.Maximum != nil {
			hi = *s.Maximum
			if s.Minimum == nil {
				lo = min(0, hi)
			}
		}
		if hi < lo {
			return lo
		}
		n := int64(lo) + b.r.Int64N(int64(hi-lo)+1)
		if float64(n) < lo {
			n++
		}
		return n
	case "boolean":
		return b.r.IntN(2) == 1
	case "array":
		lo, hi := 1, 2
		if s.MinItems != nil {
			lo = max(lo, *s.MinItems)
			hi = max(hi, lo)
		}
		if s.MaxItems != nil {
			hi = min(hi, *s.MaxItems)
			lo = min(lo, hi)
		}
		items := jsonSchema{Type: "string"}
		if s.Items != nil {
			items = *s.Items
		}
		out := make([]any, 0, hi)
		for range lo + b.r.IntN(hi-lo+1) {
			out = append(out, b.value(items))
		}
		return out
	case "object":
		return b.object(s)
	case "null":
		return nil
	}
	return b.text(s)
}

// text draws a word within s's length bounds.
func (b *builder) text(s jsonSchema) string {
	w := b.words[b.r.IntN(len(b.words))]
	if s.MaxLength != nil && len(w) > *s.MaxLength {
		w = w[:max(0, *s.MaxLength)]
	}
	if s.MinLength != nil && len(w) < *s.MinLength {
		w += strings.Repeat("x", *s.MinLength-len(w))
	}
	return w
}
