package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// refDir holds real tokenizers and ids produced by an independent
// implementation (transformers.js); see its README.md.
const refDir = "../../testdata/tokenizers"

type refFile struct {
	Encode []struct {
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	} `json:"encode"`
	Chat []struct {
		Case string `json:"case"`
		Text string `json:"text"`
	} `json:"chat"`
}

var (
	refOnce  = map[string]*sync.Once{"llama3": {}, "qwen3": {}}
	refToks  = map[string]*Tokenizer{}
	refErrs  = map[string]error{}
	refMu    sync.Mutex
	refNames = []string{"llama3", "qwen3"}
)

// refTokenizer loads a reference tokenizer once per test binary: they are
// 9-11 MB of JSON each.
func refTokenizer(tb testing.TB, name string) *Tokenizer {
	tb.Helper()
	refMu.Lock()
	once := refOnce[name]
	refMu.Unlock()
	once.Do(func() {
		tok, err := Load(filepath.Join(refDir, name))
		refMu.Lock()
		refToks[name], refErrs[name] = tok, err
		refMu.Unlock()
	})
	refMu.Lock()
	defer refMu.Unlock()
	if refErrs[name] != nil {
		tb.Fatalf("load %s: %v", name, refErrs[name])
	}
	return refToks[name]
}

func loadRef(t *testing.T, name string) refFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(refDir, name, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r refFile
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTokenizer_Encode_Reference(t *testing.T) {
	for _, name := range refNames {
		tok := refTokenizer(t, name)
		ref := loadRef(t, name)
		if len(ref.Encode) == 0 {
			t.Fatalf("%s: no encode cases", name)
		}
		for _, c := range ref.Encode {
			t.Run(name+"/"+c.Text, func(t *testing.T) {
				got := tok.Encode(c.Text)
				if !slices.Equal(got, c.IDs) {
					t.Errorf("Encode(%q)\n got %v\nwant %v", c.Text, got, c.IDs)
				}
				if back := tok.Decode(c.IDs); back != c.Text {
					t.Errorf("Decode(reference ids) = %q, want %q", back, c.Text)
				}
			})
		}
	}
}
