package bfcl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/sdk"
)

// MarshalJSON writes v back as JSON: integers as integers, object keys in
// their input order.
func (v Value) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := v.write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (v Value) write(b *bytes.Buffer) error {
	switch v.Kind {
	case Null:
		b.WriteString("null")
	case Bool:
		b.WriteString(strconv.FormatBool(v.B))
	case Int:
		b.WriteString(strconv.FormatFloat(v.N, 'f', -1, 64))
	case Float:
		s := strconv.FormatFloat(v.N, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0" // keep it a float for a reader that tells them apart
		}
		b.WriteString(s)
	case String:
		s, err := json.Marshal(v.S)
		if err != nil {
			return err
		}
		b.Write(s)
	case List:
		b.WriteByte('[')
		for i, e := range v.L {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := e.write(b); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case Object:
		b.WriteByte('{')
		for i, k := range v.Keys {
			if i > 0 {
				b.WriteByte(',')
			}
			key, _ := json.Marshal(k)
			b.Write(key)
			b.WriteByte(':')
			if err := v.M[k].write(b); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("bfcl: value of unknown kind %d", v.Kind)
	}
	return nil
}

// Tools returns a case's functions as tool specs: name, description and
// the parameters schema, BFCL's own types ("dict", "float") left as written.
func (c Case) Tools() ([]sdk.ToolSpec, error) {
	out := make([]sdk.ToolSpec, 0, len(c.Function))
	for i, f := range c.Function {
		name, _ := f.Get("name")
		desc, _ := f.Get("description")
		if name.Kind != String || name.S == "" {
			return nil, fmt.Errorf("case %s: function[%d] has no name", c.ID, i)
		}
		spec := sdk.ToolSpec{Name: name.S, Description: desc.S}
		if p, ok := f.Get("parameters"); ok {
			raw, err := p.MarshalJSON()
			if err != nil {
				return nil, fmt.Errorf("case %s: function %s: %w", c.ID, name.S, err)
			}
			spec.Parameters = raw
		}
		out = append(out, spec)
	}
	return out, nil
}

// Messages returns a case's question as chat messages: every turn's
// messages in order (the non-live categories have one turn).
func (c Case) Messages() ([]chattemplate.Message, error) {
	var out []chattemplate.Message
	for t, turn := range c.Question.L {
		for i, m := range turn.L {
			role, _ := m.Get("role")
			content, _ := m.Get("content")
			if role.Kind != String || content.Kind != String {
				return nil, fmt.Errorf("case %s: question[%d][%d]: want {\"role\", \"content\"} strings", c.ID, t, i)
			}
			out = append(out, chattemplate.Message{Role: role.S, Content: content.S})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("case %s: empty question", c.ID)
	}
	return out, nil
}

// Prompt renders a case for a chat model: the tool-calling athlete's
// system prompt, the question, and the case's functions as tools, through
// the model's chat template with a generation prompt.
func Prompt(tok *tokenizer.Tokenizer, tmpl *chattemplate.Template, format agent.ToolFormat, c Case) ([]int32, error) {
	tools, err := c.Tools()
	if err != nil {
		return nil, err
	}
	msgs, err := c.Messages()
	if err != nil {
		return nil, err
	}
	if msgs[0].Role != "system" {
		sys := chattemplate.Message{Role: "system", Content: agent.ToolCallingSystem(tmpl, format, tools)}
		msgs = append([]chattemplate.Message{sys}, msgs...)
	}
	return checkpoint.EncodeChatWith(tok, tmpl, msgs, chattemplate.Options{Tools: agent.TemplateTools(tools)})
}

// ErrorPromptTooLong is the error type of a case whose prompt does not fit
// the model's context (Sampling.MaxLen): it counts as a wrong answer.
const ErrorPromptTooLong = "toolbrain:prompt_too_long"

// GenerateOptions configure Generate.
type GenerateOptions struct {
	// Format is the tool-call format the model writes; empty detects it
	// from the template.
	Format agent.ToolFormat
	// Batch is how many cases decode together (default 8).
	Batch int
	// Sampling is passed to the generator (MaxNewTokens, stop tokens,
	// temperature; zero temperature is greedy).
	Sampling generate.Options
	// Progress, when set, is told how many cases are done after each batch.
	Progress func(done int)
}

// Response is a model's answer to one case and its verdict.
type Response struct {
	ID      string  `json:"id"`
	Text    string  `json:"text"`
	Calls   []Value `json:"calls"`
	Verdict Verdict `json:"verdict"`
}

// Generate answers every case with the model, in batches, parses the tool
// calls with the athletes' parser and checks them. Responses come back in
// the order of cases; a case too long for the context is answered with
// ErrorPromptTooLong, unread.
func Generate(ctx context.Context, m generate.Model, tok *tokenizer.Tokenizer, tmpl *chattemplate.Template, cases []Case, opts GenerateOptions) ([]Response, error) {
	if opts.Format == "" {
		opts.Format = agent.DetectFormat(tmpl.Source())
	}
	if opts.Batch <= 0 {
		opts.Batch = 8
	}
	sampling := opts.Sampling
	if sampling.Decode == nil {
		sampling.Decode = tok.Decode
	}
	out := make([]Response, 0, len(cases))
	for start := 0; start < len(cases); start += opts.Batch {
		batch := cases[start:min(start+opts.Batch, len(cases))]
		resp := make([]Response, len(batch))
		var prompts [][]int32
		var fits []int // indexes in batch of the cases that fit
		for j, c := range batch {
			ids, err := Prompt(tok, tmpl, opts.Format, c)
			if err != nil {
				return out, err
			}
			if sampling.MaxLen > 0 && len(ids) >= sampling.MaxLen {
				// The model cannot read the case: a wrong answer, said why.
				resp[j] = Response{ID: c.ID, Verdict: Verdict{ID: c.ID, ErrorType: ErrorPromptTooLong}}
				continue
			}
			prompts, fits = append(prompts, ids), append(fits, j)
		}
		if len(prompts) > 0 {
			res, err := generate.Generate(ctx, m, prompts, sampling)
			if err != nil {
				return out, fmt.Errorf("bfcl: generate cases %d–%d: %w", start, start+len(batch)-1, err)
			}
			for i, j := range fits {
				c := batch[j]
				text := tok.DecodeWith(res[i].Tokens, tokenizer.DecodeOptions{SkipSpecial: true})
				calls := CallsFromText(opts.Format, text)
				r := CheckCase(c, calls)
				resp[j] = Response{ID: c.ID, Text: text, Calls: calls,
					Verdict: Verdict{ID: c.ID, Valid: r.Valid, ErrorType: r.ErrorType}}
			}
		}
		out = append(out, resp...)
		if opts.Progress != nil {
			opts.Progress(len(out))
		}
	}
	return out, nil
}
