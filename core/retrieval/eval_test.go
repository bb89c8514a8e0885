package retrieval

import (
	"context"
	"hash/fnv"
	"testing"

	"github.com/toolbrain/toolbrain/sdk"
)

// evalSeed is the seed of the measured library (docs/PERFORMANCE.md).
const evalSeed = 17

func TestEvaluate_BM25(t *testing.T) {
	lib := Generate(evalSeed, 0, 2)
	m := evaluate(t, lib.Tools, lib.Queries, Options{})
	t.Logf("bm25, %d tools: %v", len(lib.Tools), m)
	if m.Queries != len(lib.Queries) || !(m.Recall1 <= m.Recall5 && m.Recall5 <= m.Recall10 && m.Recall10 <= 1) || m.MRR < m.Recall1 || m.MRR > m.Recall10+0.1 {
		t.Errorf("inconsistent metrics %+v", m)
	}
	// The queries paraphrase: BM25 must be useful but not perfect.
	if m.Recall10 < 0.5 || m.Recall1 > 0.95 {
		t.Errorf("BM25 %v: the generated queries are too hard or too easy", m)
	}
}

func TestEvaluate_Exact(t *testing.T) {
	// A query that is the tool's own document finds it first.
	lib := Generate(evalSeed, 0, 0)
	var qs []Query
	for _, s := range lib.Tools[:50] {
		qs = append(qs, Query{Text: Document(s), Tool: s.Name})
	}
	if m := evaluate(t, lib.Tools, qs, Options{}); m.Recall1 != 1 || m.MRR != 1 {
		t.Errorf("own documents as queries: %v, want recall@1 = MRR = 1", m)
	}
}

// evaluate indexes tools with o and measures queries.
func evaluate(t *testing.T, tools []sdk.ToolSpec, queries []Query, o Options) Metrics {
	t.Helper()
	ix, err := New(context.Background(), tools, o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Evaluate(context.Background(), ix, queries)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// BenchmarkQuery times one query over a 10,000-tool library: BM25, and
// the fused ranking (BM25, cosine over 10,000 tool vectors, reciprocal-rank
// fusion) with a cheap embedder, so that what is timed is the retrieval,
// not a model's forward pass (that is per query whatever the library size;
// see `toolbrain retrieval eval --embedder`).
func BenchmarkQuery(b *testing.B) {
	lib := Generate(evalSeed, 10000, 1)
	ctx := context.Background()
	for _, o := range []Options{{Method: MethodBM25}, {Method: MethodFused, Embedder: hashEmbedder(64)}} {
		b.Run(o.Method, func(b *testing.B) {
			ix, err := New(ctx, lib.Tools, o)
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; b.Loop(); i++ {
				if _, err := ix.Search(ctx, lib.Queries[i%len(lib.Queries)].Text, 10); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// hashEmbedder embeds a text as its terms hashed into n buckets.
type hashEmbedder int

func (h hashEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, s := range texts {
		v := make([]float32, h)
		for _, t := range Tokenize(s) {
			f := fnv.New32a()
			f.Write([]byte(t))
			v[int(f.Sum32()%uint32(h))]++
		}
		out[i] = v
	}
	return out, nil
}
