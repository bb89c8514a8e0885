package bfcl

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/sdk"
)

// Task metadata keys of a BFCL case as a coach task (all text, as
// core/coach.ReadTasks keeps them).
const (
	// MetaFunctions holds the case's function list as JSON, key order and
	// int/float kept. It is the key core/coach.MetaTools names, so the
	// tool-calling athlete shows these functions as the episode's tools.
	MetaFunctions = "tools"
	// MetaAnswers holds the possible answers as JSON ("[]" for irrelevance).
	MetaAnswers = "bfcl_answers"
	// MetaCategory is the case's category (simple_python, multiple, ...).
	MetaCategory = "bfcl_category"
)

// Heldout says whether the case id falls in the held-out split: a hash of
// seed and id, read as a number in [0, 1), below fraction. The same id,
// seed and fraction always give the same side, whatever else is loaded.
func Heldout(id string, fraction float64, seed uint64) bool {
	h := fnv.New64a()
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	h.Write(s[:])
	h.Write([]byte(id))
	// FNV's high bits hardly move with the last bytes ("_1", "_2"): a
	// splitmix64 finalizer spreads them before the top 53 bits are read.
	z := h.Sum64()
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11)/(1<<53) < fraction
}

// TaskLine is one line of a task file that core/coach.ReadTasks reads.
type TaskLine struct {
	ID       string            `json:"id"`
	Prompt   string            `json:"prompt"`
	Metadata map[string]string `json:"metadata"`
}

// TaskOf is a case as a coach task: its question as the prompt, and its
// functions, possible answers and category in the metadata.
func TaskOf(c Case) (TaskLine, error) {
	msgs, err := c.Messages()
	if err != nil {
		return TaskLine{}, err
	}
	var prompt []string
	for _, m := range msgs {
		if m.Role != "user" {
			return TaskLine{}, fmt.Errorf("case %s: a %q message; a task holds one user question", c.ID, m.Role)
		}
		prompt = append(prompt, m.Content)
	}
	fns, err := Value{Kind: List, L: c.Function}.MarshalJSON()
	if err != nil {
		return TaskLine{}, fmt.Errorf("case %s: functions: %w", c.ID, err)
	}
	answers, err := Value{Kind: List, L: c.Answers}.MarshalJSON()
	if err != nil {
		return TaskLine{}, fmt.Errorf("case %s: answers: %w", c.ID, err)
	}
	return TaskLine{ID: c.ID, Prompt: strings.Join(prompt, "\n\n"), Metadata: map[string]string{
		MetaFunctions: string(fns), MetaAnswers: string(answers), MetaCategory: c.Category,
	}}, nil
}

// CaseOf reads a case back from a task made by TaskOf: its functions,
// possible answers and category, and the prompt as its one question.
func CaseOf(t sdk.Task) (Case, error) {
	fns, ok := t.Metadata[MetaFunctions]
	ans, ok2 := t.Metadata[MetaAnswers]
	cat := t.Metadata[MetaCategory]
	if !ok || !ok2 || cat == "" {
		return Case{}, fmt.Errorf("bfcl: task %q: metadata needs %q, %q and %q (write tasks with `toolbrain data bfcl`)", t.ID, MetaFunctions, MetaAnswers, MetaCategory)
	}
	f, err := ParseValue([]byte(fns))
	if err != nil || f.Kind != List {
		return Case{}, fmt.Errorf("bfcl: task %q: metadata %q is not a JSON list: %v", t.ID, MetaFunctions, err)
	}
	a, err := ParseValue([]byte(ans))
	if err != nil || a.Kind != List {
		return Case{}, fmt.Errorf("bfcl: task %q: metadata %q is not a JSON list: %v", t.ID, MetaAnswers, err)
	}
	user := Value{Kind: Object, Keys: []string{"role", "content"}, M: map[string]Value{
		"role": {Kind: String, S: "user"}, "content": {Kind: String, S: t.Prompt}}}
	q := Value{Kind: List, L: []Value{{Kind: List, L: []Value{user}}}}
	return Case{ID: t.ID, Category: cat, Question: q, Function: f.L, Answers: a.L}, nil
}

// UnparsableScore is Reward's score of a wrong answer whose tool call does
// not parse: a little below a parsed wrong call (0), so that GRPO prefers
// well-formed calls even while none is right.
const UnparsableScore = -0.1

// Reward scores a tool-calling trace on a BFCL task (made by TaskOf) with
// the checker: 1 when the calls of its first reply are valid under the
// category's rule, UnparsableScore when they are not and a call did not
// parse, 0 otherwise (a wrong call, or no reply at all). As in `eval bfcl`,
// a reply with an unparsable call counts as no call, so on an irrelevance
// case it is right. Info says "valid" and "unparsable" (0 or 1).
type Reward struct{}

var _ sdk.Reward = Reward{}

// Reward implements sdk.Reward.
func (Reward) Reward(_ context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	if req.Task == nil {
		return sdk.RewardResponse{}, errors.New("bfcl: the reward needs the trace's task (its functions and possible answers)")
	}
	c, err := CaseOf(*req.Task)
	if err != nil {
		return sdk.RewardResponse{}, err
	}
	if len(req.Trace.Turns) == 0 {
		// The model never answered (its prompt did not fit).
		return sdk.RewardResponse{Score: 0, Info: map[string]float64{"valid": 0, "unparsable": 0}}, nil
	}
	turn := req.Trace.Turns[0]
	unparsable := turn.Error != ""
	var calls []Value
	if !unparsable {
		calls, unparsable = callValues(turn.ToolCalls)
	}
	if unparsable {
		calls = nil
	}
	res := CheckCase(c, calls)
	info := map[string]float64{"valid": b2f(res.Valid), "unparsable": b2f(unparsable)}
	switch {
	case res.Valid:
		return sdk.RewardResponse{Score: 1, Info: info}, nil
	case unparsable:
		return sdk.RewardResponse{Score: UnparsableScore, Info: info}, nil
	}
	return sdk.RewardResponse{Score: 0, Info: info}, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// callValues turns parsed tool calls into BFCL's [{name: {args}}] form;
// false when an argument list is not a JSON object.
func callValues(calls []sdk.ToolCall) ([]Value, bool) {
	out := make([]Value, 0, len(calls))
	for _, c := range calls {
		args := Value{Kind: Object, M: map[string]Value{}}
		if len(c.Arguments) > 0 {
			a, err := ParseValue(c.Arguments)
			if err != nil || a.Kind != Object {
				return nil, true
			}
			args = a
		}
		out = append(out, Value{Kind: Object, Keys: []string{c.Name}, M: map[string]Value{c.Name: args}})
	}
	return out, false
}

// AnswerCalls are the calls of a case's possible answer, each argument its
// first option other than "", an argument with no other option, or one
// the function does not declare, left out. Irrelevance cases have none.
func AnswerCalls(c Case) ([]sdk.ToolCall, error) {
	var out []sdk.ToolCall
	for i, a := range c.Answers {
		if a.Kind != Object || len(a.Keys) != 1 {
			return nil, fmt.Errorf("case %s: answer %d: want {name: {arg: [options]}}", c.ID, i)
		}
		name := a.Keys[0]
		params := a.M[name]
		schema, _ := findFunction(c.Function, a).Get("parameters")
		props, hasProps := schema.Get("properties")
		args := Value{Kind: Object, M: map[string]Value{}}
		for _, p := range params.Keys {
			if _, known := props.Get(p); hasProps && !known {
				continue // an answer key the function does not declare
			}
			opts := params.M[p]
			if opts.Kind != List || len(opts.L) == 0 {
				return nil, fmt.Errorf("case %s: answer %d: %s.%s: want a list of options", c.ID, i, name, p)
			}
			first, ok := firstValue(opts.L)
			if !ok {
				continue
			}
			args.Keys = append(args.Keys, p)
			args.M[p] = chosen(first)
		}
		raw, err := args.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("case %s: answer %d: %w", c.ID, i, err)
		}
		out = append(out, sdk.ToolCall{Name: name, Arguments: raw})
	}
	return out, nil
}

// firstValue is the first option that is not "" (may be left out); false
// when there is none. (A required parameter may list "" first.)
func firstValue(options []Value) (Value, bool) {
	for _, o := range options {
		if !isOmitOption(o) {
			return o, true
		}
	}
	return Value{}, false
}

// chosen is an option as a value: a dict option's keys hold lists of
// options in turn (the first other than "" taken, a key with no other left out), as
// do the dicts of a list-of-dicts option; any other option is the value.
func chosen(o Value) Value {
	switch o.Kind {
	case Object:
		d := Value{Kind: Object, M: map[string]Value{}}
		for _, k := range o.Keys {
			opts := o.M[k]
			if opts.Kind != List || len(opts.L) == 0 {
				return o // a literal dict, not one of options
			}
			first, ok := firstValue(opts.L)
			if !ok {
				continue
			}
			d.Keys = append(d.Keys, k)
			d.M[k] = first
		}
		return d
	case List:
		out := Value{Kind: List, L: make([]Value, len(o.L))}
		for i, e := range o.L {
			if e.Kind != Object {
				return o
			}
			out.L[i] = chosen(e)
		}
		return out
	}
	return o
}

// CallText writes calls the way a model of format writes them, so that
// agent.ParseToolCalls reads them back: Hermes <tool_call> blocks, one a
// line, or Llama 3 JSON objects separated by "; ".
func CallText(format agent.ToolFormat, calls []sdk.ToolCall) (string, error) {
	key, open, end, sep := "arguments", "<tool_call>\n", "\n</tool_call>", "\n"
	switch format {
	case agent.FormatHermes, "":
	case agent.FormatLlama3:
		key, open, end, sep = "parameters", "", "", "; "
	default:
		return "", fmt.Errorf("bfcl: unknown tool-call format %q", format)
	}
	var b bytes.Buffer
	for i, c := range calls {
		name, err := json.Marshal(c.Name)
		if err != nil {
			return "", err
		}
		args := c.Arguments
		if len(args) == 0 {
			args = json.RawMessage("{}")
		}
		if i > 0 {
			b.WriteString(sep)
		}
		fmt.Fprintf(&b, `%s{"name": %s, "%s": %s}%s`, open, name, key, args, end)
	}
	return b.String(), nil
}

// IrrelevantReply is SFTExample's reply to an irrelevance case: text, no
// call.
const IrrelevantReply = "None of the given functions can answer this."

// SFTLine is a {"messages", "tools"} line of `toolbrain sft` data.
type SFTLine struct {
	Messages []SFTMessage      `json:"messages"`
	Tools    []json.RawMessage `json:"tools"`
}

// SFTMessage is one message of an SFTLine.
type SFTMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// SFTExample is a case as supervised data: the prompt the tool-calling
// athlete gives a task that declares the case's functions (its default
// system prompt for tmpl and format, the question, the functions as the
// template's tools) and, as the assistant's reply, AnswerCalls written in
// format, or IrrelevantReply for an irrelevance case.
func SFTExample(tmpl *chattemplate.Template, format agent.ToolFormat, c Case) (SFTLine, error) {
	calls, err := AnswerCalls(c)
	if err != nil {
		return SFTLine{}, err
	}
	reply := IrrelevantReply
	if c.Category != "irrelevance" {
		if len(calls) == 0 {
			return SFTLine{}, fmt.Errorf("case %s: no possible answer to write", c.ID)
		}
		if reply, err = CallText(format, calls); err != nil {
			return SFTLine{}, err
		}
	}
	tools, err := c.Tools()
	if err != nil {
		return SFTLine{}, err
	}
	t, err := TaskOf(c)
	if err != nil {
		return SFTLine{}, err
	}
	line := SFTLine{Messages: []SFTMessage{
		{Role: "system", Content: agent.ToolCallingSystem(tmpl, format, tools)},
		{Role: "user", Content: t.Prompt},
		{Role: "assistant", Content: reply},
	}}
	for _, tt := range agent.TemplateTools(tools) {
		raw, err := json.Marshal(tt) // the parameters' key order kept
		if err != nil {
			return SFTLine{}, err
		}
		line.Tools = append(line.Tools, raw)
	}
	return line, nil
}
