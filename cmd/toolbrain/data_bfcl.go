package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/bfcl"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/internal/atomicfile"
)

// dataBFCLResult is what `toolbrain data bfcl` prints.
type dataBFCLResult struct {
	Out     string  `json:"out"`
	Seed    uint64  `json:"seed"`
	Heldout float64 `json:"heldout"`
	Train   int     `json:"train_tasks"`
	Test    int     `json:"test_tasks"`
	SFT     int     `json:"sft_examples,omitempty"`
}

// dataBFCL is `toolbrain data bfcl`: BFCL cases as coach task files, split
// by a hash of their ids, and with --model the training cases' possible
// answers as SFT conversations rendered for that model's chat template.
func dataBFCL(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "data bfcl", "--out DIR [--categories LIST] [--heldout F] [--seed N] [--limit N] [--model M [--format hermes|llama3]] [--data DIR]")
	out := fs.String("out", "", "output directory: train.jsonl and test.jsonl (tasks), sft.jsonl with --model (required)")
	cats := fs.String("categories", "simple_python", "comma-separated BFCL categories")
	heldout := fs.Float64("heldout", 0.2, "fraction of the cases held out (test.jsonl), chosen by a hash of seed and id")
	seed := fs.Uint64("seed", 1, "seed of the split")
	limit := fs.Int("limit", 0, "the first N cases of each category (0: all)")
	dataDir := fs.String("data", "", "a BFCL data directory (default: the embedded BFCL v4 data)")
	modelName := fs.String("model", "", "write sft.jsonl for this checkpoint's chat template: the training cases' first possible answers as its tool calls")
	format := fs.String("format", "", "tool-call format of sft.jsonl (hermes or llama3; default: from the chat template)")
	cacheDir := fs.String("cache-dir", "", "Hugging Face cache for --model (default: the standard one)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || *heldout < 0 || *heldout > 1 || *limit < 0 {
		return fmt.Errorf("%w: --out is required; --heldout is in [0, 1]; --limit is not negative", errUsage)
	}
	cases, order, err := loadBFCL(*dataDir, *cats, *limit)
	if err != nil {
		return err
	}
	var sft func(bfcl.Case) (bfcl.SFTLine, error)
	if *modelName != "" {
		ck, err := checkpoint.Open(*modelName, hub.ResolveOptions{CacheDir: *cacheDir})
		if err != nil {
			return fmt.Errorf("--model: %w", err)
		}
		tmpl, err := ck.ChatTemplate()
		if err != nil {
			return fmt.Errorf("--model %s: %w", *modelName, err)
		}
		f := agent.ToolFormat(*format)
		if f == "" {
			f = agent.DetectFormat(tmpl.Source())
		}
		sft = func(c bfcl.Case) (bfcl.SFTLine, error) { return bfcl.SFTExample(tmpl, f, c) }
	}
	res := dataBFCLResult{Out: *out, Seed: *seed, Heldout: *heldout}
	var train, test, demos bytes.Buffer
	for _, id := range order {
		c := cases[id]
		t, err := bfcl.TaskOf(c)
		if err != nil {
			return err
		}
		w := &train
		if bfcl.Heldout(id, *heldout, *seed) {
			w, res.Test = &test, res.Test+1
		} else {
			res.Train++
			if sft != nil {
				ex, err := sft(c)
				if err != nil {
					return err
				}
				if err := jsonLine(&demos, ex); err != nil {
					return err
				}
				res.SFT++
			}
		}
		if err := jsonLine(w, t); err != nil {
			return err
		}
	}
	if res.Train == 0 || res.Test == 0 {
		return fmt.Errorf("%w: the split leaves %d training and %d held-out cases; change --heldout or load more cases", errUsage, res.Train, res.Test)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{"train.jsonl": train.Bytes(), "test.jsonl": test.Bytes()}
	if sft != nil {
		files["sft.jsonl"] = demos.Bytes()
	}
	for name, data := range files {
		if err := atomicfile.WriteFile(filepath.Join(*out, name), data, 0o644); err != nil {
			return err
		}
	}
	return writeJSON(o.stdout, res)
}

// jsonLine appends v to b as one JSON line, HTML characters unescaped.
func jsonLine(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
