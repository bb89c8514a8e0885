package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
	"github.com/toolbrain/toolbrain/plugins/packs/calculator/tasks"
	"github.com/toolbrain/toolbrain/sdk"
)

func dataCalculator(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "data calculator", "--out DIR [--seed N] [--train N] [--test N]")
	out := fs.String("out", "", "output directory: train.jsonl, test.jsonl (tasks) and sft.jsonl (the scripted expert's demonstrations on the training tasks)")
	seed := fs.Uint64("seed", 1, "seed; the held-out tasks use another stream of it")
	nTrain := fs.Int("train", 400, "training tasks")
	nTest := fs.Int("test", 100, "held-out tasks")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || *nTrain < 1 || *nTest < 1 {
		return fmt.Errorf("%w: --out is required; --train and --test must be positive", errUsage)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	train := tasks.Generate(*seed*2, *nTrain)
	test := tasks.Generate(*seed*2+1, *nTest)
	var sft bytes.Buffer
	for _, t := range train {
		msgs, err := tasks.Demonstration(t)
		if err != nil {
			return err
		}
		line, _ := json.Marshal(map[string]any{"messages": msgs})
		sft.Write(append(line, '\n'))
	}
	for name, data := range map[string][]byte{"train.jsonl": taskLines(train), "test.jsonl": taskLines(test), "sft.jsonl": sft.Bytes()} {
		if err := atomicfile.WriteFile(filepath.Join(*out, name), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.stdout, "wrote %d training tasks, %d held-out tasks and %d expert demonstrations (scripted, not a model) in %s\n", len(train), len(test), len(train), *out)
	return nil
}

// taskLines is a task file: one JSON task a line.
func taskLines(ts []sdk.Task) []byte {
	var b bytes.Buffer
	for _, t := range ts {
		line, _ := json.Marshal(t)
		b.Write(append(line, '\n'))
	}
	return b.Bytes()
}
