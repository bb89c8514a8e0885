package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// miniJSON is a hand-made tokenizer.json: bytes a, b, c, space, merges
// given by the caller, and whole-word tokens "abc" and "Ġabc" that no
// merge reaches.
func miniJSON(merges string, ignoreMerges bool, extra string) string {
	return fmt.Sprintf(`{
  "added_tokens": [{"id": 9, "content": "<eot>", "special": true}, {"id": 10, "content": "<tool>", "special": false}],
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "decoder": {"type": "ByteLevel"},
  %s
  "model": {"type": "BPE", "ignore_merges": %v,
    "vocab": {"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "bc": 5, "abc": 6, "Ġa": 7, "Ġabc": 8},
    "merges": %s}
}`, extra, ignoreMerges, merges)
}

func TestParse_Merges(t *testing.T) {
	tests := []struct {
		name         string
		merges       string
		ignoreMerges bool
		text         string
		want         []int32
	}{
		{"strings", `["a b", "b c", "Ġ a"]`, false, "abc", []int32{4, 2}},
		{"pairs", `[["a", "b"], ["b", "c"], ["Ġ", "a"]]`, false, "abc", []int32{4, 2}},
		{"rank order", `[["b", "c"], ["a", "b"]]`, false, "abc", []int32{0, 5}},
		{"ignore_merges", `[["a", "b"]]`, true, "abc", []int32{6}},
		{"ignore_merges with space", `[["a", "b"]]`, true, "c abc", []int32{2, 8}},
		{"no ignore_merges", `[["a", "b"], ["Ġ", "a"]]`, false, "c abc", []int32{2, 3, 4, 2}},
		{"space merge first", `[["Ġ", "a"], ["a", "b"]]`, false, "c abc", []int32{2, 7, 1, 2}},
		{"added tokens", `[]`, false, "a<eot>b<tool>", []int32{0, 9, 1, 10}},
		{"unknown bytes dropped", `[]`, false, "axb", []int32{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse([]byte(miniJSON(tt.merges, tt.ignoreMerges, "")))
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Encode(tt.text); !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
}

func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name string
		json string
		want error
	}{
		{"not json", `{"model": `, ErrInvalid},
		{"empty", `{}`, ErrUnsupported}, // no ByteLevel pre-tokenizer
		{"no model", `{"pre_tokenizer": {"type": "ByteLevel"}}`, ErrInvalid},
		{"merge unknown left", miniJSON(`["x b"]`, false, ""), ErrInvalid},
		{"merge unknown right", miniJSON(`[["a", "x"]]`, false, ""), ErrInvalid},
		{"merge result unknown", miniJSON(`["c a"]`, false, ""), ErrInvalid},
		{"merge bad string", miniJSON(`["a b c"]`, false, ""), ErrInvalid},
		{"merge bad pair", miniJSON(`[["a"]]`, false, ""), ErrInvalid},
		{"merges not a list", miniJSON(`{"a": 1}`, false, ""), ErrInvalid},
		{"wordpiece", `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "WordPiece", "vocab": {}}}`, ErrUnsupported},
		{"metaspace", `{"pre_tokenizer": {"type": "Metaspace"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}`, ErrUnsupported},
		{"bad regex", `{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(("}, "behavior": "Isolated"}, {"type": "ByteLevel"}]}, "model": {"type": "BPE", "vocab": {}, "merges": []}}`, ErrInvalid},
		{"bad behavior", `{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}, {"type": "ByteLevel"}]}, "model": {"type": "BPE", "vocab": {}, "merges": []}}`, ErrInvalid},
		{"normalizer", miniJSON(`[]`, false, `"normalizer": {"type": "Precompiled"},`), ErrUnsupported},
		{"decoder", `{"pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "WordPiece"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}`, ErrUnsupported},
		{"suffix", `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {}, "merges": [], "end_of_word_suffix": "</w>"}}`, ErrUnsupported},
		{"negative id", `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}`, ErrInvalid},
		{"huge id", `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 2000000000}, "merges": []}}`, ErrInvalid},
		{"id not a number", `{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}}`, ErrInvalid},
		{"added negative id", `{"added_tokens": [{"id": -3, "content": "x"}], "pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}`, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestLoad_TemplateBOS: Meta's Llama 3 files say "add BOS" only through a
// TemplateProcessing post-processor, and tokenizer_config.json lacks
// add_bos_token.
func TestLoad_TemplateBOS(t *testing.T) {
	post := `"post_processor": {"type": "Sequence", "processors": [{"type": "ByteLevel"},
	  {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<eot>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]}]},`
	data := []byte(miniJSON(`[]`, false, post))
	tests := []struct {
		name    string
		config  string // "" for no tokenizer_config.json
		wantBOS bool
	}{
		{"no config", "", true},
		{"config without add_bos_token", `{"eos_token": "<eot>"}`, true},
		{"config turns it off", `{"add_bos_token": false}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.config != "" {
				if err := os.WriteFile(filepath.Join(dir, ConfigFileName), []byte(tt.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tok, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Config().AddBOS; got != tt.wantBOS {
				t.Errorf("AddBOS = %v, want %v", got, tt.wantBOS)
			}
			if id, ok := tok.BOS(); tt.wantBOS && (!ok || id != 9) {
				t.Errorf("BOS = %d, %v; want 9", id, ok)
			}
		})
	}
}

func TestLoad_Errors(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name string
		json string
		want TokenizerConfig
	}{
		{"strings", `{"bos_token": "<s>", "eos_token": "</s>", "pad_token": null, "chat_template": "T", "add_bos_token": true}`,
			TokenizerConfig{BOSToken: "<s>", EOSToken: "</s>", ChatTemplate: "T", AddBOS: true}},
		{"objects", `{"bos_token": {"__type": "AddedToken", "content": "<s>"}, "unk_token": {"content": "<unk>"}}`,
			TokenizerConfig{BOSToken: "<s>", UnkToken: "<unk>"}},
		{"template list", `{"chat_template": [{"name": "tool_use", "template": "U"}, {"name": "default", "template": "D"}]}`,
			TokenizerConfig{ChatTemplate: "D", ChatTemplates: map[string]string{"tool_use": "U", "default": "D"}}},
		{"template list without default", `{"chat_template": [{"name": "a", "template": "A"}, {"name": "b", "template": "B"}]}`,
			TokenizerConfig{ChatTemplate: "A", ChatTemplates: map[string]string{"a": "A", "b": "B"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{`[`, `{"bos_token": 3}`, `{"chat_template": 3}`} {
		if _, err := ParseConfig([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseConfig(%s): err = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestTokenizer_Reference_Config checks the real files' configs and ids.
func TestTokenizer_Reference_Config(t *testing.T) {
	tests := []struct {
		name          string
		bos, eos, pad int32 // -1: none
		specials      map[string]int32
		templateHas   string
	}{
		{"llama3", 128000, 128001, -1, map[string]int32{"<|eot_id|>": 128009, "<|start_header_id|>": 128006}, "<|start_header_id|>"},
		{"qwen3", -1, 151645, 151643, map[string]int32{"<|im_start|>": 151644, "<think>": 151667}, "<|im_start|>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := refTokenizer(t, tt.name)
			for _, c := range []struct {
				what string
				get  func() (int32, bool)
				want int32
			}{{"BOS", tok.BOS, tt.bos}, {"EOS", tok.EOS, tt.eos}, {"Pad", tok.Pad, tt.pad}} {
				id, ok := c.get()
				if ok != (c.want >= 0) || (ok && id != c.want) {
					t.Errorf("%s = %d, %v; want %d", c.what, id, ok, c.want)
				}
			}
			for s, want := range tt.specials {
				if id, ok := tok.TokenID(s); !ok || id != want {
					t.Errorf("TokenID(%q) = %d, %v; want %d", s, id, ok, want)
				}
				if tok.Token(want) != s {
					t.Errorf("Token(%d) = %q, want %q", want, tok.Token(want), s)
				}
			}
			if !strings.Contains(tok.Config().ChatTemplate, tt.templateHas) {
				t.Errorf("chat template lacks %q", tt.templateHas)
			}
			if got, want := tok.VocabSize(), map[string]int{"llama3": 128256, "qwen3": 151669}[tt.name]; got != want {
				t.Errorf("VocabSize = %d, want %d", got, want)
			}
		})
	}
}

// TestTokenizer_Chat encodes the reference's rendered chat prompts: every
// special token of the template must come out as its single id, and the
// text between must round-trip.
func TestTokenizer_Chat(t *testing.T) {
	tok := refTokenizer(t, "llama3")
	ref := loadRef(t, "llama3")
	if len(ref.Chat) == 0 {
		t.Fatal("no chat cases")
	}
	header, _ := tok.TokenID("<|start_header_id|>")
	bos, _ := tok.BOS()
	for _, c := range ref.Chat {
		t.Run(c.Case, func(t *testing.T) {
			ids := tok.Encode(c.Text)
			if ids[0] != bos || ids[1] != header {
				t.Errorf("ids start %v, want [%d %d]", ids[:2], bos, header)
			}
			if got := tok.Decode(ids); got != c.Text {
				t.Errorf("Decode(Encode) = %q, want %q", got, c.Text)
			}
			if n := strings.Count(c.Text, "<|start_header_id|>"); count(ids, header) != n {
				t.Errorf("%d header ids, want %d", count(ids, header), n)
			}
			skipped := tok.DecodeWith(ids, DecodeOptions{SkipSpecial: true})
			if strings.Contains(skipped, "<|") || !strings.Contains(skipped, "email assistant") {
				t.Errorf("SkipSpecial gave %q", skipped)
			}
			ordinary := tok.EncodeOrdinary(c.Text)
			for _, id := range ordinary {
				if tok.IsSpecial(id) {
					t.Fatalf("EncodeOrdinary produced special id %d", id)
				}
			}
			if got := tok.Decode(ordinary); got != c.Text {
				t.Errorf("Decode(EncodeOrdinary) = %q", got)
			}
		})
	}
}

func count(ids []int32, id int32) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

func TestTokenizer_AddedTokenOptions(t *testing.T) {
	base := `{"added_tokens": [%s], "pre_tokenizer": {"type": "ByteLevel", "use_regex": false},
	  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "Ġ": 2}, "merges": []}}`
	tests := []struct {
		name  string
		added string
		text  string
		want  []int32
	}{
		{"plain", `{"id": 5, "content": "<x>"}`, "a <x> b", []int32{0, 2, 5, 2, 1}},
		{"lstrip", `{"id": 5, "content": "<x>", "lstrip": true}`, "a  <x> b", []int32{0, 5, 2, 1}},
		{"rstrip", `{"id": 5, "content": "<x>", "rstrip": true}`, "a <x>  b", []int32{0, 2, 5, 1}},
		{"single_word in word", `{"id": 5, "content": "ab", "single_word": true}`, "aab", []int32{0, 0, 1}},
		{"single_word alone", `{"id": 5, "content": "ab", "single_word": true}`, "a ab", []int32{0, 2, 5}},
		{"longest wins", `{"id": 5, "content": "<x"}, {"id": 6, "content": "<x>"}`, "<x>", []int32{6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse([]byte(fmt.Sprintf(base, tt.added)))
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Encode(tt.text); !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
}

func TestParse_PreTokenizers(t *testing.T) {
	const model = `"model": {"type": "BPE", "vocab": {"a": 0, "1": 1, "2": 2, "Ġ": 3, "Ġa": 4, "12": 5}, "merges": ["Ġ a", "1 2"]}`
	tests := []struct {
		name string
		pre  string
		text string
		want []int32
	}{
		{"add_prefix_space", `{"type": "ByteLevel", "add_prefix_space": true}`, "a", []int32{4}},
		{"add_prefix_space once", `{"type": "ByteLevel", "add_prefix_space": true}`, " a", []int32{4}},
		{"gpt2 regex keeps digits together", `{"type": "ByteLevel"}`, "a12", []int32{0, 5}},
		{"digits", `{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "ByteLevel"}]}`, "a12", []int32{0, 1, 2}},
		{"no regex", `{"type": "ByteLevel", "use_regex": false}`, "a a", []int32{0, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse([]byte(`{"pre_tokenizer": ` + tt.pre + `, ` + model + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Encode(tt.text); !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
}

// TestBPE_HeapMatchesScan checks that the two merge loops agree, on words
// long enough to reach the heap in Encode.
func TestBPE_HeapMatchesScan(t *testing.T) {
	tok := refTokenizer(t, "qwen3")
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "e", "r", "s", "t", "in", "on", "é", "中", "=", "-", " "}
	for i := 0; i < 300; i++ {
		var sb strings.Builder
		n := 2 + rng.IntN(120)
		for sb.Len() < n {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		word := sb.String()
		var syms []int32
		for j := 0; j < len(word); j++ {
			syms = append(syms, tok.model.byteID[word[j]])
		}
		scan := tok.model.mergeScan(syms, nil)
		heap := tok.model.mergeHeap(nil, word)
		if !slices.Equal(scan, heap) {
			t.Fatalf("word %q: scan %v, heap %v", word, scan, heap)
		}
	}
}

func TestTokenizer_LongInputs(t *testing.T) {
	tok := refTokenizer(t, "llama3")
	for _, text := range []string{
		strings.Repeat("a", 100000),
		strings.Repeat(" ", 50000) + "x",
		strings.Repeat("=-", 30000),
		strings.Repeat("\xff", 1000),
	} {
		ids := tok.Encode(text)
		if got := tok.Decode(ids); got != text {
			t.Errorf("round trip of %d bytes failed", len(text))
		}
	}
}

func TestTokenizer_Concurrent(t *testing.T) {
	tok := refTokenizer(t, "qwen3")
	want := tok.Encode(benchText[:4096])
	tok.model.mu.Lock()
	clear(tok.model.cache)
	tok.model.mu.Unlock()
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			got := tok.Encode(benchText[:4096])
			if !slices.Equal(got, want) {
				errs <- fmt.Errorf("concurrent Encode differs")
				return
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// roundTrip is the FuzzEncode property: Decode(Encode(s)) is s, after the
// tokenizer's normalizer for tokenizers that have one.
func roundTrip(t *testing.T, tok *Tokenizer, s string, nfc bool) {
	want := s
	if nfc {
		want = norm.NFC.String(s)
	}
	if got := tok.Decode(tok.Encode(s)); got != want {
		t.Fatalf("Decode(Encode(%q)) = %q", s, got)
	}
	if got := tok.Decode(tok.EncodeOrdinary(s)); got != want {
		t.Fatalf("Decode(EncodeOrdinary(%q)) = %q", s, got)
	}
}

func FuzzEncode(f *testing.F) {
	for _, s := range matcherCases {
		f.Add(s)
	}
	f.Add("<|im_start|>user\nhi<|im_end|><|begin_of_text|><think>")
	llama, qwen := refTokenizer(f, "llama3"), refTokenizer(f, "qwen3")
	tiny, err := NewByteLevel(400, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		roundTrip(t, llama, s, false)
		roundTrip(t, qwen, s, true)
		roundTrip(t, tiny, s, false)
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(miniJSON(`["a b", "b c"]`, false, "")))
	f.Add([]byte(miniJSON(`[["a", "b"], ["Ġ", "a"]]`, true, `"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]},`)))
	f.Add([]byte(`{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+(?!\\S)|\\p{L}+"}, "behavior": "MergedWithNext", "invert": true}, {"type": "Digits", "individual_digits": true}, {"type": "ByteLevel"}]}, "model": {"type": "BPE", "vocab": {"a": 0, "1": 1}, "merges": []}}`))
	f.Add([]byte(`{"added_tokens": [{"id": 3, "content": "<x>", "lstrip": true, "rstrip": true, "single_word": true}], "pre_tokenizer": {"type": "ByteLevel"}, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>"}}]}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrInvalid nor ErrUnsupported", err)
			}
			return
		}
		ids := tok.Encode("Hello <x> wörld 123 ab\n\n  c")
		for _, id := range ids {
			if id < 0 || int(id) >= tok.VocabSize() {
				t.Fatalf("id %d outside [0, %d)", id, tok.VocabSize())
			}
		}
		_ = tok.Decode(append(ids, -1, int32(tok.VocabSize())))
	})
}

// TestLoad_ErrorChains checks that Load's errors keep their cause: errors.Is
// finds ErrInvalid and a missing file, errors.As the JSON decoder's error.
func TestLoad_ErrorChains(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		is     []error
		syntax bool // a *json.SyntaxError is in the chain
	}{
		{name: "no tokenizer.json", files: map[string]string{}, is: []error{fs.ErrNotExist}},
		{name: "tokenizer.json is not JSON", files: map[string]string{FileName: "{not json"}, is: []error{ErrInvalid}, syntax: true},
		{name: "tokenizer_config.json is not JSON", files: map[string]string{
			FileName: miniJSON("", false, ""), ConfigFileName: `{"bos_token": ]`,
		}, is: []error{ErrInvalid}, syntax: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, want := range tt.is {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to wrap %v", err, want)
				}
			}
			var se *json.SyntaxError
			if errors.As(err, &se) != tt.syntax {
				t.Errorf("err = %v: wraps a *json.SyntaxError: %v, want %v", err, !tt.syntax, tt.syntax)
			}
		})
	}
}
