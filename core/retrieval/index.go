package retrieval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/toolbrain/toolbrain/sdk"
)

// Methods of [Options.Method].
const (
	// MethodBM25 ranks by BM25 alone.
	MethodBM25 = "bm25"
	// MethodFused fuses the BM25 and dense rankings by reciprocal rank.
	MethodFused = "fused"
	// MethodDense ranks by the embeddings alone.
	MethodDense = "dense"
)

// Defaults of the zero [Options] fields.
const (
	DefaultK1    = 1.2
	DefaultB     = 0.75
	DefaultRRFK  = 60
	DefaultDepth = 100
	// nameWeight is how many times a tool's name counts in its document:
	// the name is the densest description a tool has.
	nameWeight = 2
)

// Errors of this package, wrapped with the details.
var (
	// ErrNoEmbedder means a fused search was asked of an index built
	// without an Embedder.
	ErrNoEmbedder = errors.New("retrieval: fused retrieval needs an embedder")
	// ErrLibrary means the tool library is unusable: empty, or a tool
	// without a name or with a name given twice.
	ErrLibrary = errors.New("retrieval: bad tool library")
)

// Options configure an Index. The zero value is BM25 with its usual
// parameters.
type Options struct {
	// Method is MethodBM25 ("" too), MethodFused or MethodDense.
	Method string
	// K1 and B are the BM25 parameters (0: DefaultK1, DefaultB).
	K1, B float64
	// Embedder embeds tools and queries for the dense side; required by
	// MethodFused.
	Embedder Embedder
	// RRFK is the constant of reciprocal-rank fusion, 1/(RRFK + rank)
	// (0: DefaultRRFK).
	RRFK int
	// Depth is how many candidates of each ranking enter the fusion
	// (0: DefaultDepth).
	Depth int
	// Reranker, when set, reorders the top candidates of the first stage.
	Reranker Reranker
}

// Hit is one retrieved tool.
type Hit struct {
	// Tool is the tool's position in the library given to New.
	Tool int
	// Name is the tool's name.
	Name string
	// Score orders hits: BM25 score, cosine similarity or fused score,
	// by the stage that produced the list.
	Score float64
}

// Index is a tool library ready for queries. It is safe for concurrent use.
type Index struct {
	specs []sdk.ToolSpec
	opts  Options

	terms    map[string]int32 // term → id
	postings [][]posting      // by term id
	idf      []float64        // by term id
	docLen   []float64
	avgLen   float64

	vecs [][]float32 // unit-length tool embeddings, nil without an embedder
}

type posting struct {
	doc int32
	tf  float32
}

// New indexes specs. With an Embedder every tool's document is embedded
// once here; ctx bounds that work.
func New(ctx context.Context, specs []sdk.ToolSpec, o Options) (*Index, error) {
	switch o.Method {
	case "":
		o.Method = MethodBM25
	case MethodBM25, MethodFused, MethodDense:
	default:
		return nil, fmt.Errorf("retrieval: method %q, want %q, %q or %q", o.Method, MethodBM25, MethodFused, MethodDense)
	}
	if o.Method != MethodBM25 && o.Embedder == nil {
		return nil, ErrNoEmbedder
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("%w: no tools", ErrLibrary)
	}
	if o.K1 == 0 {
		o.K1 = DefaultK1
	}
	if o.B == 0 {
		o.B = DefaultB
	}
	if o.RRFK <= 0 {
		o.RRFK = DefaultRRFK
	}
	if o.Depth <= 0 {
		o.Depth = DefaultDepth
	}
	ix := &Index{specs: slices.Clone(specs), opts: o, terms: map[string]int32{}, docLen: make([]float64, len(specs))}
	seen := make(map[string]bool, len(specs))
	docs := make([]string, len(specs))
	for i, s := range specs {
		switch {
		case strings.TrimSpace(s.Name) == "":
			return nil, fmt.Errorf("%w: tool %d has no name", ErrLibrary, i)
		case seen[s.Name]:
			return nil, fmt.Errorf("%w: tool %q is given twice", ErrLibrary, s.Name)
		}
		seen[s.Name] = true
		docs[i] = Document(s)
		ix.add(int32(i), docs[i], s.Name)
	}
	n := float64(len(specs))
	total := 0.0
	for _, l := range ix.docLen {
		total += l
	}
	ix.avgLen = max(total/n, 1)
	ix.idf = make([]float64, len(ix.postings))
	for t, ps := range ix.postings {
		df := float64(len(ps))
		ix.idf[t] = math.Log(1 + (n-df+0.5)/(df+0.5))
	}
	if o.Embedder != nil {
		vecs, err := o.Embedder.Embed(ctx, docs)
		if err != nil {
			return nil, fmt.Errorf("retrieval: embed the tools: %w", err)
		}
		if len(vecs) != len(docs) {
			return nil, fmt.Errorf("retrieval: embedder returned %d vectors for %d tools", len(vecs), len(docs))
		}
		for _, v := range vecs {
			normalize(v)
		}
		ix.vecs = vecs
	}
	return ix, nil
}

// add indexes one document; the name's terms count nameWeight times.
func (ix *Index) add(doc int32, text, name string) {
	tf := map[int32]float32{}
	count := func(terms []string, w float32) {
		for _, t := range terms {
			id, ok := ix.terms[t]
			if !ok {
				id = int32(len(ix.postings))
				ix.terms[t] = id
				ix.postings = append(ix.postings, nil)
			}
			tf[id] += w
			ix.docLen[doc] += float64(w)
		}
	}
	count(Tokenize(text), 1)
	count(Tokenize(name), nameWeight-1) // the name is in text once already
	for id, f := range tf {
		ix.postings[id] = append(ix.postings[id], posting{doc: doc, tf: f})
	}
}

// Len is the number of tools in the library.
func (ix *Index) Len() int { return len(ix.specs) }

// Spec returns tool i of the library.
func (ix *Index) Spec(i int) sdk.ToolSpec { return ix.specs[i] }

// Method is the index's ranking method.
func (ix *Index) Method() string { return ix.opts.Method }

// WithMethod returns the index ranking by method instead, sharing the
// terms and the tool vectors (no second embedding pass).
func (ix *Index) WithMethod(method string) (*Index, error) {
	switch {
	case method != MethodBM25 && method != MethodFused && method != MethodDense:
		return nil, fmt.Errorf("retrieval: method %q, want %q, %q or %q", method, MethodBM25, MethodFused, MethodDense)
	case method != MethodBM25 && ix.vecs == nil:
		return nil, ErrNoEmbedder
	}
	c := *ix
	c.opts.Method = method
	return &c, nil
}

// Search returns the k tools that best fit query, best first, by the
// index's method, re-ranked when a Reranker is set. Fewer than k come back
// when fewer tools share a term with the query (BM25) or the library is
// smaller. ctx bounds the query embedding and the re-rank.
func (ix *Index) Search(ctx context.Context, query string, k int) ([]Hit, error) {
	if k <= 0 {
		return nil, nil
	}
	depth := k
	if ix.opts.Reranker != nil {
		depth = max(k, min(ix.opts.Depth, 2*k))
	}
	var hits []Hit
	switch ix.opts.Method {
	case MethodFused:
		dense, err := ix.Dense(ctx, query, ix.opts.Depth)
		if err != nil {
			return nil, err
		}
		hits = Fuse(ix.opts.RRFK, depth, ix.BM25(query, ix.opts.Depth), dense)
	case MethodDense:
		var err error
		if hits, err = ix.Dense(ctx, query, depth); err != nil {
			return nil, err
		}
	default:
		hits = ix.BM25(query, depth)
	}
	if ix.opts.Reranker == nil || len(hits) <= 1 {
		return hits[:min(k, len(hits))], nil
	}
	hits, err := ix.opts.Reranker.Rerank(ctx, query, ix.specsOf(hits), hits)
	if err != nil {
		return nil, fmt.Errorf("retrieval: re-rank: %w", err)
	}
	return hits[:min(k, len(hits))], nil
}

func (ix *Index) specsOf(hits []Hit) []sdk.ToolSpec {
	out := make([]sdk.ToolSpec, len(hits))
	for i, h := range hits {
		out[i] = ix.specs[h.Tool]
	}
	return out
}

// BM25 returns the k tools with the highest BM25 score for query, best
// first; tools that share no term with it are left out.
func (ix *Index) BM25(query string, k int) []Hit {
	scores := make([]float64, len(ix.specs))
	var touched []int32
	k1, b := ix.opts.K1, ix.opts.B
	seen := map[int32]bool{}
	for _, t := range Tokenize(query) {
		id, ok := ix.terms[t]
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		idf := ix.idf[id]
		for _, p := range ix.postings[id] {
			if scores[p.doc] == 0 {
				touched = append(touched, p.doc)
			}
			tf := float64(p.tf)
			scores[p.doc] += idf * tf * (k1 + 1) / (tf + k1*(1-b+b*ix.docLen[p.doc]/ix.avgLen))
		}
	}
	hits := make([]Hit, 0, len(touched))
	for _, d := range touched {
		hits = append(hits, Hit{Tool: int(d), Score: scores[d]})
	}
	return ix.named(topK(hits, k))
}

// named fills in the hits' names: after topK, so that only k are copied.
func (ix *Index) named(hits []Hit) []Hit {
	for i := range hits {
		hits[i].Name = ix.specs[hits[i].Tool].Name
	}
	return hits
}

// Dense returns the k tools whose embeddings are nearest query's (cosine),
// best first.
func (ix *Index) Dense(ctx context.Context, query string, k int) ([]Hit, error) {
	if ix.vecs == nil {
		return nil, ErrNoEmbedder
	}
	qs, err := ix.opts.Embedder.Embed(ctx, []string{query})
	if err != nil {
		return nil, fmt.Errorf("retrieval: embed the query: %w", err)
	}
	if len(qs) != 1 {
		return nil, fmt.Errorf("retrieval: embedder returned %d vectors for 1 query", len(qs))
	}
	q := qs[0]
	normalize(q)
	hits := make([]Hit, len(ix.vecs))
	for i, v := range ix.vecs {
		hits[i] = Hit{Tool: i, Score: dot(q, v)}
	}
	return ix.named(topK(hits, k)), nil
}

// Fuse merges rankings by reciprocal rank: a tool scores the sum over the
// rankings that hold it of 1/(rrfk + rank), rank counted from 1. It returns
// the k best, ties broken by library order.
func Fuse(rrfk, k int, rankings ...[]Hit) []Hit {
	byTool := map[int]*Hit{}
	var order []int
	for _, r := range rankings {
		for rank, h := range r {
			f, ok := byTool[h.Tool]
			if !ok {
				f = &Hit{Tool: h.Tool, Name: h.Name}
				byTool[h.Tool] = f
				order = append(order, h.Tool)
			}
			f.Score += 1 / float64(rrfk+rank+1)
		}
	}
	hits := make([]Hit, len(order))
	for i, t := range order {
		hits[i] = *byTool[t]
	}
	return topK(hits, k)
}

// topK returns the k best of hits, best first (ties: library order). It
// keeps a sorted window of k and binary-searches each newcomer into it:
// O(n log k) comparisons, and most hits of a large library fail the first
// one, against the window's worst.
func topK(hits []Hit, k int) []Hit {
	if k <= 0 {
		return nil
	}
	better := func(a, b Hit) bool {
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		return a.Tool < b.Tool
	}
	top := make([]Hit, 0, min(k, len(hits)))
	for _, h := range hits {
		if len(top) == k && !better(h, top[k-1]) {
			continue
		}
		i := sort.Search(len(top), func(i int) bool { return better(h, top[i]) })
		if len(top) < k {
			top = append(top, Hit{})
		}
		copy(top[i+1:], top[i:len(top)-1])
		top[i] = h
	}
	return top
}

// Document is the text a tool is indexed and embedded by: its name, its
// description, and each parameter's name and description (nested
// properties and enum values included), one per line.
func Document(s sdk.ToolSpec) string {
	var b strings.Builder
	b.WriteString(s.Name)
	if d := strings.TrimSpace(s.Description); d != "" {
		b.WriteString("\n")
		b.WriteString(d)
	}
	var schema map[string]any
	if len(s.Parameters) > 0 && json.Unmarshal(s.Parameters, &schema) == nil {
		paramDocs(&b, schema, 0)
	}
	return b.String()
}

// paramDocs writes the properties of a JSON Schema object, depth-first in
// name order, to at most 4 levels of nesting.
func paramDocs(b *strings.Builder, schema map[string]any, depth int) {
	if depth > 4 {
		return
	}
	props, _ := schema["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p, _ := props[n].(map[string]any)
		b.WriteString("\n")
		b.WriteString(n)
		if d, ok := p["description"].(string); ok && strings.TrimSpace(d) != "" {
			b.WriteString(": ")
			b.WriteString(strings.TrimSpace(d))
		}
		if enum, ok := p["enum"].([]any); ok {
			for _, e := range enum {
				if s, ok := e.(string); ok {
					b.WriteString(" ")
					b.WriteString(s)
				}
			}
		}
		if p != nil {
			paramDocs(b, p, depth+1)
			if items, ok := p["items"].(map[string]any); ok {
				paramDocs(b, items, depth+1)
			}
		}
	}
}

func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}

func dot(a, b []float32) float64 {
	var s float32
	for i := range min(len(a), len(b)) {
		s += a[i] * b[i]
	}
	return float64(s)
}

// Select returns the specs of the k tools Search finds for prompt, best
// first: a task's tools (agent.Config.SelectTools).
func (ix *Index) Select(ctx context.Context, prompt string, k int) ([]sdk.ToolSpec, error) {
	hits, err := ix.Search(ctx, prompt, k)
	if err != nil {
		return nil, err
	}
	return ix.specsOf(hits), nil
}
