package tokenizer

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"
)

func TestScanVocab(t *testing.T) {
	tests := []struct {
		name string
		json string
		want map[string]int32
		err  bool
	}{
		{"empty", `{}`, map[string]int32{}, false},
		{"null", `null`, map[string]int32{}, false},
		{"plain", ` { "a" : 1 , "Ġb":2}`, map[string]int32{"a": 1, "Ġb": 2}, false},
		{"escapes", `{"\"q\"": 0, "\u0120x": 1, "\ud83e\udd16": 2, "\\": 3}`, map[string]int32{`"q"`: 0, "Ġx": 1, "🤖": 2, `\`: 3}, false},
		{"duplicate keeps last", `{"a": 1, "a": 2}`, map[string]int32{"a": 2}, false},
		{"negative", `{"a": -1}`, map[string]int32{"a": -1}, false},
		{"float", `{"a": 1.5}`, nil, true},
		{"exponent", `{"a": 1e3}`, nil, true},
		{"too big", `{"a": 2147483648}`, nil, true},
		{"string id", `{"a": "1"}`, nil, true},
		{"truncated", `{"a": 1`, nil, true},
		{"not object", `[1]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scanVocab([]byte(tt.json))
			if tt.err {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestScanMerges(t *testing.T) {
	tests := []struct {
		name string
		json string
		want [][2]string
		err  bool
	}{
		{"strings", `["a b", "Ġ t"]`, [][2]string{{"a", "b"}, {"Ġ", "t"}}, false},
		{"pairs", `[["a", "b"], ["a b", "c"]]`, [][2]string{{"a", "b"}, {"a b", "c"}}, false},
		{"empty", `[]`, [][2]string{}, false},
		{"null", `null`, nil, false},
		{"three parts", `["a b c"]`, nil, true},
		{"no space", `["ab"]`, nil, true},
		{"short pair", `[["a"]]`, nil, true},
		{"long pair", `[["a", "b", "c"]]`, nil, true},
		{"object", `{"a": "b"}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scanMerges([]byte(tt.json))
			if tt.err {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// FuzzScanVocab checks the scanner against encoding/json: whatever it
// accepts, encoding/json accepts with the same result.
func FuzzScanVocab(f *testing.F) {
	f.Add([]byte(`{"a": 1, "\u0120b": 2, "\ud83e\udd16": 3}`))
	f.Add([]byte(`{"a\"": -5, "\xff": 7}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := scanVocab(data)
		if err != nil || !json.Valid(data) {
			return
		}
		var want map[string]int32
		if jerr := json.Unmarshal(data, &want); jerr != nil {
			t.Fatalf("scanVocab accepted %q, encoding/json: %v", data, jerr)
		}
		if len(want) != len(got) || (len(want) > 0 && !maps.Equal(got, want)) {
			t.Fatalf("scanVocab(%q) = %v, encoding/json %v", data, got, want)
		}
	})
}
