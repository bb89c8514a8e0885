// Command server is an MCP server, written with the official Go SDK, that
// serves the email pack's tools (search_emails and read_email, package
// plugins/packs/email) over stdio, on a corpus written by
// `toolbrain data email`:
//
//	go run ./examples/mcp/server --corpus runs/mcp/corpus [--inbox NAME]
//
// Each call searches the inbox of the episode's task, which ToolBrain sends
// in the request's _meta (runtime/mcp.TaskMetaKey); --inbox serves one
// fixed inbox to calls without a task (another MCP client, an inspector).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolbrain/toolbrain/plugins/packs/email"
	"github.com/toolbrain/toolbrain/runtime/mcp"
	"github.com/toolbrain/toolbrain/sdk"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "email mcp server:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	dir := fs.String("corpus", "", "corpus directory written by `toolbrain data email` (required)")
	inbox := fs.String("inbox", "", "inbox for calls that carry no task")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--corpus is required")
	}
	ctx := context.Background()
	store, err := email.Open(ctx, *dir)
	if err != nil {
		return err
	}
	defer store.Close()
	tools := email.NewTools(store)
	s := gomcp.NewServer(&gomcp.Implementation{Name: "email", Version: "0.1.0"}, nil)
	for _, spec := range email.Specs() {
		s.AddTool(&gomcp.Tool{Name: spec.Name, Description: spec.Description, InputSchema: spec.Parameters}, handler(tools, spec.Name, *inbox))
	}
	return s.Run(ctx, &gomcp.StdioTransport{})
}

// handler calls the email tool name for the task in the request's _meta
// (or the fixed inbox) and returns its text, with its data as structured
// content.
func handler(tools *email.Tools, name, inbox string) gomcp.ToolHandler {
	return func(ctx context.Context, req *gomcp.CallToolRequest) (*gomcp.CallToolResult, error) {
		task, err := mcp.TaskOf(req.Params.GetMeta())
		if err != nil {
			return nil, err
		}
		var t sdk.Tool = tools
		if task == nil && inbox != "" {
			t = tools.ForInbox(inbox)
		}
		resp, err := t.CallTool(ctx, sdk.ToolCallRequest{Name: name, Arguments: req.Params.Arguments, Task: task})
		if err != nil {
			return nil, err
		}
		res := &gomcp.CallToolResult{Content: []gomcp.Content{&gomcp.TextContent{Text: resp.Content}}, IsError: resp.IsError}
		if len(resp.Data) > 0 {
			// Any JSON value since SEP-2106: search_emails's list of hits
			// reaches the athlete's code as the list the pack returns.
			res.StructuredContent = resp.Data
		}
		return res, nil
	}
}
