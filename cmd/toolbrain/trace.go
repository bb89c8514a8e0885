package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/sdk"
)

func traceShow(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "trace show", "FILE [--index N]")
	index := fs.Int("index", -1, "show only the trace at this 0-based position")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one JSONL FILE", errUsage)
	}
	if *index < -1 {
		return fmt.Errorf("%w: --index %d: want a position from 0 (or -1 for all)", errUsage, *index)
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	// One trace at a time: a training run's trace file may be gigabytes.
	n := 0
	err = agent.ScanJSONL(f, func(i int, t sdk.Trace) error {
		n = i + 1
		if *index >= 0 && i != *index {
			return nil
		}
		if *index < 0 {
			fmt.Fprintf(o.stdout, "=== trace %s\n", strconv.Itoa(i))
		}
		return agent.RenderTrace(o.stdout, t)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if *index >= n {
		return fmt.Errorf("%s holds %d traces; --index %d is out of range", pos[0], n, *index)
	}
	return nil
}
