package taskgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/toolbrain/toolbrain/sdk"
)

// Defaults of the zero fields of [LLM].
const (
	// DefaultAttempts is how many times one batch is asked for when the
	// reply cannot be parsed.
	DefaultAttempts = 3
	// DefaultBatch is how many tasks one request asks for.
	DefaultBatch = 8
	// DefaultLLMMaxTokens bounds one reply.
	DefaultLLMMaxTokens = 4096
	// DefaultTemperature samples the generator's replies, for variety.
	DefaultTemperature = 0.7
	// MaxSampleBytes bounds the sample data shown in the prompt.
	MaxSampleBytes = 12 << 10
	// maxAvoid bounds the kept questions shown in the prompt.
	maxAvoid = 40
)

// LLM is the generator backed by a model: any [sdk.LLM], such as an
// OpenAI-compatible endpoint ([llm.NewEndpoint]) or a local checkpoint
// ([llm.OpenLocal]). It prompts with the tools (name, description, JSON
// schema), the sample data (its first MaxSampleBytes) and the questions
// already kept, and asks for a JSON array of
//
//	{"question": "...", "answer": "...", "calls": [{"name": "...", "arguments": {...}}],
//	 "difficulty": "easy|medium|hard", "metadata": {...}}
//
// A reply is parsed leniently: a code fence, prose before or after the
// array, an object {"tasks": [...]}, an answer given as a number and
// arguments given as a JSON string are all accepted. A reply with no array
// at all is asked again, with the parse error, up to Attempts times in
// all; then Generate fails with [ErrUnparsable].
type LLM struct {
	// Client answers the prompts (required).
	Client sdk.LLM
	// Attempts per batch (0 = DefaultAttempts).
	Attempts int
	// Batch is the tasks asked for per request (0 = DefaultBatch).
	Batch int
	// MaxTokens bounds a reply (0 = DefaultLLMMaxTokens).
	MaxTokens int
	// Temperature samples the replies (0 = DefaultTemperature; below 0 is
	// greedy).
	Temperature float64
	// Hint is added to the prompt: what the tasks should be about, or how
	// the metadata is used (for the email tools: {"inbox": "ib00"}).
	Hint string
}

var _ Generator = (*LLM)(nil)

// Generate asks the model for req.N tasks in batches.
func (g *LLM) Generate(ctx context.Context, req Request) ([]Candidate, error) {
	if g.Client == nil {
		return nil, fmt.Errorf("%w: LLM.Client is nil", ErrOptions)
	}
	batch := g.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	var out []Candidate
	avoid := append([]string(nil), req.Avoid...)
	for len(out) < req.N {
		k := min(batch, req.N-len(out))
		cands, err := g.batch(ctx, req, k, avoid)
		if err != nil {
			if len(out) > 0 && errors.Is(err, ErrUnparsable) {
				return out, nil
			}
			return out, err
		}
		if len(cands) == 0 {
			break
		}
		out = append(out, cands...)
		for _, c := range cands {
			avoid = append(avoid, c.Question)
		}
	}
	return out, nil
}

// batch asks for k tasks, again with the parse error while the reply
// cannot be parsed.
func (g *LLM) batch(ctx context.Context, req Request, k int, avoid []string) ([]Candidate, error) {
	attempts := g.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	temp := g.Temperature
	switch {
	case temp == 0:
		temp = DefaultTemperature
	case temp < 0:
		temp = 0
	}
	maxTokens := g.MaxTokens
	if maxTokens <= 0 {
		maxTokens = DefaultLLMMaxTokens
	}
	msgs := []sdk.Message{
		{Role: "system", Content: systemPrompt},
		{Role: "user", Content: g.prompt(req, k, avoid)},
	}
	var last error
	for range attempts {
		resp, err := g.Client.Complete(ctx, sdk.LLMRequest{Messages: msgs, MaxTokens: maxTokens, Temperature: temp})
		if err != nil {
			return nil, fmt.Errorf("taskgen: generator model: %w", err)
		}
		cands, err := ParseCandidates(resp.Text)
		if err == nil {
			return cands, nil
		}
		last = err
		msgs = append(msgs,
			sdk.Message{Role: "assistant", Content: resp.Text},
			sdk.Message{Role: "user", Content: "That reply could not be read: " + err.Error() + ". Reply with only the JSON array of " + strconv.Itoa(k) + " tasks."})
	}
	return nil, fmt.Errorf("%w (%d attempts; last: %w)", ErrUnparsable, attempts, last)
}

const systemPrompt = `You write training tasks for an AI agent that answers questions by calling tools. ` +
	`Each task is a question a user could ask, its gold answer, and the exact tool calls that find the answer. ` +
	`The gold answer must appear word for word in the output of the last call. Reply with a JSON array only.`

// prompt is the user message asking for k tasks.
func (g *LLM) prompt(req Request, k int, avoid []string) string {
	var b strings.Builder
	b.WriteString("Tools (name, description, JSON schema of the arguments):\n")
	for _, t := range req.Tools {
		params := string(bytes.TrimSpace(t.Parameters))
		if params == "" {
			params = "{}"
		}
		var compact bytes.Buffer
		if json.Compact(&compact, []byte(params)) == nil {
			params = compact.String()
		}
		fmt.Fprintf(&b, "- %s: %s\n  arguments: %s\n", t.Name, strings.TrimSpace(t.Description), params)
	}
	if s := strings.TrimSpace(req.Sample); s != "" {
		if len(s) > MaxSampleBytes {
			s = s[:MaxSampleBytes] + "\n[...]"
		}
		b.WriteString("\nSample data the tools work on:\n")
		b.WriteString(s)
		b.WriteString("\n")
	}
	if g.Hint != "" {
		b.WriteString("\n" + g.Hint + "\n")
	}
	if len(avoid) > 0 {
		b.WriteString("\nDo not repeat or rephrase these questions:\n")
		for _, q := range avoid[max(0, len(avoid)-maxAvoid):] {
			b.WriteString("- " + q + "\n")
		}
	}
	fmt.Fprintf(&b, "\nWrite %d different tasks as a JSON array of objects with the fields "+
		`"question" (string), "answer" (string), "calls" (array of {"name": tool name, "arguments": object}), `+
		`"difficulty" ("easy", "medium" or "hard") and optionally "metadata" (object of strings the tools read).`, k)
	return b.String()
}

// ParseCandidates reads the tasks of a model's reply: the first JSON array
// in it (inside a code fence or not, with any text around it), or an
// object's "tasks" array. Items that are not objects become empty
// candidates, which the checks reject as schema.
func ParseCandidates(reply string) ([]Candidate, error) {
	s := reply
	if i := strings.Index(s, "```"); i >= 0 {
		rest := s[i+3:]
		if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
			body := rest[nl+1:]
			if j := strings.Index(body, "```"); j >= 0 {
				body = body[:j]
			}
			if cands, err := parseArray(body); err == nil {
				return cands, nil
			}
		}
	}
	return parseArray(s)
}

// maxParseTries bounds the places a reply is decoded from, so that a reply
// of many brackets costs linear, not quadratic, time.
const maxParseTries = 64

// parseArray decodes the first JSON array (or {"tasks": [...]}) in s.
func parseArray(s string) ([]Candidate, error) {
	var firstErr error
	tries := 0
	for i := 0; i < len(s) && tries < maxParseTries; i++ {
		if s[i] != '[' && s[i] != '{' {
			continue
		}
		tries++
		dec := json.NewDecoder(strings.NewReader(s[i:]))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		var items []json.RawMessage
		if s[i] == '{' {
			var obj struct {
				Tasks []json.RawMessage `json:"tasks"`
			}
			if json.Unmarshal(raw, &obj) != nil || obj.Tasks == nil {
				i += len(raw) - 1
				continue
			}
			items = obj.Tasks
		} else if err := json.Unmarshal(raw, &items); err != nil || !anyObject(items) {
			continue
		}
		out := make([]Candidate, 0, len(items))
		for _, it := range items {
			out = append(out, parseItem(it))
		}
		return out, nil
	}
	if firstErr != nil {
		return nil, fmt.Errorf("no JSON array of tasks found (%w)", firstErr)
	}
	return nil, errors.New("no JSON array of tasks found")
}

// anyObject reports whether an item is a JSON object: an array of tasks,
// not "[1]" in the prose around it.
func anyObject(items []json.RawMessage) bool {
	for _, it := range items {
		if t := bytes.TrimSpace(it); len(t) > 0 && t[0] == '{' {
			return true
		}
	}
	return len(items) == 0
}

// parseItem decodes one task leniently.
func parseItem(raw json.RawMessage) Candidate {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return Candidate{}
	}
	var c Candidate
	var calls []json.RawMessage
	var md map[string]any
	_ = json.Unmarshal(fields["question"], &c.Question)
	_ = json.Unmarshal(fields["difficulty"], &c.Difficulty)
	_ = json.Unmarshal(fields["calls"], &calls)
	_ = json.Unmarshal(fields["metadata"], &md)
	c.Answer = scalarText(fields["answer"])
	c.Difficulty = strings.ToLower(c.Difficulty)
	for _, rc := range calls {
		var call Call
		_ = json.Unmarshal(rc, &call)
		var asText string
		if json.Unmarshal(call.Arguments, &asText) == nil {
			call.Arguments = json.RawMessage(asText) // OpenAI style: a JSON string
		}
		if len(bytes.TrimSpace(call.Arguments)) == 0 {
			call.Arguments = json.RawMessage("{}")
		}
		c.Calls = append(c.Calls, call)
	}
	if len(md) > 0 {
		c.Metadata = map[string]string{}
		for k, v := range md {
			b, _ := json.Marshal(v)
			c.Metadata[k] = scalarText(b)
		}
	}
	return c
}

// scalarText is a JSON string's text, or any other JSON value as written.
func scalarText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	return string(raw)
}
