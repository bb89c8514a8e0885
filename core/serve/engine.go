package serve

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

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
	// longer prompt is a 400. 0 means DefaultMaxLen. Every row of the KV
	// cache has room for MaxLen tokens, made when the engine starts.
	MaxLen int
	// MaxTokens is the completion length when a request sets none; 0 means
	// DefaultMaxTokens.
	MaxTokens int
	// Rows is how many requests decode together, each in a row of the
	// batch; 0 means 1.
	Rows int
}

// DefaultMaxLen is the context when EngineConfig sets none.
const DefaultMaxLen = 4096

// Engine answers chat requests on a local model: it renders the messages
// and tools with the chat template, decodes them with continuous batching
// (generate.Batcher: a request joins the running batch between two decode
// steps and leaves it when done), and parses tool calls back out of the
// text with the athletes' parser. It is safe for concurrent use; Close
// stops it.
type Engine struct {
	cfg EngineConfig
	b   *generate.Batcher
}

// NewEngine checks cfg and starts an Engine: its KV cache (Rows × MaxLen)
// is made now.
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
	if cfg.MaxLen == 0 {
		cfg.MaxLen = DefaultMaxLen
	}
	cfg.Rows = max(cfg.Rows, 1)
	b, err := generate.NewBatcher(context.Background(), cfg.Model, cfg.Rows, cfg.MaxLen)
	if err != nil {
		return nil, fmt.Errorf("serve: engine: %w", err)
	}
	return &Engine{cfg: cfg, b: b}, nil
}

// Close stops the engine: requests decoding fail, the KV cache is released;
// the model stays open.
func (e *Engine) Close() error { return e.b.Close() }

// errRequest is a request the engine cannot answer as asked (a 400).
var errRequest = errors.New("serve: request")

// completion is the engine's answer to a job.
type completion struct {
	text             string // the content, tool-call markup taken out when calls were parsed
	calls            []sdk.ToolCall
	finish           string // "stop", "length" or "tool_calls"
	promptTokens     int
	completionTokens int
	logprobs         []generate.Token // the generated tokens, for OpenAI's logprobs
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

// complete answers j. When onDelta is set (a streamed request), it is
// called on the caller's goroutine with each piece of content as it is
// decoded and the logprobs of the tokens it came from; with tools shown,
// the content waits for the end, where tool calls are parsed out of it.
// A prompt over the context fails with generate.ErrPromptTooLong, a
// template that cannot render the request with errRequest; cancelling ctx
// ends the decoding and frees the request's row.
func (e *Engine) complete(ctx context.Context, j *job, onDelta func(string, []generate.Token)) (completion, error) {
	ids, prefix, err := e.render(j)
	if err != nil {
		return completion{}, err
	}
	if len(ids) >= e.cfg.MaxLen {
		return completion{}, fmt.Errorf("%w: the prompt has %d tokens, the context is %d", generate.ErrPromptTooLong, len(ids), e.cfg.MaxLen)
	}
	var mu sync.Mutex
	var toks []generate.Token
	notify := make(chan struct{}, 1)
	req := generate.BatchRequest{Prompt: ids, Options: e.options(j), TopLogprobs: j.topLogprobs,
		OnToken: func(t generate.Token) error {
			mu.Lock()
			toks = append(toks, t)
			mu.Unlock()
			select {
			case notify <- struct{}{}:
			default:
			}
			return nil
		}}
	var res generate.Result
	if onDelta == nil || j.toolsShown() {
		res, err = e.b.Generate(ctx, req)
	} else {
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			res, err = e.b.Generate(ctx, req)
		}()
		st := streamer{tok: e.cfg.Tokenizer, stops: j.stop, onDelta: onDelta}
		for end := false; !end; {
			select {
			case <-notify:
			case <-finished:
				end = true
			}
			mu.Lock()
			got := toks[:len(toks):len(toks)]
			mu.Unlock()
			st.emit(got, end && err == nil)
		}
	}
	if err != nil {
		return completion{}, err
	}
	c := completion{promptTokens: len(ids), completionTokens: len(res.Tokens), finish: res.FinishReason}
	text := e.cfg.Tokenizer.DecodeWith(res.Tokens, tokenizer.DecodeOptions{SkipSpecial: true})
	c.text = cutAtStop(text, j.stop)
	if j.logprobs {
		c.logprobs = toks
	}
	e.parseCalls(j, prefix, &c)
	return c, nil
}

// streamer turns the tokens decoded so far into content deltas: text is
// held back while it may be the start of a stop string or ends inside a
// UTF-8 character, and never passes a stop string.
type streamer struct {
	tok     *tokenizer.Tokenizer
	stops   []string
	onDelta func(string, []generate.Token)
	sent    int // bytes of text sent
	used    int // tokens whose logprobs were sent
}

// emit sends what toks add to the text; final sends everything left.
func (s *streamer) emit(toks []generate.Token, final bool) {
	ids := make([]int32, len(toks))
	for i, t := range toks {
		ids[i] = t.ID
	}
	text := s.tok.DecodeWith(ids, tokenizer.DecodeOptions{SkipSpecial: true})
	cut := cutAtStop(text, s.stops)
	safe := len(cut)
	if !final && safe == len(text) {
		safe -= heldBack(text, s.stops)
	}
	if safe <= s.sent && !(final && s.used < len(toks)) {
		return
	}
	delta := ""
	if safe > s.sent {
		delta = text[s.sent:safe]
		s.sent = safe
	}
	lps := toks[s.used:]
	s.used = len(toks)
	s.onDelta(delta, lps)
}

// heldBack is how many bytes at the end of text must wait: an incomplete
// UTF-8 character, or the longest tail that starts a stop string.
func heldBack(text string, stops []string) int {
	n := 0
	for i := len(text) - 1; i >= 0 && i >= len(text)-utf8.UTFMax; i-- {
		if utf8.RuneStart(text[i]) {
			if !utf8.FullRuneInString(text[i:]) {
				n = len(text) - i
			}
			break
		}
	}
	for _, st := range stops {
		for k := min(len(st)-1, len(text)); k > n; k-- {
			if strings.HasSuffix(text, st[:k]) {
				n = k
				break
			}
		}
	}
	return n
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
