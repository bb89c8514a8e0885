package tokenizer

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
)

// corpus is a small English text (prose, e-mail, Python) on which
// NewByteLevel learns its merges when no corpus is given.
//
//go:embed corpus.txt
var corpus string

// defaultSpecialTokens of NewByteLevel, in id order after the learned
// tokens. The names follow Llama 3 (text boundaries) and ChatML (turns).
var defaultSpecialTokens = []string{"<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"}

// DefaultChatTemplate is the ChatML template written by NewByteLevel.
const DefaultChatTemplate = "{%- for message in messages %}" +
	"{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}" +
	"{%- endfor %}" +
	"{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"

// ByteLevelOptions configures NewByteLevel. The zero value (or nil) uses the
// embedded corpus, the special tokens <|begin_of_text|> (BOS),
// <|end_of_text|> (pad), <|im_start|> and <|im_end|> (EOS), and
// DefaultChatTemplate.
type ByteLevelOptions struct {
	// Corpus is the text merges are learned from.
	Corpus string
	// SpecialTokens are appended after the learned tokens. The first is the
	// BOS token, the second the pad token and the last the EOS token.
	SpecialTokens []string
	// ChatTemplate is written to tokenizer_config.json.
	ChatTemplate string
}

// NewByteLevel returns a byte-level BPE tokenizer with at most vocabSize
// ids: the 256 byte tokens, merges learned from the corpus, then the special
// tokens. Learning stops early when no pair occurs twice, so VocabSize may
// be smaller than vocabSize (a model's embedding may be larger than its
// tokenizer). The pre-tokenizer is Qwen2's. Save writes it to a directory.
func NewByteLevel(vocabSize int, opts *ByteLevelOptions) (*Tokenizer, error) {
	var o ByteLevelOptions
	if opts != nil {
		o = *opts
	}
	if o.Corpus == "" {
		o.Corpus = corpus
	}
	if o.SpecialTokens == nil {
		o.SpecialTokens = defaultSpecialTokens
	}
	if o.ChatTemplate == "" {
		o.ChatTemplate = DefaultChatTemplate
	}
	if len(o.SpecialTokens) == 0 {
		return nil, fmt.Errorf("new byte-level tokenizer: %w: no special tokens", ErrInvalid)
	}
	minSize := 256 + len(o.SpecialTokens)
	if vocabSize < minSize {
		return nil, fmt.Errorf("new byte-level tokenizer: %w: vocab size %d is below %d (256 bytes + %d special tokens)",
			ErrInvalid, vocabSize, minSize, len(o.SpecialTokens))
	}
	vocab, merges := trainBPE(o.Corpus, vocabSize-len(o.SpecialTokens))
	tokJSON, cfgJSON, err := byteLevelFiles(vocab, merges, o)
	if err != nil {
		return nil, fmt.Errorf("new byte-level tokenizer: %w", err)
	}
	t, err := Parse(tokJSON)
	if err != nil {
		return nil, fmt.Errorf("new byte-level tokenizer: %w", err)
	}
	cfg, err := ParseConfig(cfgJSON)
	if err != nil {
		return nil, fmt.Errorf("new byte-level tokenizer: %w", err)
	}
	t.setConfig(cfg, cfgJSON)
	return t, nil
}

// WriteTiny writes a small byte-level BPE tokenizer.json and
// tokenizer_config.json (ChatML template) to dir, for a model of vocabSize
// ids. See NewByteLevel.
func WriteTiny(dir string, vocabSize int) error {
	t, err := NewByteLevel(vocabSize, nil)
	if err != nil {
		return err
	}
	return t.Save(dir)
}

// Save writes tokenizer.json, and tokenizer_config.json when the tokenizer
// has one, to dir, creating it. Each file is written to a temporary file and
// renamed, so a crash leaves the old file or the new one, never half of one.
// A loaded tokenizer writes back the exact bytes it was loaded from.
func (t *Tokenizer) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save tokenizer: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, FileName), t.raw, 0o644); err != nil {
		return fmt.Errorf("save tokenizer: %w", err)
	}
	if t.rawConfig != nil {
		if err := atomicfile.WriteFile(filepath.Join(dir, ConfigFileName), t.rawConfig, 0o644); err != nil {
			return fmt.Errorf("save tokenizer: %w", err)
		}
	}
	return nil
}

// trainBPE learns merges on corpus until the vocabulary holds size tokens
// or no pair occurs twice. Token id b (< 256) is the byte b. Ties between
// equally frequent pairs go to the smaller (left, right) id pair, so the
// result is deterministic.
func trainBPE(text string, size int) (vocab []string, merges [][2]int32) {
	vocab = make([]string, 256, size)
	index := map[string]int32{}
	for b := 0; b < 256; b++ {
		vocab[b] = string([]byte{byte(b)})
		index[vocab[b]] = int32(b)
	}
	counts := map[string]int{}
	pre := &splitter{m: fastPatterns[PatternQwen2], behavior: behaviorIsolated}
	pre.split(text, func(w string) { counts[w]++ })
	type word struct {
		syms  []int32
		count int
	}
	words := make([]word, 0, len(counts))
	for w, c := range counts {
		syms := make([]int32, len(w))
		for i := 0; i < len(w); i++ {
			syms[i] = int32(w[i])
		}
		words = append(words, word{syms, c})
	}
	for len(vocab) < size {
		pairs := map[uint64]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w.syms); i++ {
				pairs[pairKey(w.syms[i], w.syms[i+1])] += w.count
			}
		}
		var best uint64
		bestCount := 1
		for k, c := range pairs {
			if c > bestCount || (c == bestCount && c > 1 && k < best) {
				best, bestCount = k, c
			}
		}
		if bestCount < 2 {
			break
		}
		a, b := int32(best>>32), int32(uint32(best))
		merged := vocab[a] + vocab[b]
		id, ok := index[merged]
		if !ok {
			id = int32(len(vocab))
			vocab = append(vocab, merged)
			index[merged] = id
		}
		merges = append(merges, [2]int32{a, b})
		for wi := range words {
			s := words[wi].syms
			out := s[:0]
			for i := 0; i < len(s); i++ {
				if i+1 < len(s) && s[i] == a && s[i+1] == b {
					out = append(out, id)
					i++
				} else {
					out = append(out, s[i])
				}
			}
			words[wi].syms = out
		}
	}
	return vocab, merges
}

// byteLevelFiles renders tokenizer.json and tokenizer_config.json.
func byteLevelFiles(vocab []string, merges [][2]int32, o ByteLevelOptions) (tok, cfg []byte, err error) {
	type obj = map[string]any
	byteLevel := obj{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}
	v := make(obj, len(vocab))
	for id, s := range vocab {
		v[byteLevelEncode(s)] = id
	}
	m := make([][2]string, len(merges))
	for i, p := range merges {
		m[i] = [2]string{byteLevelEncode(vocab[p[0]]), byteLevelEncode(vocab[p[1]])}
	}
	added := make([]AddedToken, len(o.SpecialTokens))
	decoder := obj{}
	for i, s := range o.SpecialTokens {
		if _, dup := v[s]; dup || s == "" {
			return nil, nil, fmt.Errorf("%w: special token %q is empty or already a token", ErrInvalid, s)
		}
		added[i] = AddedToken{ID: int32(len(vocab) + i), Content: s, Special: true}
		decoder[strconv.Itoa(len(vocab)+i)] = obj{"content": s, "lstrip": false, "normalized": false,
			"rstrip": false, "single_word": false, "special": true}
		v[s] = len(vocab) + i // only to catch duplicates among the specials
	}
	for _, s := range o.SpecialTokens {
		delete(v, s)
	}
	file := obj{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": added,
		"normalizer":   nil,
		"pre_tokenizer": obj{"type": "Sequence", "pretokenizers": []any{
			obj{"type": "Split", "pattern": obj{"Regex": PatternQwen2}, "behavior": behaviorIsolated, "invert": false},
			byteLevel,
		}},
		"post_processor": byteLevel,
		"decoder":        byteLevel,
		"model": obj{
			"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
			"vocab": v, "merges": m,
		},
	}
	specials := o.SpecialTokens
	pad := specials[0]
	if len(specials) > 1 {
		pad = specials[1]
	}
	config := obj{
		"add_bos_token":                false,
		"add_eos_token":                false,
		"added_tokens_decoder":         decoder,
		"bos_token":                    specials[0],
		"eos_token":                    specials[len(specials)-1],
		"pad_token":                    pad,
		"unk_token":                    nil,
		"chat_template":                o.ChatTemplate,
		"clean_up_tokenization_spaces": false,
		"model_max_length":             32768,
		"tokenizer_class":              "PreTrainedTokenizerFast",
	}
	if tok, err = marshal(file); err != nil {
		return nil, nil, err
	}
	if cfg, err = marshal(config); err != nil {
		return nil, nil, err
	}
	return tok, cfg, nil
}

// marshal indents and keeps "<" and ">" readable: special tokens are full
// of them, and json.Marshal would write \u003c.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
