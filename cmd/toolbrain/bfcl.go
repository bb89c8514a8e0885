package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/bfcl"
)

// evalBFCL is `toolbrain eval bfcl --responses FILE`: BFCL's AST checker on
// responses produced elsewhere, one verdict line each, then the summary.
func evalBFCL(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "eval bfcl", "--responses FILE [--data DIR] [--categories LIST] [--format hermes|llama3] [--json]")
	responses := fs.String("responses", "", `JSON lines {"id", "calls": [{"name": {"arg": value}}]} or {"id", "text"} to score`)
	dataDir := fs.String("data", "", "a BFCL data directory (bfcl_eval/data of a checkout; default: the embedded BFCL v4 data)")
	cats := fs.String("categories", strings.Join(bfcl.Categories, ","), "comma-separated categories to load")
	format := fs.String("format", string(agent.FormatHermes), "tool-call format of \"text\" responses")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *responses == "" {
		return fmt.Errorf("%w: eval bfcl needs --responses FILE (generation with --model is not built yet)", errUsage)
	}
	cases, err := loadBFCL(*dataDir, *cats)
	if err != nil {
		return err
	}
	f, err := os.Open(*responses)
	if err != nil {
		return fmt.Errorf("--responses: %w", err)
	}
	defer f.Close()
	verdicts, err := bfcl.ScoreResponses(f, cases, agent.ToolFormat(*format))
	if err != nil {
		return fmt.Errorf("%s: %w", *responses, err)
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
	return nil
}

func loadBFCL(dir, categories string) (map[string]bfcl.Case, error) {
	var fsys fs.FS = bfcl.Data()
	if dir != "" {
		fsys = os.DirFS(dir)
	}
	cases := map[string]bfcl.Case{}
	for _, cat := range strings.Split(categories, ",") {
		cat = strings.TrimSpace(cat)
		if cat == "" {
			continue
		}
		cs, err := bfcl.Load(fsys, cat)
		if err != nil {
			return nil, fmt.Errorf("--categories %s: %w", cat, err)
		}
		for _, c := range cs {
			cases[c.ID] = c
		}
	}
	return cases, nil
}
