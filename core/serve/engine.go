package serve

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/sdk"
)

// DefaultMaxTokens is the completion length when neither the request nor
// EngineConfig sets one.
const DefaultMaxTokens = 256

// EngineConfig configures an [Engine]. Model, Tokenizer and Template are
// required; the zero value of every other field works.
type EngineConfig struct {
	// Model decodes; a *model.Model normally.
	Model generate.Model
	// Tokenizer turns text into ids and back.
	Tokenizer *tokenizer.Tokenizer
	// Template renders the messages and the tools.
	Template *chattemplate.Template
	// Format is how the model writes tool calls; "" detects it from the
	// template (agent.DetectFormat).
	Format agent.ToolFormat
	// StopTokenIDs end a completion; nil means the tokenizer's EOS.
	StopTokenIDs []int32
	// MaxLen is the context: prompt plus completion tokens of a request. A
	// longer prompt is a 400. 0 means no cap.
	MaxLen int
	// MaxTokens is the completion length when a request sets none; 0 means
	// DefaultMaxTokens.
	MaxTokens int
	// Rows is how many requests decode at a time; 0 means 1.
	Rows int
}

// Engine answers chat requests on a local model: it renders the messages
// and tools with the chat template, decodes, and parses tool calls back
// out of the text with the athletes' parser. It is safe for concurrent
// use.
type Engine struct {
	cfg   EngineConfig
	slots chan struct{}
}

// NewEngine checks cfg and returns an Engine.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	switch {
	case cfg.Model == nil:
		return nil, fmt.Errorf("%w: EngineConfig.Model is nil", ErrConfig)
	case cfg.Tokenizer == nil:
		return nil, fmt.Errorf("%w: EngineConfig.Tokenizer is nil", ErrConfig)
	case cfg.Template == nil:
		return nil, fmt.Errorf("%w: EngineConfig.Template is nil", ErrConfig)
	case cfg.MaxLen < 0 || cfg.MaxTokens < 0 || cfg.Rows < 0:
		return nil, fmt.Errorf("%w: EngineConfig MaxLen %d, MaxTokens %d, Rows %d: none may be negative", ErrConfig, cfg.MaxLen, cfg.MaxTokens, cfg.Rows)
	}
	if cfg.Format == "" {
		cfg.Format = agent.DetectFormat(cfg.Template.Source())
	}
	if cfg.StopTokenIDs == nil {
		if eos, ok := cfg.Tokenizer.EOS(); ok {
			cfg.StopTokenIDs = []int32{eos}
		}
	}
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	cfg.Rows = max(cfg.Rows, 1)
	return &Engine{cfg: cfg, slots: make(chan struct{}, cfg.Rows)}, nil
}

// Close releases what the engine holds; the model stays open.
func (e *Engine) Close() error { return nil }

// errRequest is a request the engine cannot answer as asked (a 400).
var errRequest = errors.New("serve: request")

// tokenLogprob is one generated token with its logprob and the most
// likely alternatives, for OpenAI's logprobs.
type tokenLogprob struct {
	id      int32
	logprob float32
	top     []topToken
}

// topToken is one of the most likely tokens at a position.
type topToken struct {
	id      int32
	logprob float32
}

// completion is the engine's answer to a job.
type completion struct {
	text             string // the content, tool-call markup taken out when calls were parsed
	calls            []sdk.ToolCall
	finish           string // "stop", "length" or "tool_calls"
	promptTokens     int
	completionTokens int
	logprobs         []tokenLogprob
}

// toolsShown reports whether the job's tools reach the prompt.
func (j *job) toolsShown() bool { return j.choice != choiceNone && len(j.tools) > 0 }

// render returns the prompt ids of j and the text the engine writes ahead
// of the model's (a forced tool call's opening).
func (e *Engine) render(j *job) ([]int32, string, error) {
	msgs := j.msgs
	var opts chattemplate.Options
	prefix := ""
	if j.toolsShown() {
		tools := j.tools
		if j.choice == choiceFunction {
			for _, t := range j.tools {
				if t.Name == j.choiceName {
					tools = []sdk.ToolSpec{t}
				}
			}
		}
		sys := agent.ToolCallingSystem(e.cfg.Template, e.cfg.Format, tools)
		if msgs[0].Role == "system" {
			// The caller's system prompt first, then how to call the tools.
			msgs = append([]chattemplate.Message{msgs[0]}, msgs[1:]...)
			msgs[0].Content += "\n\n" + sys
		} else {
			msgs = append([]chattemplate.Message{{Role: "system", Content: sys}}, msgs...)
		}
		opts.Tools = agent.TemplateTools(tools)
		prefix = forcedPrefix(e.cfg.Format, j.choice, j.choiceName)
	}
	ids, err := checkpoint.EncodeChatWith(e.cfg.Tokenizer, e.cfg.Template, msgs, opts)
	if err != nil {
		return nil, "", fmt.Errorf("%w: the chat template cannot render the messages: %w", errRequest, err)
	}
	if prefix != "" {
		ids = append(ids, e.cfg.Tokenizer.Encode(prefix)...)
	}
	return ids, prefix, nil
}

// forcedPrefix is the start of a tool call written for the model when the
// request requires one (tool_choice "required" or a named function), so
// that decoding goes on inside the call.
func forcedPrefix(format agent.ToolFormat, choice, name string) string {
	switch {
	case choice == choiceRequired && format == agent.FormatLlama3:
		return `{"name": "`
	case choice == choiceRequired:
		return "<tool_call>\n"
	case choice == choiceFunction && format == agent.FormatLlama3:
		return `{"name": "` + name + `", "parameters": `
	case choice == choiceFunction:
		return "<tool_call>\n{\"name\": \"" + name + "\", \"arguments\": "
	}
	return ""
}

// options are the decoding options of j.
func (e *Engine) options(j *job) generate.Options {
	seed := int64(0)
	if j.seed != nil {
		seed = *j.seed
	} else {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = int64(binary.LittleEndian.Uint64(b[:]))
	}
	mt := j.maxTokens
	if mt == 0 {
		mt = e.cfg.MaxTokens
	}
	return generate.Options{
		MaxNewTokens: mt, MaxLen: e.cfg.MaxLen, Temperature: j.temperature, TopP: j.topP, Seed: seed,
		StopTokenIDs: e.cfg.StopTokenIDs, StopStrings: j.stop, Decode: e.cfg.Tokenizer.Decode,
	}
}

// complete answers j. A prompt over the context fails with
// generate.ErrPromptTooLong, a template that cannot render the request
// with errRequest; cancelling ctx ends the decoding.
func (e *Engine) complete(ctx context.Context, j *job) (completion, error) {
	ids, prefix, err := e.render(j)
	if err != nil {
		return completion{}, err
	}
	if e.cfg.MaxLen > 0 && len(ids) >= e.cfg.MaxLen {
		return completion{}, fmt.Errorf("%w: the prompt has %d tokens, the context is %d", generate.ErrPromptTooLong, len(ids), e.cfg.MaxLen)
	}
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return completion{}, ctx.Err()
	}
	defer func() { <-e.slots }()
	res, err := generate.Generate(ctx, e.cfg.Model, [][]int32{ids}, e.options(j))
	if err != nil {
		return completion{}, err
	}
	r := res[0]
	c := completion{promptTokens: len(ids), completionTokens: len(r.Tokens), finish: r.FinishReason}
	text := e.cfg.Tokenizer.DecodeWith(r.Tokens, tokenizer.DecodeOptions{SkipSpecial: true})
	c.text = cutAtStop(text, j.stop)
	if j.logprobs {
		for i, id := range r.Tokens {
			c.logprobs = append(c.logprobs, tokenLogprob{id: id, logprob: r.RawLogprobs[i]})
		}
	}
	e.parseCalls(j, prefix, &c)
	return c, nil
}

// parseCalls reads the tool calls out of c.text when the job showed tools.
// Text that does not parse stays content.
func (e *Engine) parseCalls(j *job, prefix string, c *completion) {
	if !j.toolsShown() {
		return
	}
	full := prefix + c.text
	calls, err := agent.ParseToolCalls(e.cfg.Format, full)
	if len(calls) == 0 {
		if err != nil && prefix != "" {
			c.text = full // a forced call the model did not finish: show what it wrote
		}
		return
	}
	for i := range calls {
		calls[i].ID = newID("call_")
	}
	c.calls, c.finish = calls, "tool_calls"
	c.text = ""
	if e.cfg.Format != agent.FormatLlama3 {
		c.text = strings.TrimSpace(hermesBlock.ReplaceAllString(full, ""))
	}
}

// hermesBlock is one Hermes tool call, as the athletes' parser reads it.
var hermesBlock = regexp.MustCompile(`(?s)<tool_call>.*?(?:</tool_call>|\z)`)

// newID returns prefix and 24 random letters and digits.
func newID(prefix string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [24]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b[:])
}

// cutAtStop returns text up to the earliest occurrence of any stop string.
func cutAtStop(text string, stops []string) string {
	cut := len(text)
	for _, s := range stops {
		if i := strings.Index(text, s); i >= 0 && i < cut {
			cut = i
		}
	}
	return text[:cut]
}
