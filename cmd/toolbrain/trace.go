package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/toolbrain/toolbrain/core/agent"
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
	traces, err := agent.ReadJSONL(f)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if *index >= len(traces) {
		return fmt.Errorf("%s holds %d traces; --index %d is out of range", pos[0], len(traces), *index)
	}
	for i, t := range traces {
		if *index >= 0 && i != *index {
			continue
		}
		if len(traces) > 1 && *index < 0 {
			fmt.Fprintf(o.stdout, "=== trace %s of %d\n", strconv.Itoa(i), len(traces))
		}
		if err := agent.RenderTrace(o.stdout, t); err != nil {
			return err
		}
	}
	return nil
}
