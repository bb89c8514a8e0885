package train

import (
	"encoding/json"
	"errors"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// byteEncode is a stand-in tokenizer: one token per byte.
func byteEncode(s string) []int32 {
	out := make([]int32, len(s))
	for i := range s {
		out[i] = int32(s[i])
	}
	return out
}

func TestReadSFT(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.jsonl")
	data := `[{"role": "other", "text": "Q?"}, {"role": "assistant", "text": "ok"}]

[{"role":"assistant","text":"A"},{"role":"other","text":"b"}]
`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ex, err := ReadSFT(path, byteEncode, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 2 || ex[0].Line != 1 || ex[1].Line != 3 {
		t.Fatalf("examples %+v", ex)
	}
	if got := ex[0].IDs; string(rune(got[1]))+string(rune(got[2])) != "Q?" || got[0] != 1 {
		t.Errorf("ids %v", got)
	}
	if want := []float32{0, 0, 0, 1, 1}; !equalF(ex[0].Mask, want) {
		t.Errorf("mask %v, want %v", ex[0].Mask, want)
	}
	if want := []float32{0, 1, 0}; !equalF(ex[1].Mask, want) {
		t.Errorf("mask %v, want %v", ex[1].Mask, want)
	}
}

func equalF(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadSFT_Errors(t *testing.T) {
	for _, c := range []struct {
		name, data, want string
		maxLen           int
	}{
		{"empty", "\n\n", "no examples", 0},
		{"not json", `[{"role":"assistant","text":"a"}]` + "\nhello\n", "d.jsonl:2: not a JSON array", 0},
		{"role", `[{"role":"user","text":"a"}]`, `d.jsonl:1: segment 0: role "user"`, 0},
		{"no assistant", `[{"role":"other","text":"a"}]`, "no assistant text", 0},
		{"unknown field", `[{"role":"assistant","text":"a","x":1}]`, "unknown field", 0},
		{"trailing", `[{"role":"assistant","text":"a"}] []`, "extra data", 0},
		{"too long", `[{"role":"assistant","text":"abcdef"}]`, "d.jsonl:1: 7 tokens, longer than the model's context (4)", 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "d.jsonl")
			if err := os.WriteFile(path, []byte(c.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadSFT(path, byteEncode, 1, c.maxLen)
			if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want ErrData with %q", err, c.want)
			}
		})
	}
	if _, err := ReadSFT(filepath.Join(t.TempDir(), "missing.jsonl"), byteEncode, 1, 0); err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseSegments(f *testing.F) {
	f.Add([]byte(`[{"role":"other","text":"Q"},{"role":"assistant","text":"A"}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"role":"assistant"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		segs, err := ParseSegments(line)
		if err != nil {
			return
		}
		ids, mask := Tokenize(segs, byteEncode, -1)
		if len(ids) != len(mask) {
			t.Fatalf("%d ids, %d mask values", len(ids), len(mask))
		}
	})
}

func TestMessagesParser_Llama3(t *testing.T) {
	tmpl, err := chattemplate.FromTokenizerConfig("../../testdata/tokenizers/llama3/tokenizer_config.json")
	if err != nil {
		t.Fatal(err)
	}
	parse := MessagesParser(tmpl, chattemplate.Options{BOSToken: "<|begin_of_text|>", EOSToken: "<|eot_id|>"})
	line := `{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "6"}]}`
	segs, err := parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	var trained []string
	for _, s := range segs {
		all.WriteString(s.Text)
		if s.Role == RoleAssistant {
			trained = append(trained, s.Text)
		}
	}
	if want := []string{"4<|eot_id|>", "6<|eot_id|>"}; strings.Join(trained, "|") != strings.Join(want, "|") {
		t.Errorf("assistant segments %q, want %q", trained, want)
	}
	var ml MessagesLine
	if err := json.Unmarshal([]byte(line), &ml); err != nil {
		t.Fatal(err)
	}
	full, err := tmpl.Render(ml.Messages, chattemplate.Options{BOSToken: "<|begin_of_text|>"})
	if err != nil {
		t.Fatal(err)
	}
	// Everything up to the last assistant turn, in order: the template's
	// trailing generation prompt is not trained on.
	if !strings.HasPrefix(full, all.String()) || !strings.HasSuffix(all.String(), "6<|eot_id|>") {
		t.Errorf("segments do not add up to the rendered conversation:\n%q\n%q", all.String(), full)
	}
	for _, bad := range []string{`{"messages": []}`, `{"messages": [{"role": "user", "content": "hi"}]}`, `{"msgs": []}`} {
		if _, err := parse([]byte(bad)); err == nil {
			t.Errorf("%s: parsed, want an error", bad)
		}
	}
}

func TestMessagesParser_Qwen3(t *testing.T) {
	tmpl, err := chattemplate.FromTokenizerConfig("../../testdata/tokenizers/qwen3/tokenizer_config.json")
	if err != nil {
		t.Fatal(err)
	}
	segs, err := MessagesParser(tmpl, chattemplate.Options{EOSToken: "<|im_end|>"})([]byte(
		`{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "6"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var trained []string
	for _, s := range segs {
		if s.Role == RoleAssistant {
			trained = append(trained, s.Text)
		}
	}
	// Qwen3 writes an empty think block into the final assistant turn only.
	if len(trained) != 2 || !strings.HasSuffix(trained[0], "4<|im_end|>") || !strings.HasSuffix(trained[1], "6<|im_end|>") {
		t.Errorf("assistant segments %q", trained)
	}
}

// TestReadSFT_LongLine: a line past MaxLineBytes is refused by its length,
// naming the file and line, with memory bounded by the limit.
func TestReadSFT_LongLine(t *testing.T) {
	big := strings.Repeat("x", MaxLineBytes+10)
	src := `[{"role": "assistant", "text": "ok"}]` + "\n" + `[{"role": "assistant", "text": "` + big + `"}]` + "\n"
	_, err := readSFT("data.jsonl", strings.NewReader(src), ParseSegments, func(s string) []int32 { return make([]int32, len(s)) }, -1, 0)
	if err == nil || !strings.Contains(err.Error(), "data.jsonl:2") || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("got %v, want an error naming data.jsonl:2 and the length", err)
	}
}
