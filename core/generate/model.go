// Package generate decodes batches of sequences with a KV cache: greedy or
// sampled, with stop conditions, returning the generated ids and their logprobs.
package generate

import "context"

// Model is what the generator drives. core/model implements it; tests may
// implement it with a small deterministic fake.
type Model interface {
	// VocabSize is the number of logits per position.
	VocabSize() int
	// NewCache starts a decoding session for batch rows with room for maxLen
	// positions per row (prompt plus generated tokens).
	NewCache(ctx context.Context, batch, maxLen int) (Cache, error)
}

// Cache is one decoding session: a KV cache holding every row's tokens so far.
type Cache interface {
	// Append feeds tokens[b] to row b (rows may get different numbers of
	// tokens; an empty slice leaves the row untouched) and returns, for every
	// row that got at least one token, the logits after its last new token
	// (nil for rows that got none). len(tokens) must equal the batch size.
	// Each row's positions continue from where that row left off.
	//
	// The tokens slices belong to the caller: copy what must outlive the
	// call. The generator reads the returned logits before its next Append
	// and never writes to them, so an implementation may reuse their
	// buffers from one call to the next. Cancelling ctx should make a long
	// Append (a prefill) return early with an error; Generate then reports
	// ctx.Err().
	Append(ctx context.Context, tokens [][]int32) ([][]float32, error)
	// Len reports how many tokens row b holds.
	Len(b int) int
	// Close releases the cache's buffers. Generate always calls it, also
	// after an error.
	Close() error
}
