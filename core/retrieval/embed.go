package retrieval

import (
	"context"
	"fmt"
	"sort"

	"github.com/gomlx/gomlx/backends"

	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/model"
)

// Embedder maps texts to dense vectors, one per text, all of one length.
// The index normalises them; cosine similarity ranks the dense side.
// Implementations are safe for concurrent use and return an error
// wrapping ctx.Err() once ctx is done.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Hidden is what ModelEmbedder needs of a decoder: *model.Model's
// MeanHidden.
type Hidden interface {
	MeanHidden(ctx context.Context, ids [][]int32) ([][]float32, error)
}

// Encoder turns text into token ids: *tokenizer.Tokenizer.
type Encoder interface {
	Encode(text string) []int32
}

var _ Hidden = (*model.Model)(nil)

// Defaults of the zero ModelEmbedder fields.
const (
	DefaultMaxTokens  = 128
	DefaultEmbedBatch = 16
)

// ModelEmbedder embeds texts as the mean-pooled final hidden states of a
// decoder: the loaded policy model, or a checkpoint kept for embedding.
// Texts are cut to MaxTokens tokens and run in batches of similar length.
type ModelEmbedder struct {
	Model     Hidden
	Tokenizer Encoder
	// MaxTokens cuts each text (0: DefaultMaxTokens).
	MaxTokens int
	// Batch is how many texts run in one forward pass (0: DefaultEmbedBatch).
	Batch int
}

var _ Embedder = ModelEmbedder{}

// Embed implements Embedder. A text with no tokens gets a zero vector.
func (e ModelEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	maxTok, batch := e.MaxTokens, e.Batch
	if maxTok <= 0 {
		maxTok = DefaultMaxTokens
	}
	if batch <= 0 {
		batch = DefaultEmbedBatch
	}
	ids := make([][]int32, len(texts))
	order := make([]int, len(texts))
	for i, s := range texts {
		row := e.Tokenizer.Encode(s)
		ids[i] = row[:min(len(row), maxTok)]
		order[i] = i
	}
	// Similar lengths together: less padding per batch.
	sort.SliceStable(order, func(a, b int) bool { return len(ids[order[a]]) < len(ids[order[b]]) })
	out := make([][]float32, len(texts))
	width := 0
	for lo := 0; lo < len(order); lo += batch {
		part := order[lo:min(lo+batch, len(order))]
		rows := make([][]int32, len(part))
		for j, i := range part {
			rows[j] = ids[i]
		}
		vecs, err := e.Model.MeanHidden(ctx, rows)
		if err != nil {
			return nil, err
		}
		for j, i := range part {
			out[i] = vecs[j]
			width = max(width, len(vecs[j]))
		}
	}
	for i := range out {
		if out[i] == nil {
			out[i] = make([]float32, width)
		}
	}
	return out, nil
}

// OpenEmbedder loads the checkpoint name (a directory or a Hugging Face id
// in the cache of ro) on backend b as a ModelEmbedder. close releases the
// model.
func OpenEmbedder(name string, b backends.Backend, ro hub.ResolveOptions) (e ModelEmbedder, close func(), err error) {
	ck, err := checkpoint.Open(name, ro)
	if err != nil {
		return ModelEmbedder{}, nil, fmt.Errorf("retrieval: embedder: %w", err)
	}
	tok, err := ck.Tokenizer()
	if err != nil {
		return ModelEmbedder{}, nil, fmt.Errorf("retrieval: embedder %s: %w", name, err)
	}
	m, err := ck.LoadModel(b, model.LoadOptions{}, "")
	if err != nil {
		return ModelEmbedder{}, nil, fmt.Errorf("retrieval: embedder %s: %w", name, err)
	}
	return ModelEmbedder{Model: m, Tokenizer: tok}, func() { m.Close() }, nil
}
