package retrieval

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/toolbrain/toolbrain/sdk"
)

// Reranker reorders the first stage's candidates for a query. tools[i] is
// the spec of hits[i]. It returns the same hits (a permutation of them, or
// a prefix of one); an error stops the search.
type Reranker interface {
	Rerank(ctx context.Context, query string, tools []sdk.ToolSpec, hits []Hit) ([]Hit, error)
}

// LLMReranker asks a language model (the [judge] model, through core/llm)
// to order the candidates: it lists them numbered with their descriptions
// and reads back the numbers, best first. Candidates the answer leaves out
// follow in their first-stage order; an answer with no usable number
// keeps that order entirely, so a weak model can only reorder, never lose
// a candidate.
type LLMReranker struct {
	Client sdk.LLM
	// MaxTokens caps the answer (0: 64).
	MaxTokens int
}

var _ Reranker = LLMReranker{}

// Rerank implements Reranker.
func (r LLMReranker) Rerank(ctx context.Context, query string, tools []sdk.ToolSpec, hits []Hit) ([]Hit, error) {
	if r.Client == nil {
		return nil, fmt.Errorf("retrieval: LLMReranker has no client")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Task: %s\n\nCandidate tools:\n", strings.TrimSpace(query))
	for i, t := range tools {
		fmt.Fprintf(&b, "%d. %s: %s\n", i+1, t.Name, oneLine(t.Description))
	}
	b.WriteString("\nWhich tools does the task need? Reply with their numbers only, most relevant first, separated by commas.")
	maxTok := r.MaxTokens
	if maxTok <= 0 {
		maxTok = 64
	}
	resp, err := r.Client.Complete(ctx, sdk.LLMRequest{
		Messages:  []sdk.Message{{Role: "user", Content: b.String()}},
		MaxTokens: maxTok,
	})
	if err != nil {
		return nil, err
	}
	return ReorderByAnswer(hits, resp.Text), nil
}

var number = regexp.MustCompile(`\d+`)

// ReorderByAnswer moves the hits that answer names by 1-based number to
// the front, in the answer's order; numbers out of range and repeats are
// skipped, and the hits it does not name follow in their order.
func ReorderByAnswer(hits []Hit, answer string) []Hit {
	out := make([]Hit, 0, len(hits))
	used := make([]bool, len(hits))
	for _, m := range number.FindAllString(answer, -1) {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > len(hits) || used[n-1] {
			continue
		}
		used[n-1] = true
		out = append(out, hits[n-1])
	}
	for i, h := range hits {
		if !used[i] {
			out = append(out, h)
		}
	}
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
