package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/bfcl"
	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/generate"
)

// evalBFCL is `toolbrain eval bfcl`: BFCL's AST checker on a model's
// answers (--model: generated here, batched) or on responses produced
// elsewhere (--responses), one verdict line each, then the summary.
func evalBFCL(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "eval bfcl", "--model M [--adapter A] [--limit N] | --responses FILE; [--data DIR] [--categories LIST | --tasks FILE] [--format hermes|llama3] [--json]")
	var mf modelFlags
	mf.register(fs)
	responses := fs.String("responses", "", `JSON lines {"id", "calls": [{"name": {"arg": value}}]} or {"id", "text"} to score instead of generating`)
	dataDir := fs.String("data", "", "a BFCL data directory (bfcl_eval/data of a checkout; default: the embedded BFCL v4 data)")
	cats := fs.String("categories", strings.Join(bfcl.Categories, ","), "comma-separated categories to load")
	format := fs.String("format", "", "tool-call format (hermes or llama3; default: hermes for --responses, from the chat template for --model)")
	limit := fs.Int("limit", 0, "with --model: the first N cases of each category (0: all)")
	tasks := fs.String("tasks", "", "the cases of a task file written by `data bfcl` (such as its held-out test.jsonl) instead of --categories")
	batch := fs.Int("batch", 8, "with --model: cases decoded together")
	maxNew := fs.Int("max-new-tokens", 128, "with --model: tokens generated per case")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	var cases map[string]bfcl.Case
	var order []string
	var err error
	if *tasks != "" {
		cases, order, err = bfclTasks(*tasks, *limit)
	} else {
		cases, order, err = loadBFCL(*dataDir, *cats, *limit)
	}
	if err != nil {
		return err
	}
	var verdicts []bfcl.Verdict
	switch {
	case *responses != "":
		if *format == "" {
			*format = string(agent.FormatHermes)
		}
		f, err := os.Open(*responses)
		if err != nil {
			return fmt.Errorf("--responses: %w", err)
		}
		defer f.Close()
		verdicts, err = bfcl.ScoreResponses(f, cases, agent.ToolFormat(*format))
		if err != nil {
			return fmt.Errorf("%s: %w", *responses, err)
		}
	default:
		verdicts, err = generateBFCL(ctx, o, &mf, cases, order, *format, *batch, *maxNew)
		if err != nil {
			return err
		}
	}
	for _, v := range verdicts {
		if err := writeJSON(o.stdout, v); err != nil {
			return err
		}
	}
	s := bfcl.Summarize(verdicts)
	if *asJSON {
		return writeJSON(o.stdout, s)
	}
	for _, c := range append(s.Categories, s.Overall) {
		fmt.Fprintf(o.stdout, "%-18s %6.2f%%  (%d/%d)\n", c.Category, 100*c.Accuracy, c.Correct, c.Total)
	}
	lo, hi := coach.Wilson(s.Overall.Correct, s.Overall.Total)
	fmt.Fprintf(o.stdout, "overall 95%% CI (Wilson): %.1f–%.1f%%\n", 100*lo, 100*hi)
	return nil
}

// bfclTasks reads the cases of a task file written by `data bfcl` (the
// first limit when limit > 0), by id, and their ids in file order.
func bfclTasks(path string, limit int) (map[string]bfcl.Case, []string, error) {
	ts, err := coach.ReadTasks(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--tasks: %w", err)
	}
	if limit > 0 && len(ts) > limit {
		ts = ts[:limit]
	}
	cases := make(map[string]bfcl.Case, len(ts))
	order := make([]string, 0, len(ts))
	for _, t := range ts {
		c, err := bfcl.CaseOf(t)
		if err != nil {
			return nil, nil, fmt.Errorf("--tasks %s: %w", path, err)
		}
		cases[c.ID] = c
		order = append(order, c.ID)
	}
	return cases, order, nil
}

// generateBFCL answers the cases with the model (greedy, batched), with a
// progress bar on stderr, and returns their verdicts in order.
func generateBFCL(ctx context.Context, o *cmdIO, mf *modelFlags, cases map[string]bfcl.Case, order []string, format string, batch, maxNew int) ([]bfcl.Verdict, error) {
	l, err := mf.load()
	if err != nil {
		return nil, err
	}
	tok, tmpl, err := l.chat()
	if err != nil {
		return nil, err
	}
	list := make([]bfcl.Case, len(order))
	for i, id := range order {
		list[i] = cases[id]
	}
	bar := progressbar.NewOptions(len(list), progressbar.OptionSetWriter(o.stderr), progressbar.OptionSetDescription("bfcl"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.stderr) }))
	began := time.Now()
	res, err := bfcl.Generate(ctx, l.model, tok, tmpl, list, bfcl.GenerateOptions{
		Format: agent.ToolFormat(format), Batch: batch,
		Sampling: generate.Options{MaxNewTokens: maxNew, MaxLen: l.ckpt.Config.MaxPositionEmbeddings, StopTokenIDs: l.ckpt.StopTokenIDs(tok)},
		Progress: func(done int) { _ = bar.Set(done) },
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.stderr, "%d cases in %.1f s (%.2f cases/s)\n", len(res), time.Since(began).Seconds(), float64(len(res))/time.Since(began).Seconds())
	out := make([]bfcl.Verdict, len(res))
	for i, r := range res {
		out[i] = r.Verdict
	}
	return out, nil
}

// loadBFCL reads the categories' cases (the first limit of each when
// limit > 0) by id, and their ids in file order.
func loadBFCL(dir, categories string, limit int) (map[string]bfcl.Case, []string, error) {
	var fsys fs.FS = bfcl.Data()
	if dir != "" {
		fsys = os.DirFS(dir)
	}
	cases := map[string]bfcl.Case{}
	var order []string
	for _, cat := range strings.Split(categories, ",") {
		cat = strings.TrimSpace(cat)
		if cat == "" {
			continue
		}
		cs, err := bfcl.Load(fsys, cat)
		if err != nil {
			return nil, nil, fmt.Errorf("--categories %s: %w", cat, err)
		}
		if limit > 0 && len(cs) > limit {
			cs = cs[:limit]
		}
		for _, c := range cs {
			cases[c.ID] = c
			order = append(order, c.ID)
		}
	}
	return cases, order, nil
}
