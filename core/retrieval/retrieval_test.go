package retrieval

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/toolbrain/toolbrain/sdk"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{name: "snake case", in: "get_weather_forecast", want: []string{"get", "weather", "forecast"}},
		{name: "camel case", in: "getWeatherForecast", want: []string{"get", "weather", "forecast"}},
		{name: "acronym run", in: "HTTPServerURL", want: []string{"http", "server", "url"}},
		{name: "digits split", in: "utf8decode v2", want: []string{"utf", "8", "decod", "v", "2"}},
		{name: "stop words and plurals", in: "What are the queries for my invoices?", want: []string{"query", "invoic"}},
		{name: "inflections meet", in: "created creating creates create", want: []string{"creat", "creat", "creat", "creat"}},
		{name: "unicode letters", in: "Wetter_für München", want: []string{"wetter", "für", "münchen"}},
		{name: "empty", in: " _-- ", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Tokenize(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("Tokenize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestStem(t *testing.T) {
	tests := []struct{ in, want string }{
		{"queries", "query"}, {"boxes", "box"}, {"addresses", "address"}, {"status", "status"},
		{"stopped", "stop"}, {"calling", "call"}, {"forecasting", "forecast"}, {"time", "time"},
		{"times", "time"}, {"messages", "messag"}, {"message", "messag"}, {"bus", "bus"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Stem(tt.in); got != tt.want {
				t.Errorf("Stem(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func spec(name, desc, params string) sdk.ToolSpec {
	return sdk.ToolSpec{Name: name, Description: desc, Parameters: json.RawMessage(params)}
}

var smallLib = []sdk.ToolSpec{
	spec("get_weather", "Current conditions for a city.", `{"type":"object","properties":{"city":{"type":"string","description":"City name"}}}`),
	spec("send_email", "Send a message to a recipient.", `{"type":"object","properties":{"to":{"type":"string","description":"Recipient address"},"subject":{"type":"string"}}}`),
	spec("convertCurrency", "Convert an amount between currencies.", `{"type":"object","properties":{"amount":{"type":"number"},"unit":{"type":"string","enum":["usd","eur"]}}}`),
	spec("search_files", "Find documents on the drive.", `{"type":"object","properties":{"filter":{"type":"object","properties":{"owner":{"type":"string","description":"Who owns the spreadsheet"}}}}}`),
}

func TestIndex_BM25(t *testing.T) {
	ix, err := New(context.Background(), smallLib, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query, want string
	}{
		{name: "name term", query: "what is the weather like", want: "get_weather"},
		{name: "description term", query: "send a message to Bob", want: "send_email"},
		{name: "camel case name", query: "currency conversion please", want: "convertCurrency"},
		{name: "enum value", query: "how many eur is 10 usd", want: "convertCurrency"},
		{name: "nested parameter doc", query: "the spreadsheet Alice owns", want: "search_files"},
		{name: "parameter doc", query: "which city", want: "get_weather"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := ix.BM25(tt.query, 4)
			if len(hits) == 0 || hits[0].Name != tt.want {
				t.Fatalf("BM25(%q) = %+v, want %s first", tt.query, hits, tt.want)
			}
			for i := 1; i < len(hits); i++ {
				if hits[i].Score > hits[i-1].Score {
					t.Errorf("hits not best first: %+v", hits)
				}
			}
		})
	}
	if hits := ix.BM25("zzz qqq", 4); len(hits) != 0 {
		t.Errorf("no shared term: got %+v", hits)
	}
}

func TestNew_Errors(t *testing.T) {
	tests := []struct {
		name  string
		specs []sdk.ToolSpec
		o     Options
		want  error
	}{
		{name: "empty library", specs: nil, want: ErrLibrary},
		{name: "unnamed tool", specs: []sdk.ToolSpec{{Description: "x"}}, want: ErrLibrary},
		{name: "duplicate", specs: []sdk.ToolSpec{{Name: "a"}, {Name: "a"}}, want: ErrLibrary},
		{name: "fused without embedder", specs: smallLib, o: Options{Method: MethodFused}, want: ErrNoEmbedder},
		{name: "dense without embedder", specs: smallLib, o: Options{Method: MethodDense}, want: ErrNoEmbedder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(context.Background(), tt.specs, tt.o); !errors.Is(err, tt.want) {
				t.Errorf("New: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := New(context.Background(), smallLib, Options{Method: "cosine"}); err == nil {
		t.Error("unknown method: no error")
	}
}

func TestFuse(t *testing.T) {
	a := []Hit{{Tool: 0, Name: "a"}, {Tool: 1, Name: "b"}, {Tool: 2, Name: "c"}}
	b := []Hit{{Tool: 2, Name: "c"}, {Tool: 1, Name: "b"}, {Tool: 3, Name: "d"}}
	got := Fuse(60, 10, a, b)
	names := make([]string, len(got))
	for i, h := range got {
		names[i] = h.Name
	}
	// c: 1/61+1/63 = .032266 beats b: 1/62+1/62 = .032258; a: 1/61; d: 1/63.
	if want := []string{"c", "b", "a", "d"}; !slices.Equal(names, want) {
		t.Errorf("Fuse = %v, want %v", names, want)
	}
	if got := Fuse(60, 2, a, b); len(got) != 2 {
		t.Errorf("Fuse k=2 gave %d hits", len(got))
	}
}

func TestReorderByAnswer(t *testing.T) {
	hits := []Hit{{Tool: 10, Name: "a"}, {Tool: 11, Name: "b"}, {Tool: 12, Name: "c"}}
	tests := []struct {
		name, answer string
		want         []string
	}{
		{name: "full order", answer: "3, 1, 2", want: []string{"c", "a", "b"}},
		{name: "partial", answer: "2", want: []string{"b", "a", "c"}},
		{name: "junk and repeats", answer: "Tools 9, 3, 3 and 0", want: []string{"c", "a", "b"}},
		{name: "no numbers", answer: "none of them", want: []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ReorderByAnswer(hits, tt.answer)
			names := make([]string, len(got))
			for i, h := range got {
				names[i] = h.Name
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("ReorderByAnswer(%q) = %v, want %v", tt.answer, names, tt.want)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	a, b := Generate(7, 0, 2), Generate(7, 0, 2)
	if len(a.Tools) != BaseTools || BaseTools < 500 {
		t.Fatalf("%d tools, want BaseTools = %d >= 500", len(a.Tools), BaseTools)
	}
	if len(a.Queries) != 2*BaseTools {
		t.Errorf("%d queries, want %d", len(a.Queries), 2*BaseTools)
	}
	for i := range a.Queries {
		if a.Queries[i] != b.Queries[i] {
			t.Fatalf("query %d differs between runs with one seed: %q vs %q", i, a.Queries[i].Text, b.Queries[i].Text)
		}
	}
	if c := Generate(8, 0, 2); c.Queries[0] == a.Queries[0] && c.Queries[1] == a.Queries[1] && c.Queries[2] == a.Queries[2] {
		t.Error("another seed gives the same queries")
	}
	if all := Generate(7, MaxTools+5, 0); len(all.Tools) != MaxTools || MaxTools < 10000 {
		t.Errorf("%d tools for n > MaxTools = %d, want MaxTools >= 10000", len(all.Tools), MaxTools)
	}
	big := Generate(7, 10000, 1)
	if len(big.Tools) != 10000 {
		t.Fatalf("%d tools, want 10000", len(big.Tools))
	}
	seen := map[string]bool{}
	for _, s := range big.Tools {
		if seen[s.Name] {
			t.Fatalf("tool %q twice", s.Name)
		}
		seen[s.Name] = true
		if len(s.ParameterNames()) == 0 {
			t.Fatalf("tool %q has no parameters", s.Name)
		}
	}
	for _, q := range big.Queries {
		if !seen[q.Tool] {
			t.Fatalf("query %q labels unknown tool %q", q.Text, q.Tool)
		}
	}
}

func TestTopK(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range []struct {
		name string
		n, k int
	}{{"k below n", 500, 10}, {"k above n", 7, 10}, {"k one", 50, 1}, {"k zero", 5, 0}} {
		t.Run(tt.name, func(t *testing.T) {
			hits := make([]Hit, tt.n)
			for i := range hits {
				hits[i] = Hit{Tool: i, Score: float64(rng.IntN(20))} // many ties
			}
			want := slices.Clone(hits)
			slices.SortStableFunc(want, func(a, b Hit) int { return cmp.Compare(b.Score, a.Score) })
			want = want[:min(tt.k, len(want))]
			if got := topK(hits, tt.k); !slices.Equal(got, want) {
				t.Errorf("topK = %v, want %v", got, want)
			}
		})
	}
}
