package tokenizer

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/tiny from WriteTiny")

// tinyDir holds WriteTiny(dir, 400) output. testdata/gen_reference.mjs loads
// it in transformers.js, so the written files are checked by an independent
// implementation, not only by this package's own loader.
const tinyDir = "testdata/tiny"

func TestWriteTiny_Golden(t *testing.T) {
	if *update {
		if err := WriteTiny(tinyDir, 400); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := WriteTiny(dir, 400); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{FileName, ConfigFileName} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(tinyDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from %s (run go test -run Golden -update if the change is intended)", name, tinyDir)
		}
	}
}

// extraReference is testdata/reference_extra.json, made by
// testdata/gen_reference.mjs with transformers.js (@lenml/tokenizers).
type extraReference struct {
	Cases []struct {
		Text string             `json:"text"`
		IDs  map[string][]int32 `json:"ids"`
	} `json:"cases"`
}

func TestTokenizer_Encode_ReferenceExtra(t *testing.T) {
	data, err := os.ReadFile("testdata/reference_extra.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref extraReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	tiny, err := Load(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	toks := map[string]*Tokenizer{
		"llama3": refTokenizer(t, "llama3"),
		"qwen3":  refTokenizer(t, "qwen3"),
		"tiny":   tiny,
	}
	if len(ref.Cases) < 50 {
		t.Fatalf("only %d cases", len(ref.Cases))
	}
	for i, c := range ref.Cases {
		for name, want := range c.IDs {
			tok := toks[name]
			if tok == nil {
				t.Fatalf("case %d: unknown tokenizer %q", i, name)
			}
			if got := tok.Encode(c.Text); !slices.Equal(got, want) {
				t.Errorf("%s case %d: Encode(%.80q)\n got %v\nwant %v", name, i, c.Text, head(got), head(want))
			}
		}
	}
}

func head(ids []int32) []int32 {
	if len(ids) > 40 {
		return ids[:40]
	}
	return ids
}
