package retrieval

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/model"
)

// conceptEmbedder maps a text to counts of concepts, each a set of
// synonyms: a dense side that knows what BM25 cannot, that "forecast" and
// "outlook" are one thing.
type conceptEmbedder [][]string

func (c conceptEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, s := range texts {
		v := make([]float32, len(c)+1)
		v[len(c)] = 0.01 // no text is the zero vector
		low := strings.ToLower(s)
		for j, syns := range c {
			for _, w := range syns {
				v[j] += float32(strings.Count(low, w))
			}
		}
		out[i] = v
	}
	return out, nil
}

func TestIndex_Search_Fused(t *testing.T) {
	emb := conceptEmbedder{{"weather", "outlook", "rain"}, {"email", "mail", "message"}, {"currenc", "money"}, {"file", "document", "spreadsheet"}}
	ctx := context.Background()
	bm, err := New(ctx, smallLib, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fused, err := New(ctx, smallLib, Options{Method: MethodFused, Embedder: emb})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query, want string
	}{
		{name: "only the dense side knows", query: "will there be rain", want: "get_weather"},
		{name: "both sides agree", query: "send mail to Bob", want: "send_email"},
		{name: "lexical match kept", query: "convert 10 usd", want: "convertCurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits, err := fused.Search(ctx, tt.query, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) == 0 || hits[0].Name != tt.want {
				t.Errorf("fused %q = %+v, want %s first", tt.query, hits, tt.want)
			}
		})
	}
	if hits, _ := bm.Search(ctx, "will there be rain", 2); len(hits) != 0 {
		t.Errorf("BM25 found %+v for a query that shares no term with any tool", hits)
	}
}

// tinyEmbedder is a random tiny checkpoint made in the test, as a
// ModelEmbedder.
func tinyEmbedder(tb testing.TB) ModelEmbedder {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "embed")
	cfg := model.Config{
		Architecture: model.Llama, HiddenSize: 64, IntermediateSize: 176, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, RopeTheta: 10000, RMSNormEps: 1e-6,
		VocabSize: 512, MaxPositionEmbeddings: 256, TorchDType: "float32", HiddenAct: "silu",
	}
	if err := checkpoint.Init(dir, cfg, 1); err != nil {
		tb.Fatal(err)
	}
	b, err := backend.New("go")
	if err != nil {
		tb.Fatal(err)
	}
	e, closeFn, err := OpenEmbedder(dir, b, hub.ResolveOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(closeFn)
	return e
}

func TestModelEmbedder(t *testing.T) {
	e := tinyEmbedder(t)
	e.Batch = 2
	ctx := context.Background()
	texts := []string{"get the weather", "", "send an email to Bob about the weather in Paris", "get the weather"}
	vecs, err := e.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(vecs), len(texts))
	}
	for i, v := range vecs {
		if len(v) != 64 {
			t.Fatalf("text %d: %d values, want 64", i, len(v))
		}
	}
	if dot(vecs[0], vecs[3]) != dot(vecs[0], vecs[0]) {
		t.Error("one text embedded twice (in different batches) gives different vectors")
	}
	if dot(vecs[1], vecs[1]) != 0 {
		t.Error("empty text: want the zero vector")
	}
	if d := dot(vecs[0], vecs[2]); d == dot(vecs[0], vecs[0]) {
		t.Error("different texts give the same vector")
	}
	// Cut to MaxTokens: two texts that share their first tokens meet.
	e.MaxTokens = 4
	cut, err := e.Embed(ctx, []string{"abcdXXXX", "abcdYYYY"})
	if err != nil {
		t.Fatal(err)
	}
	if dot(cut[0], cut[0]) != dot(cut[0], cut[1]) {
		t.Error("MaxTokens 4 did not cut the texts")
	}
	// The fused index runs on it end to end.
	ix, err := New(ctx, smallLib, Options{Method: MethodFused, Embedder: e})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := ix.Search(ctx, "what is the weather in Paris", 3)
	if err != nil || len(hits) != 3 {
		t.Fatalf("fused search: %+v, %v", hits, err)
	}
}

func TestIndex_WithMethod(t *testing.T) {
	ctx := context.Background()
	emb := conceptEmbedder{{"weather", "rain"}, {"email", "mail"}}
	fused, err := New(ctx, smallLib, Options{Method: MethodFused, Embedder: emb})
	if err != nil {
		t.Fatal(err)
	}
	dense, err := fused.WithMethod(MethodDense)
	if err != nil {
		t.Fatal(err)
	}
	if hits, err := dense.Search(ctx, "rain rain", 4); err != nil || len(hits) != 4 || hits[0].Name != "get_weather" {
		t.Errorf("dense search: %+v, %v; want every tool, get_weather first", hits, err)
	}
	if bm, err := dense.WithMethod(MethodBM25); err != nil || len(mustSearch(t, bm, "rain rain")) != 0 {
		t.Errorf("back to BM25: %v", err)
	}
	if fused.Method() != MethodFused {
		t.Error("WithMethod changed the original index")
	}
	bm, err := New(ctx, smallLib, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, method string
		ix           *Index
	}{{"dense without vectors", MethodDense, bm}, {"fused without vectors", MethodFused, bm}, {"unknown", "cosine", fused}} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.ix.WithMethod(tt.method); err == nil {
				t.Errorf("WithMethod(%q): no error", tt.method)
			}
		})
	}
}

func mustSearch(t *testing.T, ix *Index, q string) []Hit {
	t.Helper()
	hits, err := ix.Search(context.Background(), q, 4)
	if err != nil {
		t.Fatal(err)
	}
	return hits
}
