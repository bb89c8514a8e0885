package retrieval

import (
	"context"
	"fmt"
)

// Metrics are retrieval quality over labelled queries.
type Metrics struct {
	// Queries is how many queries were asked.
	Queries int
	// Recall1, Recall5 and Recall10 are the fractions of queries whose
	// tool is in the top 1, 5 and 10.
	Recall1, Recall5, Recall10 float64
	// MRR is the mean reciprocal rank of the labelled tool within the top
	// EvalDepth (0 when it is not there).
	MRR float64
}

// EvalDepth is how deep Evaluate looks for the labelled tool.
const EvalDepth = 100

// String formats m as a table row: recall@1/5/10 and MRR.
func (m Metrics) String() string {
	return fmt.Sprintf("queries=%d recall@1=%.3f recall@5=%.3f recall@10=%.3f MRR=%.3f", m.Queries, m.Recall1, m.Recall5, m.Recall10, m.MRR)
}

// Evaluate searches ix for every query and measures where its tool ranks.
func Evaluate(ctx context.Context, ix *Index, queries []Query) (Metrics, error) {
	m := Metrics{Queries: len(queries)}
	if len(queries) == 0 {
		return m, nil
	}
	for i, q := range queries {
		hits, err := ix.Search(ctx, q.Text, EvalDepth)
		if err != nil {
			return Metrics{}, fmt.Errorf("retrieval: query %d %q: %w", i, q.Text, err)
		}
		for r, h := range hits {
			if h.Name != q.Tool {
				continue
			}
			if r < 1 {
				m.Recall1++
			}
			if r < 5 {
				m.Recall5++
			}
			if r < 10 {
				m.Recall10++
			}
			m.MRR += 1 / float64(r+1)
			break
		}
	}
	n := float64(len(queries))
	m.Recall1, m.Recall5, m.Recall10, m.MRR = m.Recall1/n, m.Recall5/n, m.Recall10/n, m.MRR/n
	return m, nil
}
