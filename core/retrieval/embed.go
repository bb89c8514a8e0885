package retrieval

import "context"

// Embedder maps texts to dense vectors, one per text, all of one length.
// The index normalises them; cosine similarity ranks the dense side.
// Implementations are safe for concurrent use and return an error
// wrapping ctx.Err() once ctx is done.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}
