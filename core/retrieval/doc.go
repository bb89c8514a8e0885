// Package retrieval chooses, for a task, the few tools of a large library
// that it needs: BM25 over each tool's name, description and parameter
// documentation, dense embeddings behind a small [Embedder] interface,
// the two fused by reciprocal rank, and an optional re-rank by a language
// model.
//
// An [Index] is built once over a library of sdk.ToolSpec and answers
// queries concurrently; nothing in it is written after [New] returns.
//
//	ix, err := retrieval.New(ctx, specs, retrieval.Options{})
//	hits, err := ix.Search(ctx, "what will the weather be in Paris tomorrow?", 5)
//
// [Generate] builds a deterministic library of tools with labelled
// queries, and [Evaluate] measures recall@k and MRR on it.
package retrieval
