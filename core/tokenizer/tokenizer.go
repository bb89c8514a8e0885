// Package tokenizer reads Hugging Face tokenizer.json files of byte-level
// BPE tokenizers (GPT-2, Llama 3, Qwen2/Qwen3, SmolLM) and encodes text to
// ids and back, reproducing the Hugging Face tokenizers library.
//
// Supported: model BPE (merges as "a b" strings or [a, b] pairs,
// ignore_merges), normalizers NFC/NFD/NFKC/NFKD/Lowercase/Sequence,
// pre-tokenizers Sequence/Split/ByteLevel/Digits, decoder ByteLevel, and
// added tokens (with lstrip, rstrip, single_word). Anything else is
// reported as ErrUnsupported at load time rather than encoded wrongly.
//
// # Why hand-written matchers
//
// The split patterns of GPT-2, Llama 3 and Qwen need lookahead, which Go's
// regexp lacks. regexp2 handles them but is slow; the three well-known
// patterns get dedicated matchers, checked against regexp2 by tests and a
// fuzzer, and any other pattern falls back to regexp2.
package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/text/unicode/norm"

	"github.com/toolbrain/toolbrain/internal/capread"
)

// Errors returned by Load and Parse, wrapped with context.
var (
	// ErrInvalid means tokenizer.json or tokenizer_config.json is ill-formed:
	// bad JSON, a merge naming a token missing from the vocabulary, bad ids.
	ErrInvalid = errors.New("tokenizer: invalid tokenizer file")
	// ErrUnsupported means the file is well-formed but uses a model or
	// pipeline step this package does not implement.
	ErrUnsupported = errors.New("tokenizer: unsupported tokenizer feature")
)

// File names inside a model directory.
const (
	FileName       = "tokenizer.json"
	ConfigFileName = "tokenizer_config.json"
)

// Tokenizer is a loaded byte-level BPE tokenizer. It is safe for concurrent
// use.
type Tokenizer struct {
	model      *bpe
	normalize  normalizer // nil: none
	pre        pretokenizer
	added      []AddedToken
	addedMatch *addedMatcher

	vocab    map[string]int32 // token (byte-level form) or added content -> id
	tokens   []string         // id -> token; "" for unused ids
	tokBytes []byte           // decoded bytes of all tokens, back to back
	tokOff   []uint32         // id -> [tokOff[id], tokOff[id+1]) in tokBytes
	special  []bool           // id -> special added token

	cfg           TokenizerConfig
	bos, eos, pad int32 // -1 when absent

	raw, rawConfig []byte // the files as read, written back by Save
}

// File-size caps of a checkpoint's tokenizer files, which come with a
// downloaded model. The largest real tokenizer.json (a 256k vocabulary)
// is about 35 MB and tokenizer_config.json a few MB; far larger files are
// refused before they are read.
const (
	MaxFileBytes       = 256 << 20
	MaxConfigFileBytes = 64 << 20
)

// Load reads dir/tokenizer.json and, when present, dir/tokenizer_config.json.
func Load(dir string) (*Tokenizer, error) {
	path := filepath.Join(dir, FileName)
	data, err := capread.File(path, MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	cpath := filepath.Join(dir, ConfigFileName)
	cdata, err := capread.File(cpath, MaxConfigFileBytes)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load tokenizer config: %w", err)
	}
	cfg, hasAddBOS, err := parseConfig(cdata)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", cpath, err)
	}
	if !hasAddBOS && t.cfg.AddBOS {
		// Llama 3 says it in tokenizer.json's TemplateProcessing only.
		cfg.AddBOS = true
		if cfg.BOSToken == "" {
			cfg.BOSToken = t.cfg.BOSToken
		}
	}
	t.setConfig(cfg, cdata)
	return t, nil
}

// Parse builds a tokenizer from the contents of a tokenizer.json. The
// result has no tokenizer_config.json: Config is zero except what the
// post-processor implies (AddBOS and BOSToken from a TemplateProcessing).
func Parse(data []byte) (*Tokenizer, error) {
	var f struct {
		AddedTokens   []AddedToken    `json:"added_tokens"`
		Normalizer    json.RawMessage `json:"normalizer"`
		PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
		PostProcessor json.RawMessage `json:"post_processor"`
		Decoder       json.RawMessage `json:"decoder"`
		Model         *modelJSON      `json:"model"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w: %w", ErrInvalid, err)
	}
	t := &Tokenizer{added: f.AddedTokens, raw: bytes.Clone(data), bos: -1, eos: -1, pad: -1}
	var err error
	if t.normalize, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("parse normalizer: %w", err)
	}
	byteLevel := false
	if t.pre, err = parsePre(f.PreTokenizer, &byteLevel); err != nil {
		return nil, fmt.Errorf("parse pre_tokenizer: %w", err)
	}
	if !byteLevel {
		return nil, fmt.Errorf("parse pre_tokenizer: %w: no ByteLevel step (only byte-level BPE is implemented)", ErrUnsupported)
	}
	if err := checkDecoder(f.Decoder); err != nil {
		return nil, fmt.Errorf("parse decoder: %w", err)
	}
	if err := t.parseModel(f.Model); err != nil {
		return nil, fmt.Errorf("parse model: %w", err)
	}
	if err := t.indexTokens(); err != nil {
		return nil, err
	}
	t.addedMatch = newAddedMatcher(t.added)
	if bos := templateBOS(f.PostProcessor); bos != "" {
		t.setConfig(TokenizerConfig{BOSToken: bos, AddBOS: true}, nil)
	}
	return t, nil
}

func (t *Tokenizer) setConfig(cfg TokenizerConfig, raw []byte) {
	t.cfg, t.rawConfig = cfg, raw
	t.bos, t.eos, t.pad = t.idOf(cfg.BOSToken), t.idOf(cfg.EOSToken), t.idOf(cfg.PadToken)
}

func (t *Tokenizer) idOf(tok string) int32 {
	if id, ok := t.vocab[tok]; ok && tok != "" {
		return id
	}
	return -1
}

// node is the common shape of normalizer, pre-tokenizer and decoder entries.
type node struct {
	Type          string            `json:"type"`
	Normalizers   []json.RawMessage `json:"normalizers"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Decoders      []json.RawMessage `json:"decoders"`
	Processors    []json.RawMessage `json:"processors"`
	Pattern       *struct {
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	} `json:"pattern"`
	Behavior         string `json:"behavior"`
	Invert           bool   `json:"invert"`
	AddPrefixSpace   bool   `json:"add_prefix_space"`
	UseRegex         *bool  `json:"use_regex"`
	IndividualDigits bool   `json:"individual_digits"`
	Single           []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
	} `json:"single"`
}

func parseNode(raw json.RawMessage) (*node, error) {
	if isNull(raw) {
		return nil, nil
	}
	var n node
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return &n, nil
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	n, err := parseNode(raw)
	if n == nil || err != nil {
		return nil, err
	}
	switch n.Type {
	case "NFC":
		return normForm(norm.NFC), nil
	case "NFD":
		return normForm(norm.NFD), nil
	case "NFKC":
		return normForm(norm.NFKC), nil
	case "NFKD":
		return normForm(norm.NFKD), nil
	case "Lowercase":
		return lowercase, nil
	case "Sequence":
		var chain []normalizer
		for i, sub := range n.Normalizers {
			s, err := parseNormalizer(sub)
			if err != nil {
				return nil, fmt.Errorf("normalizers[%d]: %w", i, err)
			}
			if s != nil {
				chain = append(chain, s)
			}
		}
		if len(chain) == 0 {
			return nil, nil
		}
		return chainNormalizers(chain), nil
	}
	return nil, fmt.Errorf("%w: normalizer type %q", ErrUnsupported, n.Type)
}

// maxSequenceDepth bounds nesting so that a hostile file cannot recurse deeply.
const maxSequenceDepth = 8

func parsePre(raw json.RawMessage, byteLevel *bool) (pretokenizer, error) {
	return parsePreDepth(raw, byteLevel, 0)
}

func parsePreDepth(raw json.RawMessage, byteLevel *bool, depth int) (pretokenizer, error) {
	n, err := parseNode(raw)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return sequencePre(nil), nil
	}
	switch n.Type {
	case "Sequence":
		if depth >= maxSequenceDepth {
			return nil, fmt.Errorf("%w: Sequence nested deeper than %d", ErrUnsupported, maxSequenceDepth)
		}
		var seq sequencePre
		for i, sub := range n.Pretokenizers {
			p, err := parsePreDepth(sub, byteLevel, depth+1)
			if err != nil {
				return nil, fmt.Errorf("pretokenizers[%d]: %w", i, err)
			}
			seq = append(seq, p)
		}
		return seq, nil
	case "ByteLevel":
		*byteLevel = true
		p := &byteLevelPre{addPrefixSpace: n.AddPrefixSpace}
		if n.UseRegex == nil || *n.UseRegex { // Hugging Face defaults use_regex to true
			p.re = &splitter{m: fastPatterns[PatternGPT2], behavior: behaviorIsolated}
		}
		return p, nil
	case "Split":
		if n.Pattern == nil {
			return nil, fmt.Errorf("%w: Split without pattern", ErrInvalid)
		}
		sp := &splitter{behavior: n.Behavior, invert: n.Invert}
		switch n.Behavior {
		case behaviorRemoved, behaviorIsolated, behaviorMergedWithPrev, behaviorMergedWithNext, behaviorContiguous:
		default:
			return nil, fmt.Errorf("%w: Split behavior %q", ErrInvalid, n.Behavior)
		}
		switch {
		case n.Pattern.Regex != nil:
			if fp, ok := fastPatterns[*n.Pattern.Regex]; ok {
				sp.m = fp
			} else if sp.m, err = newRegexMatcher(*n.Pattern.Regex); err != nil {
				return nil, err
			}
		case n.Pattern.String != nil:
			sp.m = literalMatcher{lit: *n.Pattern.String}
		default:
			return nil, fmt.Errorf("%w: Split pattern needs Regex or String", ErrInvalid)
		}
		return sp, nil
	case "Digits":
		return &splitter{m: digitsMatcher{individual: n.IndividualDigits}, behavior: behaviorIsolated}, nil
	}
	return nil, fmt.Errorf("%w: pre_tokenizer type %q", ErrUnsupported, n.Type)
}

func checkDecoder(raw json.RawMessage) error {
	n, err := parseNode(raw)
	if n == nil || err != nil {
		return err
	}
	switch n.Type {
	case "ByteLevel":
		return nil
	case "Sequence":
		for i, sub := range n.Decoders {
			if err := checkDecoder(sub); err != nil {
				return fmt.Errorf("decoders[%d]: %w", i, err)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: decoder type %q", ErrUnsupported, n.Type)
}

// templateBOS returns the special token a TemplateProcessing post-processor
// puts first in a single sequence (Llama 3's <|begin_of_text|>), or "".
func templateBOS(raw json.RawMessage) string {
	n, err := parseNode(raw)
	if n == nil || err != nil {
		return ""
	}
	switch n.Type {
	case "TemplateProcessing":
		if len(n.Single) > 0 && n.Single[0].SpecialToken != nil {
			return n.Single[0].SpecialToken.ID
		}
	case "Sequence":
		for _, sub := range n.Processors {
			if bos := templateBOS(sub); bos != "" {
				return bos
			}
		}
	}
	return ""
}

// modelJSON is tokenizer.json's "model". Vocab and merges are kept raw for
// scanVocab and scanMerges.
type modelJSON struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	IgnoreMerges            bool            `json:"ignore_merges"`
}

func (t *Tokenizer) parseModel(m *modelJSON) error {
	if m == nil {
		return fmt.Errorf("%w: no model", ErrInvalid)
	}
	if m.Type != "BPE" && m.Type != "" {
		return fmt.Errorf("%w: model type %q (only BPE)", ErrUnsupported, m.Type)
	}
	if (m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "") ||
		(m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "") {
		return fmt.Errorf("%w: continuing_subword_prefix or end_of_word_suffix", ErrUnsupported)
	}
	vocab, err := scanVocab(m.Vocab)
	if err != nil {
		return err
	}
	merges, err := scanMerges(m.Merges)
	if err != nil {
		return err
	}
	model := &bpe{
		merges:       make(map[uint64]uint64, len(merges)),
		ignoreMerges: m.IgnoreMerges,
		cache:        make(map[string][]int32),
		cacheMax:     cacheEntries,
	}
	for b := range model.byteID {
		model.byteID[b] = -1
		if id, ok := vocab[string(byteToRune[b])]; ok {
			model.byteID[b] = id
		}
	}
	for rank, pair := range merges {
		a, okA := vocab[pair[0]]
		b, okB := vocab[pair[1]]
		merged, okM := vocab[pair[0]+pair[1]]
		switch {
		case !okA:
			return fmt.Errorf("merges[%d] %q: %w: token %q not in vocab", rank, pair, ErrInvalid, pair[0])
		case !okB:
			return fmt.Errorf("merges[%d] %q: %w: token %q not in vocab", rank, pair, ErrInvalid, pair[1])
		case !okM:
			return fmt.Errorf("merges[%d] %q: %w: merged token %q not in vocab", rank, pair, ErrInvalid, pair[0]+pair[1])
		}
		// A repeated pair keeps its last rank, as Hugging Face's HashMap does.
		model.merges[pairKey(a, b)] = uint64(rank)<<32 | uint64(uint32(merged))
	}
	if m.IgnoreMerges {
		model.rawVocab = make(map[string]int32, len(vocab))
		for tok, id := range vocab {
			if raw, ok := byteLevelDecode(tok); ok {
				model.rawVocab[string(raw)] = id
			}
		}
	}
	t.model = model
	t.vocab = vocab
	if t.vocab == nil {
		t.vocab = map[string]int32{}
	}
	return nil
}

// maxIDSlack bounds how sparse ids may be, so that a hostile file with one
// huge id cannot make Parse allocate gigabytes.
const maxIDSlack = 1 << 16

// indexTokens builds the id -> token tables from the vocabulary and the
// added tokens (which win over the vocabulary on a shared id).
func (t *Tokenizer) indexTokens() error {
	maxID := int32(-1)
	for tok, id := range t.vocab {
		if id < 0 {
			return fmt.Errorf("parse model: %w: token %q has negative id %d", ErrInvalid, tok, id)
		}
		maxID = max(maxID, id)
	}
	for _, a := range t.added {
		if a.ID < 0 {
			return fmt.Errorf("parse added_tokens: %w: %q has negative id %d", ErrInvalid, a.Content, a.ID)
		}
		maxID = max(maxID, a.ID)
	}
	if int(maxID) >= 2*(len(t.vocab)+len(t.added))+maxIDSlack {
		return fmt.Errorf("parse model: %w: id %d is far beyond the %d tokens", ErrInvalid, maxID, len(t.vocab)+len(t.added))
	}
	n := int(maxID) + 1
	t.tokens = make([]string, n)
	t.special = make([]bool, n)
	for tok, id := range t.vocab {
		// Two tokens on one id: keep the smaller string, so the choice does
		// not depend on map order.
		if old := t.tokens[id]; old == "" || tok < old {
			t.tokens[id] = tok
		}
	}
	if len(t.added) > 0 {
		vocab := make(map[string]int32, len(t.vocab)+len(t.added))
		for k, v := range t.vocab {
			vocab[k] = v
		}
		for _, a := range t.added {
			t.tokens[a.ID] = a.Content
			t.special[a.ID] = a.Special
			vocab[a.Content] = a.ID
		}
		t.vocab = vocab
	}
	t.tokOff = make([]uint32, n+1)
	for id, tok := range t.tokens {
		t.tokOff[id] = uint32(len(t.tokBytes))
		if raw, ok := byteLevelDecode(tok); ok {
			t.tokBytes = append(t.tokBytes, raw...)
		} else {
			t.tokBytes = append(t.tokBytes, tok...)
		}
	}
	t.tokOff[n] = uint32(len(t.tokBytes))
	return nil
}

// Encode returns the ids of text, as Hugging Face's encode with
// add_special_tokens=False: no BOS/EOS is added, but added tokens that
// appear literally in text (such as "<|im_start|>" in a rendered chat
// prompt) map to their single id. Use EncodeOrdinary for untrusted text that
// must not produce control tokens.
func (t *Tokenizer) Encode(text string) []int32 {
	return t.AppendEncode(nil, text)
}

// AppendEncode is Encode appending to dst.
func (t *Tokenizer) AppendEncode(dst []int32, text string) []int32 {
	for pos := 0; pos < len(text); {
		tok, start, end := t.addedMatch.find(text, pos)
		dst = t.encodeSegment(dst, text[pos:start])
		if tok != nil {
			dst = append(dst, tok.ID)
		}
		pos = end
	}
	return dst
}

// EncodeOrdinary encodes text with no added-token matching: "<|im_end|>" in
// text becomes the ids of its characters, like tiktoken's encode_ordinary.
func (t *Tokenizer) EncodeOrdinary(text string) []int32 {
	return t.encodeSegment(nil, text)
}

func (t *Tokenizer) encodeSegment(dst []int32, s string) []int32 {
	if s == "" {
		return dst
	}
	if t.normalize != nil {
		s = t.normalize(s)
	}
	t.pre.split(s, func(word string) {
		dst = t.model.appendWord(dst, word)
	})
	return dst
}

// DecodeOptions controls Decode. The zero value decodes every id.
type DecodeOptions struct {
	// SkipSpecial drops special added tokens (those with "special": true).
	SkipSpecial bool
}

// Decode returns the text of ids. Ids with no token are skipped. The result
// holds the exact bytes of the tokens, so it can be invalid UTF-8 where ids
// end inside a multi-byte character (as while streaming); Hugging Face would
// show U+FFFD there, which strings.ToValidUTF8 gives when wanted.
func (t *Tokenizer) Decode(ids []int32) string {
	return t.DecodeWith(ids, DecodeOptions{})
}

// DecodeWith is Decode with options.
func (t *Tokenizer) DecodeWith(ids []int32, opts DecodeOptions) string {
	var buf []byte
	for _, id := range ids {
		if opts.SkipSpecial && t.IsSpecial(id) {
			continue
		}
		buf = append(buf, t.TokenBytes(id)...)
	}
	return string(buf)
}

// TokenBytes returns the bytes that id decodes to (nil for an unknown id).
// The slice is shared: do not modify it.
func (t *Tokenizer) TokenBytes(id int32) []byte {
	if id < 0 || int(id) >= len(t.tokens) {
		return nil
	}
	return t.tokBytes[t.tokOff[id]:t.tokOff[id+1]:t.tokOff[id+1]]
}

// TokenID returns the id of a token as tokenizer.json spells it: the
// byte-level form for vocabulary entries ("Ġhello" for " hello"), the
// content for added tokens ("<|im_end|>").
func (t *Tokenizer) TokenID(tok string) (int32, bool) {
	id, ok := t.vocab[tok]
	return id, ok
}

// Token returns the token string of id in tokenizer.json's spelling, or ""
// when id has no token.
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// VocabSize returns the largest id plus one, counting added tokens: the
// smallest embedding table that covers every id this tokenizer produces.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// IsSpecial reports whether id is a special added token.
func (t *Tokenizer) IsSpecial(id int32) bool {
	return id >= 0 && int(id) < len(t.special) && t.special[id]
}

// AddedTokens returns a copy of the added tokens, sorted by id.
func (t *Tokenizer) AddedTokens() []AddedToken {
	out := append([]AddedToken(nil), t.added...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Config returns the tokenizer_config.json fields read by Load.
func (t *Tokenizer) Config() TokenizerConfig {
	cfg := t.cfg
	if cfg.ChatTemplates != nil {
		cfg.ChatTemplates = make(map[string]string, len(t.cfg.ChatTemplates))
		for k, v := range t.cfg.ChatTemplates {
			cfg.ChatTemplates[k] = v
		}
	}
	return cfg
}

// BOS returns the id of the configured beginning-of-sequence token.
func (t *Tokenizer) BOS() (int32, bool) { return t.bos, t.bos >= 0 }

// EOS returns the id of the configured end-of-sequence token.
func (t *Tokenizer) EOS() (int32, bool) { return t.eos, t.eos >= 0 }

// Pad returns the id of the configured padding token.
func (t *Tokenizer) Pad() (int32, bool) { return t.pad, t.pad >= 0 }
