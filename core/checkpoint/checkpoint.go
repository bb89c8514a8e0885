// Package checkpoint opens Hugging Face checkpoint directories as a whole:
// the model, its tokenizer and its chat template, found by directory or by
// Hugging Face id in the local cache. It is what the CLI and the coach use
// to go from a name in toolbrain.toml to something that generates.
package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/gomlx/gomlx/backends"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/safetensors"
	"github.com/toolbrain/toolbrain/core/tokenizer"
)

// ErrNoTokenizer is returned when a checkpoint has no tokenizer.json.
var ErrNoTokenizer = errors.New("checkpoint: no tokenizer.json")

// Checkpoint is a resolved checkpoint directory and its parsed config.json.
type Checkpoint struct {
	Dir    string
	Config model.Config

	resolve hub.ResolveOptions // how Open found it; adapters are found the same way
}

// Open resolves nameOrDir (a directory, or a Hugging Face id such as
// "Qwen/Qwen2.5-0.5B-Instruct[@rev]" found in the local cache) and reads
// its config.json.
func Open(nameOrDir string, opts hub.ResolveOptions) (*Checkpoint, error) {
	dir, err := hub.Resolve(nameOrDir, opts)
	if err != nil {
		return nil, err
	}
	cfg, err := model.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	return &Checkpoint{Dir: dir, Config: cfg, resolve: opts}, nil
}

// Tokenizer loads the checkpoint's tokenizer.json (and tokenizer_config.json).
func (c *Checkpoint) Tokenizer() (*tokenizer.Tokenizer, error) {
	if _, err := os.Stat(filepath.Join(c.Dir, tokenizer.FileName)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoTokenizer, c.Dir)
	}
	return tokenizer.Load(c.Dir)
}

// ChatTemplate loads the chat template of tokenizer_config.json (or
// chat_template.jinja beside it).
func (c *Checkpoint) ChatTemplate() (*chattemplate.Template, error) {
	return chattemplate.FromTokenizerConfig(filepath.Join(c.Dir, tokenizer.ConfigFileName))
}

// StopTokenIDs are the ids that end a generation: config.json's
// eos_token_id(s) and the tokenizer's EOS token (chat models often end a
// turn with one and the text with the other).
func (c *Checkpoint) StopTokenIDs(tok *tokenizer.Tokenizer) []int32 {
	stops := make([]int32, 0, len(c.Config.EOSTokenIDs)+1)
	for _, e := range c.Config.EOSTokenIDs {
		stops = append(stops, int32(e))
	}
	if eos, ok := tok.EOS(); ok {
		stops = append(stops, eos)
	}
	return stops
}

// LoadModel uploads the weights to backend. adapter, when not empty, is a
// PEFT LoRA adapter applied (unmerged) on top: a directory, or a Hugging
// Face id found as Open found the checkpoint.
func (c *Checkpoint) LoadModel(b backends.Backend, opts model.LoadOptions, adapter string) (*model.Model, error) {
	adapterDir := adapter
	if adapter != "" {
		var err error
		if adapterDir, err = hub.Resolve(adapter, c.resolve); err != nil {
			return nil, fmt.Errorf("adapter %s: %w", adapter, err)
		}
	}
	m, err := model.Load(b, c.Dir, opts)
	if err != nil {
		return nil, err
	}
	if adapterDir != "" {
		a, err := lora.Load(adapterDir)
		if err != nil {
			m.Close()
			return nil, err
		}
		if err := m.SetAdapter(a); err != nil {
			m.Close()
			return nil, fmt.Errorf("adapter %s on %s: %w", adapterDir, c.Dir, err)
		}
	}
	return m, nil
}

// Init writes a complete random checkpoint into dir: config.json,
// model.safetensors, and a small byte-level BPE tokenizer with a ChatML
// chat template. cfg.VocabSize must be at least 260 (256 bytes and the
// special tokens); the tokenizer's special tokens take the top ids.
func Init(dir string, cfg model.Config, seed int64) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	tok, err := tokenizer.NewByteLevel(cfg.VocabSize, nil)
	if err != nil {
		return fmt.Errorf("init %s: tokenizer: %w", dir, err)
	}
	return InitWith(dir, cfg, seed, tok)
}

// InitWith is Init with a given tokenizer (one trained on the task's own
// text, say), whose ids must fit the model's vocabulary.
func InitWith(dir string, cfg model.Config, seed int64, tok *tokenizer.Tokenizer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if n := tok.VocabSize(); n > cfg.VocabSize {
		return fmt.Errorf("init %s: the tokenizer has %d ids, more than the model's vocabulary (%d)", dir, n, cfg.VocabSize)
	}
	if bos, ok := tok.BOS(); ok {
		cfg.BOSTokenID = int(bos)
	}
	if eos, ok := tok.EOS(); ok {
		cfg.EOSTokenIDs = []int{int(eos)}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("init %s: %w", dir, err)
	}
	if err := model.Save(dir, cfg, model.RandomWeights(cfg, seed)); err != nil {
		return fmt.Errorf("init %s: %w", dir, err)
	}
	if err := tok.Save(dir); err != nil {
		return fmt.Errorf("init %s: %w", dir, err)
	}
	return nil
}

// Info summarises a checkpoint for `toolbrain model info`.
type Info struct {
	Dir          string         `json:"dir"`
	Config       model.Config   `json:"config"`
	Parameters   int64          `json:"parameters"`
	Tensors      int            `json:"tensors"`
	DTypes       map[string]int `json:"dtypes"` // tensors per stored dtype
	StoredBytes  int64          `json:"stored_bytes"`
	Tokenizer    bool           `json:"tokenizer"`
	VocabTokens  int            `json:"tokenizer_vocab,omitempty"`
	ChatTemplate bool           `json:"chat_template"`
}

// Inspect reads the checkpoint's headers (not its weights) and tokenizer.
func (c *Checkpoint) Inspect() (*Info, error) {
	set, err := safetensors.OpenDir(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", c.Dir, err)
	}
	defer set.Close()
	info := &Info{Dir: c.Dir, Config: c.Config, DTypes: map[string]int{}}
	names := set.Names()
	sort.Strings(names)
	for _, n := range names {
		ti, _ := set.Info(n)
		info.Tensors++
		info.DTypes[string(ti.DType)]++
		info.StoredBytes += ti.End - ti.Begin
		info.Parameters += ti.NumElements()
	}
	if tok, err := c.Tokenizer(); err == nil {
		info.Tokenizer, info.VocabTokens = true, tok.VocabSize()
	} else if !errors.Is(err, ErrNoTokenizer) {
		return nil, err
	}
	if _, err := c.ChatTemplate(); err == nil {
		info.ChatTemplate = true
	}
	return info, nil
}

// EncodeChat renders msgs with the chat template and a generation prompt,
// the tokenizer's BOS and EOS tokens available to it, and encodes the text
// with special tokens recognised (the template writes them itself): the
// ids a chat model is prompted with.
func EncodeChat(tok *tokenizer.Tokenizer, tmpl *chattemplate.Template, msgs []chattemplate.Message) ([]int32, error) {
	return EncodeChatWith(tok, tmpl, msgs, chattemplate.Options{})
}

// EncodeChatWith is EncodeChat with more template options (tools, extra
// variables); the generation prompt and the special tokens are set as
// EncodeChat sets them.
func EncodeChatWith(tok *tokenizer.Tokenizer, tmpl *chattemplate.Template, msgs []chattemplate.Message, opts chattemplate.Options) ([]int32, error) {
	cfg := tok.Config()
	opts.AddGenerationPrompt, opts.BOSToken, opts.EOSToken = true, cfg.BOSToken, cfg.EOSToken
	text, err := tmpl.Render(msgs, opts)
	if err != nil {
		return nil, err
	}
	return tok.Encode(text), nil
}
