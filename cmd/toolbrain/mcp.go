package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/toolbrain/toolbrain/runtime/mcp"
)

// mcpToolJSON is one tool as `toolbrain mcp list --json` prints it.
type mcpToolJSON struct {
	Name        string          `json:"name"`
	CalledAs    string          `json:"called_as"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Granted     bool            `json:"granted"`
	Error       string          `json:"error,omitempty"`
}

func mcpList(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "mcp list", "NAME [--config FILE] [--json]")
	cfgPath := fs.String("config", "", "toolbrain.toml with the [[mcp]] entry NAME (default: ./toolbrain.toml, else the embedded default)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one server NAME", errUsage)
	}
	cfg, cfgName, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	sc, err := cfg.MCPServer(pos[0])
	if err != nil {
		return fmt.Errorf("%s: %w", cfgName, err)
	}
	tools, err := mcp.List(ctx, sc)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]mcpToolJSON, len(tools))
		for i, t := range tools {
			out[i] = mcpToolJSON{Name: t.Name, CalledAs: t.Spec.Name, Description: t.Spec.Description, Parameters: t.Spec.Parameters, Granted: t.Granted}
			if t.Err != nil {
				out[i].Error = t.Err.Error()
			}
		}
		return writeJSONIndent(o.stdout, out)
	}
	granted := 0
	for _, t := range tools {
		if t.Granted && t.Err == nil {
			granted++
		}
	}
	fmt.Fprintf(o.stdout, "%s: %d tools, %d granted and usable\n", sc.Name, len(tools), granted)
	w := tabwriter.NewWriter(o.stdout, 0, 0, 2, ' ', 0)
	var problems []error
	for _, t := range tools {
		state := "not granted"
		switch {
		case t.Err != nil:
			state = "UNUSABLE (below)"
			problems = append(problems, t.Err)
		case t.Granted:
			state = "granted"
		}
		fmt.Fprintf(w, "  %s(%s)\t%s\t%s\n", t.Spec.Name, strings.Join(t.Spec.ParameterNames(), ", "), state, firstLine(t.Spec.Description))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintf(o.stdout, "\n%v\n", p)
	}
	return nil
}

// firstLine is the first line of s, for one-line listings.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
