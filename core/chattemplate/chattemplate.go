// Package chattemplate renders a checkpoint's Jinja chat template the way
// Hugging Face transformers' apply_chat_template does, so that the prompt a
// model sees during training and generation is byte for byte the prompt it
// was tuned on.
//
// The engine is github.com/nikolalohinski/gonja/v2 with an environment set up
// like the one transformers builds: trim_blocks and lstrip_blocks, the loop
// controls break/continue, the {% generation %} tag, a tojson filter that is
// Python's json.dumps (", " and ": " separators, non-ASCII kept, dict key
// order kept), raise_exception and strftime_now, and dict methods that keep
// insertion order. Templates cannot include or import other files.
//
// # Messages as the template sees them
//
// Each [Message] becomes the dict a Python caller would pass: "role" and
// "content" always, "tool_calls", "name", "tool_call_id" and
// "reasoning_content" only when set, so that tests such as
// `message.tool_calls is defined` behave as they do in transformers. A tool
// call becomes {"id"?, "type": "function", "function": {"name", "arguments"}}.
//
// # Key order
//
// Python dicts keep insertion order and json.dumps writes keys in that order,
// so a tool schema or an arguments object rendered by tojson depends on how
// it was built. Go maps have no order: a map[string]any is rendered with
// sorted keys. To keep a given order, pass a json.RawMessage (its order is
// kept) or a struct (field order).
//
// # Differences from Python's Jinja
//
// Known, all outside what real chat templates do (the Qwen3, Llama 3 and
// Llama 3.2 templates render byte for byte as transformers renders them):
//   - The engine has a single "none" that also stands for undefined: a
//     variable that transformers passes as None (tools without tools,
//     documents) reads as undefined here, so `tools is defined` is false
//     where Python says true, and None prints as "" rather than "None".
//     Templates guard such values with `is not none` or truthiness, where
//     both agree.
//   - int ** int gives a float (8.0, not 8).
//   - Dicts are immutable in transformers' sandbox; here .update() and
//     friends work.
//   - Line numbers in error messages count lines after whitespace control.
package chattemplate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"

	"github.com/toolbrain/toolbrain/internal/capread"
)

// Errors returned by this package; test with errors.Is.
var (
	// ErrNoTemplate: the tokenizer configuration has no chat template, or a
	// template list has none for the request.
	ErrNoTemplate = errors.New("chattemplate: no chat template")
	// ErrSyntax: the template source does not parse.
	ErrSyntax = errors.New("chattemplate: template syntax error")
	// ErrRender: the template failed while rendering (unknown filter, bad
	// operand, and so on). A raise_exception call is ErrRaised instead.
	ErrRender = errors.New("chattemplate: render failed")
	// ErrRaised: the template called raise_exception; the error is a
	// *RaisedError carrying the template's message.
	ErrRaised = errors.New("chattemplate: template raised an exception")
	// ErrInput: the messages or options cannot be given to the template.
	ErrInput = errors.New("chattemplate: invalid input")
)

// RaisedError is the error for a template's raise_exception(message) call,
// which templates use to reject conversations they cannot format (roles that
// do not alternate, a system message in the wrong place).
type RaisedError struct {
	Message string // the template's own words
}

func (e *RaisedError) Error() string { return "chattemplate: template raised: " + e.Message }

// Unwrap makes errors.Is(err, ErrRaised) true.
func (e *RaisedError) Unwrap() error { return ErrRaised }

// Message is one turn of a conversation.
type Message struct {
	Role    string // "system", "user", "assistant", "tool", ...
	Content string
	// ToolCalls are the calls an assistant turn made.
	ToolCalls []ToolCall
	// Name is the tool's name on a tool turn, for templates that print it.
	Name string
	// ToolCallID links a tool turn to the call it answers.
	ToolCallID string
	// ReasoningContent is the thinking text of an assistant turn, for
	// templates (Qwen3, DeepSeek-R1) that take it apart from Content.
	ReasoningContent string
	// Extra adds other keys to the message dict; it may override the keys
	// above. Values follow the rules of Options.Extra.
	Extra map[string]any
}

// ToolCall is a function call made by the assistant.
type ToolCall struct {
	ID   string // left out of the dict when empty
	Name string
	// Arguments is what the template receives as function.arguments: a
	// string stays a string (templates print it verbatim); anything else is
	// the JSON object of arguments: map[string]any (sorted keys),
	// json.RawMessage (key order kept), or any value encoding/json accepts.
	// Nil means {}.
	Arguments any
}

// Options are the arguments of apply_chat_template besides the messages.
// The zero value renders the conversation without a generation prompt.
type Options struct {
	// Tools are the JSON-schema tool specifications, as transformers takes
	// them: usually {"type": "function", "function": {"name", "description",
	// "parameters"}}. Elements may be map[string]any, json.RawMessage or
	// anything encoding/json accepts. Nil passes no tools; a non-nil slice
	// selects a template named "tool_use" when the checkpoint has one.
	Tools []any
	// AddGenerationPrompt appends the header that starts an assistant turn.
	AddGenerationPrompt bool
	// ContinueFinalMessage cuts the text right after the last message's
	// content, so that generation continues that message (prefill). It
	// cannot be combined with AddGenerationPrompt.
	ContinueFinalMessage bool
	// BOSToken and EOSToken override bos_token and eos_token from the
	// tokenizer configuration; empty keeps them.
	BOSToken, EOSToken string
	// Extra are more template variables, such as "enable_thinking": false.
	// Values are converted like tool specifications. They override special
	// tokens but may not replace messages, tools, documents or
	// add_generation_prompt.
	Extra map[string]any
	// Now is the time strftime_now reports; zero means time.Now().
	Now time.Time
}

// Template is a parsed chat template, safe for concurrent use.
type Template struct {
	path    string // the file it came from, for errors; "" for New
	name    string
	source  string
	tpl     *exec.Template // nil when a template list has no "default"
	special map[string]any // special tokens from tokenizer_config.json
	named   map[string]*Template
}

const rootID = "chat_template"

// New parses a chat template. Parse once and reuse: Render does not reparse.
func New(source string) (*Template, error) {
	tpl, err := parse(source)
	if err != nil {
		return nil, err
	}
	return &Template{name: "default", source: source, tpl: tpl}, nil
}

func parse(source string) (tpl *exec.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			tpl, err = nil, fmt.Errorf("%w: engine panic: %v", ErrSyntax, r)
		}
	}()
	// Whitespace control is done on the source, with Jinja2's rules; the
	// engine gets a template without markers and trims nothing itself.
	prepared, err := applyWhitespaceControl(source)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	cfg := engineConfig()
	loader, err := loaders.NewShiftedLoader(rootID, strings.NewReader(prepared), noLoader{})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	tpl, err = exec.NewTemplate(rootID, cfg, loader, sharedEnv)
	if err != nil {
		// The engine's outer message repeats the whole source; keep the cause.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	if err := guardTree(tpl.Root()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	return tpl, nil
}

// engineConfig is the engine configuration of every template.
func engineConfig() *config.Config {
	cfg := config.New()
	cfg.KeepTrailingNewline = true
	return cfg
}

// Source returns the template text.
func (t *Template) Source() string { return t.source }

// Names lists the named templates of a tokenizer configuration that holds a
// list of them (such as "default" and "tool_use"), sorted; nil otherwise.
func (t *Template) Names() []string {
	if t.named == nil {
		return nil
	}
	names := make([]string, 0, len(t.named))
	for n := range t.named {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Named returns the template of that name from a template list, sharing the
// special tokens of its configuration.
func (t *Template) Named(name string) (*Template, bool) {
	n, ok := t.named[name]
	return n, ok
}

// reserved are the variables Render always sets itself.
var reserved = []string{"messages", "tools", "documents", "add_generation_prompt"}

// Render formats a conversation. Errors wrap ErrInput, ErrRender, ErrRaised,
// ErrBudget or ErrNoTemplate, and name the template's file when it came
// from one; a malformed or hostile template never panics the caller, and
// runs under the render limits ([MaxRenderSteps], [MaxRenderBytes],
// [MaxRenderAlloc], [MaxRenderTime]).
func (t *Template) Render(msgs []Message, opts Options) (string, error) {
	text, err := t.render(msgs, opts)
	if err != nil && t.path != "" {
		return "", fmt.Errorf("chat template of %s: %w", t.path, err)
	}
	return text, err
}

func (t *Template) render(msgs []Message, opts Options) (string, error) {
	use := t
	if opts.Tools != nil {
		if tu, ok := t.named["tool_use"]; ok {
			use = tu
		}
	}
	if use.tpl == nil {
		return "", fmt.Errorf("%w: the template list has no \"default\" (names: %v)", ErrNoTemplate, t.Names())
	}
	if opts.ContinueFinalMessage && opts.AddGenerationPrompt {
		return "", fmt.Errorf("%w: ContinueFinalMessage and AddGenerationPrompt cannot both be set", ErrInput)
	}
	data, state, err := t.context(msgs, &opts)
	if err != nil {
		return "", err
	}
	text, err := execute(use.tpl, data)
	if err != nil {
		if errors.Is(err, ErrBudget) {
			return "", err
		}
		if state.raised != nil {
			return "", &RaisedError{Message: *state.raised}
		}
		return "", fmt.Errorf("%w: %s", ErrRender, shorten(unguard(err.Error())))
	}
	if opts.ContinueFinalMessage {
		return cutAfterFinal(text, msgs)
	}
	return text, nil
}

func (t *Template) context(msgs []Message, opts *Options) (map[string]any, *renderState, error) {
	messages := make([]any, len(msgs))
	for i := range msgs {
		m, err := messageValue(&msgs[i])
		if err != nil {
			return nil, nil, fmt.Errorf("%w: message %d: %w", ErrInput, i, err)
		}
		messages[i] = m
	}
	data := make(map[string]any, 8+len(t.special)+len(opts.Extra))
	for k, v := range t.special {
		data[k] = v
	}
	if opts.BOSToken != "" {
		data["bos_token"] = opts.BOSToken
	}
	if opts.EOSToken != "" {
		data["eos_token"] = opts.EOSToken
	}
	for k, v := range opts.Extra {
		if slices.Contains(reserved, k) {
			return nil, nil, fmt.Errorf("%w: Extra may not set %q", ErrInput, k)
		}
		cv, err := convert(v)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: Extra[%q]: %w", ErrInput, k, err)
		}
		data[k] = cv
	}
	data["messages"] = messages
	data["add_generation_prompt"] = opts.AddGenerationPrompt
	if opts.Tools != nil {
		tools := make([]any, len(opts.Tools))
		for i, tool := range opts.Tools {
			cv, err := convert(tool)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: tool %d: %w", ErrInput, i, err)
			}
			tools[i] = cv
		}
		data["tools"] = tools
	}
	state := &renderState{now: opts.Now}
	if state.now.IsZero() {
		state.now = time.Now()
	}
	for k, v := range state.globals() {
		data[k] = v
	}
	return data, state, nil
}

// execute renders tpl under a fresh budget (see [MaxRenderSteps] and the
// other limits): the engine's filters and methods are wrapped to charge it,
// and the output is capped.
func execute(tpl *exec.Template, data map[string]any) (text string, err error) {
	b := newBudget()
	defer func() {
		if r := recover(); r != nil {
			text, err = "", fmt.Errorf("engine panic: %v", r)
		}
		if b.err != nil {
			text, err = "", b.err
		}
	}()
	ctx := exec.NewContext(data)
	ctx.Set(budgetVar, b)
	ctx.Set("range", func(e *exec.Evaluator, params *exec.VarArgs) ([]int, error) {
		r, err := rangeFunction(e, params)
		if err == nil {
			err = b.charge(1, 8*int64(len(r)))
		}
		return r, err
	})
	// lipsum(n) writes n paragraphs with no bound, and no chat template
	// uses it.
	ctx.Set("lipsum", func(*exec.Evaluator, *exec.VarArgs) (string, error) {
		return "", errors.New("lipsum() is not available in chat templates")
	})
	env := &exec.Environment{
		Context:           sharedEnv.Context.Inherit().Update(ctx),
		Filters:           guardedFilters,
		Tests:             sharedEnv.Tests,
		ControlStructures: sharedEnv.ControlStructures,
		Methods:           guardMethods(b),
	}
	var buf bytes.Buffer
	r := exec.NewRenderer(env, &capWriter{w: &buf, b: b}, engineConfig(), noLoader{}, tpl)
	if err := r.Execute(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// shorten keeps engine messages readable: a failure deep in nested calls
// repeats every level. The innermost cause is at the end.
func shorten(msg string) string {
	const keep = 400
	if len(msg) <= 2*keep {
		return msg
	}
	return strings.ToValidUTF8(msg[:keep]+" ... "+msg[len(msg)-keep:], "")
}

// cutAfterFinal is transformers' continue_final_message: find the final
// message's content in the text and drop everything after it. Templates may
// strip the content, so the search uses the stripped form and keeps trailing
// whitespace only when the template kept it too.
func cutAfterFinal(text string, msgs []Message) (string, error) {
	if len(msgs) == 0 {
		return "", fmt.Errorf("%w: ContinueFinalMessage needs a final message", ErrInput)
	}
	final := msgs[len(msgs)-1].Content
	stripped := pyStrip(final)
	loc := strings.LastIndex(text, stripped)
	if loc < 0 {
		return "", fmt.Errorf("%w: ContinueFinalMessage is set but the final message does not appear in the rendered text", ErrInput)
	}
	left := pyLStrip(final)
	if end := loc + len(left); end <= len(text) && text[loc:end] == final {
		return text[:end], nil
	}
	return text[:loc+len(stripped)], nil
}

// pyStrip and pyLStrip are Python's str.strip/lstrip with no argument.
func pyStrip(s string) string  { return strings.TrimFunc(s, isPySpace) }
func pyLStrip(s string) string { return strings.TrimLeftFunc(s, isPySpace) }

func isPySpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// Size caps of the files a template is read from: real chat templates are
// tens of KB, and tokenizer_config.json files a few MB.
const (
	MaxConfigBytes   = 64 << 20
	MaxTemplateBytes = 1 << 20
)

// FromTokenizerConfig loads the chat template of a tokenizer_config.json.
// chat_template may be a string or a list of {"name", "template"}; for a list
// the returned Template is the "default" one, Named gives the others, and
// Render switches to "tool_use" when tools are passed, as transformers does.
// When the configuration has no chat_template, a chat_template.jinja beside
// it (where recent transformers versions save it) is used. The special
// tokens (bos_token, eos_token, ...) become template variables.
func FromTokenizerConfig(path string) (*Template, error) {
	b, err := capread.File(path, MaxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	special, err := specialTokens(cfg)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	raw := cfg["chat_template"]
	if len(raw) == 0 || string(raw) == "null" {
		jinja := filepath.Join(filepath.Dir(path), "chat_template.jinja")
		src, err := capread.File(jinja, MaxTemplateBytes)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("load %s: %w", path, ErrNoTemplate)
		} else if err != nil {
			return nil, fmt.Errorf("load %s: %w", jinja, err)
		}
		raw, _ = json.Marshal(string(src))
	}
	t, err := templatesFrom(raw)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	t.special, t.path = special, path
	for _, n := range t.named {
		n.special, n.path = special, path
	}
	return t, nil
}

func templatesFrom(raw json.RawMessage) (*Template, error) {
	var src string
	if err := json.Unmarshal(raw, &src); err == nil {
		return New(src)
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("chat_template is neither a string nor a list of {name, template}: %w", err)
	}
	root := &Template{named: map[string]*Template{}}
	for _, e := range list {
		t, err := New(e.Template)
		if err != nil {
			return nil, fmt.Errorf("chat_template %q: %w", e.Name, err)
		}
		t.name = e.Name
		root.named[e.Name] = t
	}
	if def, ok := root.named["default"]; ok {
		root.source, root.tpl = def.source, def.tpl
	}
	root.name = "default"
	return root, nil
}

// specialTokens reads the tokens transformers puts in special_tokens_map:
// set ones only, each a string or an AddedToken object with "content".
func specialTokens(cfg map[string]json.RawMessage) (map[string]any, error) {
	out := map[string]any{}
	content := func(raw json.RawMessage) (string, bool, error) {
		if len(raw) == 0 || string(raw) == "null" {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return s, true, nil
		}
		var tok struct {
			Content *string `json:"content"`
		}
		if err := json.Unmarshal(raw, &tok); err != nil || tok.Content == nil {
			return "", false, fmt.Errorf("special token %s is neither a string nor {\"content\": ...}", raw)
		}
		return *tok.Content, true, nil
	}
	for _, k := range []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"} {
		s, ok, err := content(cfg[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if ok {
			out[k] = s
		}
	}
	if raw := cfg["additional_special_tokens"]; len(raw) > 0 && string(raw) != "null" {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("additional_special_tokens: %w", err)
		}
		var toks []any
		for _, r := range list {
			s, ok, err := content(r)
			if err != nil {
				return nil, fmt.Errorf("additional_special_tokens: %w", err)
			}
			if ok {
				toks = append(toks, s)
			}
		}
		if len(toks) > 0 {
			out["additional_special_tokens"] = toks
		}
	}
	return out, nil
}
