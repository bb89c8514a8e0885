package tokenizer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteTiny(t *testing.T) {
	tests := []struct {
		name      string
		vocabSize int
	}{
		{"minimum", 260},
		{"small", 512},
		{"large", 4096}, // more than the corpus supports: learning stops early
	}
	texts := []string{
		"Hello, world! The assistant searches the mailbox.",
		"<|im_start|>user\nWhen is the meeting?<|im_end|>\n<|im_start|>assistant\n",
		"emoji 🤖 and accents café, 中文, \x00\xff control bytes",
		"def f(x):\n\treturn x**2  # square\n",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "model")
			if err := WriteTiny(dir, tt.vocabSize); err != nil {
				t.Fatal(err)
			}
			tok, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if n := tok.VocabSize(); n > tt.vocabSize || n < 260 {
				t.Errorf("VocabSize = %d, want in [260, %d]", n, tt.vocabSize)
			}
			if tt.vocabSize <= 512 && tok.VocabSize() != tt.vocabSize {
				t.Errorf("VocabSize = %d, want %d (the corpus has enough pairs)", tok.VocabSize(), tt.vocabSize)
			}
			cfg := tok.Config()
			if !strings.Contains(cfg.ChatTemplate, "<|im_start|>") || cfg.EOSToken != "<|im_end|>" {
				t.Errorf("config = %+v", cfg)
			}
			for _, get := range []func() (int32, bool){tok.BOS, tok.EOS, tok.Pad} {
				if id, ok := get(); !ok || !tok.IsSpecial(id) || int(id) >= tok.VocabSize() {
					t.Errorf("special id %d, %v", id, ok)
				}
			}
			imStart, _ := tok.TokenID("<|im_start|>")
			for _, text := range texts {
				ids := tok.Encode(text)
				if got := tok.Decode(ids); got != text {
					t.Errorf("Decode(Encode(%q)) = %q", text, got)
				}
				if strings.HasPrefix(text, "<|im_start|>") && ids[0] != imStart {
					t.Errorf("Encode(%q)[0] = %d, want <|im_start|> %d", text, ids[0], imStart)
				}
				for _, id := range ids {
					if int(id) >= tt.vocabSize {
						t.Errorf("id %d >= vocab %d", id, tt.vocabSize)
					}
				}
			}
			// Merges must compress ordinary text relative to raw bytes.
			text := "The assistant reads the user's request and searches the mailbox."
			if n := len(tok.EncodeOrdinary(text)); tt.vocabSize >= 512 && n*2 > len(text) {
				t.Errorf("%d tokens for %d bytes: merges are not used", n, len(text))
			}
			// Save of a loaded tokenizer writes the same bytes back.
			dir2 := filepath.Join(t.TempDir(), "copy")
			if err := tok.Save(dir2); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{FileName, ConfigFileName} {
				a, _ := os.ReadFile(filepath.Join(dir, name))
				b, _ := os.ReadFile(filepath.Join(dir2, name))
				if len(a) == 0 || string(a) != string(b) {
					t.Errorf("%s differs after Save", name)
				}
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 2 {
				t.Errorf("dir holds %d entries, want 2 (no temporary files left)", len(entries))
			}
		})
	}
}

// TestTrainBPE checks learning against merges worked out by hand. Words:
// "aaab", " aab", " ab" x2. Pair counts: ab 4, aa 3, " a" 3, so (a,b) first.
// Then (a,ab) 2 and (" ",ab) 2 tie and the smaller ids (32 < 97) win; then
// (a,ab) 2; then every pair occurs once and learning stops.
func TestTrainBPE(t *testing.T) {
	vocab, merges := trainBPE("aaab aab ab ab", 256+10)
	want := [][2]string{{"a", "b"}, {" ", "ab"}, {"a", "ab"}}
	var got [][2]string
	for _, m := range merges {
		got = append(got, [2]string{vocab[m[0]], vocab[m[1]]})
	}
	if !slices.Equal(got, want) {
		t.Errorf("merges = %q, want %q", got, want)
	}
	if len(vocab) != 256+3 {
		t.Errorf("vocab has %d tokens, want 259", len(vocab))
	}
}

func TestNewByteLevel_Errors(t *testing.T) {
	tests := []struct {
		name string
		size int
		opts *ByteLevelOptions
	}{
		{"too small", 259, nil},
		{"no specials", 300, &ByteLevelOptions{SpecialTokens: []string{}}},
		{"duplicate special", 300, &ByteLevelOptions{SpecialTokens: []string{"<s>", "<s>"}}},
		{"special is a byte", 300, &ByteLevelOptions{SpecialTokens: []string{"a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewByteLevel(tt.size, tt.opts); !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}
