package main

import (
	"context"
	"fmt"
	"time"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/retrieval"
)

const retrievalEvalSynopsis = "[--tools N] [--seed N] [--queries-per-tool N] [--embedder DIR|ID] [--backend B]"

// retrievalEval measures tool retrieval on a generated library: BM25
// alone, and fused with the dense side when an embedder is given.
func retrievalEval(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "retrieval eval", retrievalEvalSynopsis)
	n := fs.Int("tools", 0, fmt.Sprintf("library size (0 = the %d base tools; more adds qualified variants, the queries stay the base tools')", retrieval.BaseTools))
	seed := fs.Uint64("seed", 17, "seed of the generated queries")
	perTool := fs.Int("queries-per-tool", 2, "labelled queries per base tool")
	embedder := fs.String("embedder", "", "checkpoint whose mean-pooled hidden states are the dense side (none: BM25 only)")
	be := fs.String("backend", "go", "gomlx backend of the embedder")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n < 0 || *perTool < 1 {
		return fmt.Errorf("%w: --tools must be >= 0 and --queries-per-tool >= 1", errUsage)
	}
	lib := retrieval.Generate(*seed, *n, *perTool)
	fmt.Fprintf(o.stdout, "%d tools, %d labelled queries (seed %d)\n", len(lib.Tools), len(lib.Queries), *seed)
	opts := retrieval.Options{Method: retrieval.MethodBM25}
	methods := []string{retrieval.MethodBM25}
	if *embedder != "" {
		b, err := backend.New(*be)
		if err != nil {
			return err
		}
		e, closeFn, err := retrieval.OpenEmbedder(*embedder, b, hub.ResolveOptions{})
		if err != nil {
			return err
		}
		defer closeFn()
		opts.Embedder = e
		methods = append(methods, retrieval.MethodDense, retrieval.MethodFused)
	}
	t0 := time.Now()
	ix, err := retrieval.New(ctx, lib.Tools, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "index built in %s\n", time.Since(t0).Round(time.Millisecond))
	fmt.Fprintf(o.stdout, "%-6s %8s %9s %9s %9s %6s %10s\n", "method", "queries", "recall@1", "recall@5", "recall@10", "MRR", "per query")
	for _, method := range methods {
		if ix, err = ix.WithMethod(method); err != nil {
			return err
		}
		t0 := time.Now()
		m, err := retrieval.Evaluate(ctx, ix, lib.Queries)
		if err != nil {
			return err
		}
		per := time.Since(t0) / time.Duration(max(1, m.Queries))
		fmt.Fprintf(o.stdout, "%-6s %8d %9.3f %9.3f %9.3f %6.3f %10s\n", method, m.Queries, m.Recall1, m.Recall5, m.Recall10, m.MRR, per.Round(time.Microsecond))
	}
	return nil
}
