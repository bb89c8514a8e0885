package retrieval

import (
	"context"
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

// BenchmarkQuery times one BM25 query over a 10,000-tool library.
func BenchmarkQuery(b *testing.B) {
	lib := Generate(evalSeed, 10000, 1)
	ix, err := New(context.Background(), lib.Tools, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := ix.Search(ctx, lib.Queries[i%len(lib.Queries)].Text, 10); err != nil {
			b.Fatal(err)
		}
	}
}
