package llm

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/sdk"
)

// LocalOptions tune how a [Local] decodes. The zero value works: greedy when
// the request's temperature is 0, DefaultMaxTokens, one call at a time.
type LocalOptions struct {
	// MaxTokens is the completion length when a request has 0; 0 means
	// DefaultMaxTokens.
	MaxTokens int
	// MaxLen caps prompt plus completion tokens (the context window); a
	// longer prompt fails with generate.ErrPromptTooLong. 0 means
	// max_position_embeddings for [OpenLocal], no cap for [NewLocal].
	MaxLen int
	// StopTokenIDs end a completion (they are not part of the text). Nil
	// means the checkpoint's eos_token_id(s) and the tokenizer's EOS token
	// for [OpenLocal], the tokenizer's EOS token for [NewLocal]; an empty
	// non-nil slice means none.
	StopTokenIDs []int32
	// TopP and TopK filter sampling when a request's temperature is above 0
	// (see generate.Options); 0 means off.
	TopP float64
	TopK int
	// Seed makes sampling reproducible: a call samples from Seed mixed with a
	// hash of its prompt tokens, so the same request gets the same answer
	// whatever order calls come in, and different prompts get independent
	// draws. Greedy requests ignore it.
	Seed int64
	// MaxConcurrent is how many calls decode at once; 0 means 1 (calls are
	// serialised). Others wait their turn, or give up when their context is
	// done.
	MaxConcurrent int
}

// LocalConfig names a checkpoint for [OpenLocal], with the fields the CLI's
// model flags have.
type LocalConfig struct {
	// Model is a checkpoint directory or a Hugging Face id
	// ("Qwen/Qwen2.5-0.5B-Instruct[@rev]") in the local cache; required.
	// It needs a tokenizer.json and a chat template.
	Model string
	// Adapter, when not empty, is a PEFT LoRA adapter (directory or Hugging
	// Face id) applied on top.
	Adapter string
	// Quant quantizes the linear weights at load: "", "int8" or "nf4".
	Quant string
	// Backend is the gomlx backend spec (see core/backend.New); "" means
	// backend.Default.
	Backend string
	// HubCacheDir overrides the Hugging Face cache directory.
	HubCacheDir string
	// Options tune decoding.
	Options LocalOptions
}

// Local is an [sdk.LLM] that answers with a model on this machine through
// core/chattemplate, core/tokenizer and core/generate. It is safe for
// concurrent use.
//
// # Concurrency
//
// core/generate batches the prompts of one call, but concurrent Complete
// calls arrive separately, each with its own max_tokens, temperature and
// stop strings, and are not merged into one batch. Each call decodes with its
// own KV cache on the shared model (core/model's Model is safe for
// concurrent use), at most MaxConcurrent at a time: 1 by default, because on
// a CPU backend parallel calls only share the same cores while each holds a
// KV cache.
type Local struct {
	model   generate.Model
	tok     *tokenizer.Tokenizer
	tmpl    *chattemplate.Template
	opts    LocalOptions
	slots   chan struct{}
	closeFn func() error // releases what OpenLocal loaded; nil for NewLocal

	mu       sync.RWMutex // held for reading by every decoding call, for writing by Close
	closed   bool
	closeErr error
}

// NewLocal makes a Local on a model that is already loaded, such as the
// policy itself or a *model.Model the caller keeps: tok turns text into ids
// and back, tmpl renders the messages. Close does not close m.
func NewLocal(m generate.Model, tok *tokenizer.Tokenizer, tmpl *chattemplate.Template, opts LocalOptions) (*Local, error) {
	switch {
	case m == nil:
		return nil, fmt.Errorf("%w: nil model", ErrConfig)
	case tok == nil:
		return nil, fmt.Errorf("%w: nil tokenizer", ErrConfig)
	case tmpl == nil:
		return nil, fmt.Errorf("%w: nil chat template", ErrConfig)
	case opts.MaxTokens < 0:
		return nil, fmt.Errorf("%w: MaxTokens is %d, want >= 0 (0 = default)", ErrConfig, opts.MaxTokens)
	case opts.MaxLen < 0:
		return nil, fmt.Errorf("%w: MaxLen is %d, want >= 0 (0 = no cap)", ErrConfig, opts.MaxLen)
	case opts.MaxConcurrent < 0:
		return nil, fmt.Errorf("%w: MaxConcurrent is %d, want >= 0 (0 = 1)", ErrConfig, opts.MaxConcurrent)
	case opts.TopK < 0:
		return nil, fmt.Errorf("%w: TopK is %d, want >= 0 (0 = off)", ErrConfig, opts.TopK)
	case !(opts.TopP >= 0 && opts.TopP <= 1):
		return nil, fmt.Errorf("%w: TopP is %v, want in [0, 1] (0 = off)", ErrConfig, opts.TopP)
	}
	vocab := m.VocabSize()
	for i, id := range opts.StopTokenIDs {
		if id < 0 || int(id) >= vocab {
			return nil, fmt.Errorf("%w: StopTokenIDs[%d] is %d, outside the vocabulary of %d", ErrConfig, i, id, vocab)
		}
	}
	if opts.StopTokenIDs == nil {
		if eos, ok := tok.EOS(); ok {
			opts.StopTokenIDs = []int32{eos}
		}
	}
	opts.MaxTokens = maxTokens(0, opts.MaxTokens)
	opts.MaxConcurrent = max(opts.MaxConcurrent, 1)
	return &Local{model: m, tok: tok, tmpl: tmpl,
		opts: opts, slots: make(chan struct{}, opts.MaxConcurrent)}, nil
}

// OpenLocal loads cfg.Model (with its tokenizer and chat template) on the
// configured backend, as `toolbrain generate --chat` does. Close releases
// the model.
func OpenLocal(cfg LocalConfig) (*Local, error) {
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, fmt.Errorf("%w: Model is empty, want a checkpoint directory or Hugging Face id", ErrConfig)
	}
	hopts := hub.ResolveOptions{CacheDir: cfg.HubCacheDir}
	ck, err := checkpoint.Open(cfg.Model, hopts)
	if err != nil {
		return nil, fmt.Errorf("llm: open judge model %s: %w", cfg.Model, err)
	}
	tok, err := ck.Tokenizer()
	if err != nil {
		return nil, fmt.Errorf("llm: judge model %s: %w", cfg.Model, err)
	}
	tmpl, err := ck.ChatTemplate()
	if err != nil {
		if errors.Is(err, chattemplate.ErrNoTemplate) {
			return nil, fmt.Errorf("%w: %s (%s): %w", ErrNoChatTemplate, cfg.Model, ck.Dir, err)
		}
		return nil, fmt.Errorf("llm: judge model %s: %w", cfg.Model, err)
	}
	opts := cfg.Options
	if opts.MaxLen == 0 {
		opts.MaxLen = ck.Config.MaxPositionEmbeddings
	}
	if opts.StopTokenIDs == nil {
		opts.StopTokenIDs = ck.StopTokenIDs(tok)
	}
	spec := cfg.Backend
	if spec == "" {
		spec = backend.Default
	}
	b, err := backend.New(spec)
	if err != nil {
		return nil, fmt.Errorf("llm: judge backend: %w", err)
	}
	m, err := ck.LoadModel(b, model.LoadOptions{Quant: cfg.Quant}, cfg.Adapter)
	if err != nil {
		b.Finalize()
		return nil, fmt.Errorf("llm: load judge model %s: %w", cfg.Model, err)
	}
	l, err := NewLocal(m, tok, tmpl, opts)
	if err != nil {
		m.Close()
		b.Finalize()
		return nil, err
	}
	l.closeFn = func() error {
		err := m.Close()
		b.Finalize()
		return err
	}
	return l, nil
}

// Close waits for the calls decoding now, then releases what OpenLocal
// loaded (a Local made by NewLocal leaves its model open). Later calls fail
// with ErrClosed. It is safe to call twice.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		if l.closeFn != nil {
			l.closeErr = l.closeFn()
		}
	}
	return l.closeErr
}

// Prompt returns the token ids Complete decodes from for req: the messages
// rendered by the chat template with add_generation_prompt, tokenized
// (the template writes the special tokens itself).
func (l *Local) Prompt(req sdk.LLMRequest) ([]int32, error) {
	if err := validateRequest(req); err != nil {
		return nil, err
	}
	msgs := make([]chattemplate.Message, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = chattemplate.Message{Role: m.Role, Content: m.Content, ToolCallID: m.ToolCallID}
		for _, c := range m.ToolCalls {
			tc := chattemplate.ToolCall{ID: c.ID, Name: c.Name}
			if len(c.Arguments) > 0 {
				tc.Arguments = json.RawMessage(c.Arguments)
			}
			msgs[i].ToolCalls = append(msgs[i].ToolCalls, tc)
		}
	}
	ids, err := checkpoint.EncodeChat(l.tok, l.tmpl, msgs)
	if err != nil {
		return nil, fmt.Errorf("llm: render the judge prompt: %w", err)
	}
	return ids, nil
}

// Complete renders req with the chat template, decodes up to max_tokens
// tokens (greedy at temperature 0, else sampled with TopP, TopK and the
// seed), and returns the text without special tokens, cut before the first
// stop string. Decoding also ends at a stop token id or at MaxLen.
//
// A call waits for a free slot (see MaxConcurrent). Cancelling ctx ends the
// wait, or the decoding between two tokens; the error then wraps ctx.Err().
// An invalid req fails with ErrRequest, a prompt longer than MaxLen with
// generate.ErrPromptTooLong.
func (l *Local) Complete(ctx context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error) {
	ids, err := l.Prompt(req)
	if err != nil {
		return sdk.LLMResponse{}, err
	}
	opts := generate.Options{
		MaxNewTokens: maxTokens(req.MaxTokens, l.opts.MaxTokens),
		MaxLen:       l.opts.MaxLen,
		Temperature:  req.Temperature,
		TopP:         l.opts.TopP,
		TopK:         l.opts.TopK,
		Seed:         mixSeed(l.opts.Seed, ids),
		StopTokenIDs: l.opts.StopTokenIDs,
		StopStrings:  req.Stop,
		Decode:       l.tok.Decode,
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return sdk.LLMResponse{}, fmt.Errorf("llm: waiting for the judge model: %w", ctx.Err())
	}
	defer func() { <-l.slots }()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return sdk.LLMResponse{}, ErrClosed
	}
	res, err := generate.Generate(ctx, l.model, [][]int32{ids}, opts)
	if err != nil {
		return sdk.LLMResponse{}, fmt.Errorf("llm: judge model: %w", err)
	}
	text := l.tok.DecodeWith(res[0].Tokens, tokenizer.DecodeOptions{SkipSpecial: true})
	return sdk.LLMResponse{Text: cutAtStop(text, req.Stop)}, nil
}

// mixSeed derives a call's sampling seed from the configured seed and the
// prompt (FNV-1a over both), so that answers do not depend on call order.
func mixSeed(seed int64, ids []int32) int64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	for _, id := range ids {
		binary.LittleEndian.PutUint32(b[:4], uint32(id))
		h.Write(b[:4])
	}
	return int64(h.Sum64())
}
