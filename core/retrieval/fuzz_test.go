package retrieval

import (
	"context"
	"strings"
	"testing"
	"unicode"

	"github.com/toolbrain/toolbrain/sdk"
)

// FuzzTokenize: any text tokenizes without panicking into non-empty,
// lower-case terms made of letters and digits.
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"getWeatherForecast", "HTTPServer_v2", "Wetter für München", "", "\xff\xfe", "ÀÉÎ_ßẞ", "ꪪꪪꪪing"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, term := range Tokenize(s) {
			if term == "" {
				t.Fatalf("empty term from %q", s)
			}
			for _, r := range term {
				if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					t.Fatalf("term %q of %q has %q", term, s, r)
				}
			}
			if strings.ToLower(term) != term {
				t.Fatalf("term %q of %q is not lower case", term, s)
			}
		}
	})
}

// FuzzNew: any parameter schema indexes (or fails) without panicking, and
// the tool is then found by its own name.
func FuzzNew(f *testing.F) {
	for _, s := range []string{`{"type":"object","properties":{"a":{"description":"x","enum":["u",1]}}}`, `{"properties":{"a":{"properties":{"b":{"items":{"properties":{"c":{}}}}}}}}`, `[]`, `null`, `{"properties":7}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, params string) {
		spec := sdk.ToolSpec{Name: "lookup_zebra", Description: "d", Parameters: []byte(params)}
		ix, err := New(context.Background(), []sdk.ToolSpec{spec, {Name: "other"}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if hits := ix.BM25("zebra", 1); len(hits) != 1 || hits[0].Name != "lookup_zebra" {
			t.Fatalf("params %q: BM25(zebra) = %+v", params, hits)
		}
	})
}
