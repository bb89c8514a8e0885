package agent_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/runtime/mcp"
	"github.com/toolbrain/toolbrain/runtime/mcp/mcptest"
)

// TestMain lets the test binary serve as the MCP test server (mcptest).
func TestMain(m *testing.M) {
	mcptest.MaybeServe()
	os.Exit(m.Run())
}

// startMCP starts the MCP test server: this test binary re-executed on
// stdio, or streamable HTTP on loopback.
func startMCP(t *testing.T, transport string) *mcp.Server {
	t.Helper()
	cfg := mcp.Config{Name: "t", Grant: []string{"*"}, Timeout: 300 * time.Millisecond}
	if transport == "stdio" {
		cfg.Command = mcptest.Command()
	} else {
		cfg.URL = mcptest.ServeHTTP(t, mcptest.HTTPOptions{})
	}
	s, err := mcp.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestCodeAct_MCPEpisode: a CodeAct episode whose code calls an MCP
// server's tools from the Starlark sandbox, on both transports: text and
// structured results, the episode's task in _meta, and a tool that hangs
// (a tool error the code reads; the episode goes on).
func TestCodeAct_MCPEpisode(t *testing.T) {
	for _, transport := range []string{"stdio", "http"} {
		t.Run(transport, func(t *testing.T) {
			tok, tpl, end := chatmlKit(t)
			srv := startMCP(t, transport)
			specs := srv.Specs()
			sb := newSandbox(t, srv, specs)
			m := newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{
				"```python\nprint(t__echo(text=\"hi\"))\ns = t__add(2, 3)\nprint(s[\"sum\"])\nprint(t__task())\n```",
				"```python\nt__hang()\n```",
				"```python\nfinal_answer(str(s[\"sum\"]))\n```",
			}))
			a, err := agent.New(agent.CodeAct, agent.Config{
				Model: m, Tokenizer: tok, Template: tpl, Tools: specs, Sandbox: sb,
				Sampling: generate.Options{Temperature: 1, MaxNewTokens: 200},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(a.System(), "t__echo(") {
				t.Errorf("the system prompt does not list the MCP tools:\n%s", a.System())
			}
			tr, err := a.Run(context.Background(), agent.Task{ID: "q1", Prompt: "2+3?", Metadata: map[string]string{"inbox": "alice"}})
			if err != nil {
				t.Fatal(err)
			}
			if tr.FinalAnswer != "5" || len(tr.Turns) != 3 {
				t.Fatalf("answer %q, %d turns, error %q", tr.FinalAnswer, len(tr.Turns), tr.Error)
			}
			if o := tr.Turns[0].Observations; len(o) != 1 || o[0].IsError || o[0].Content != "echo: hi\n5\ntask q1 inbox alice\n" {
				t.Errorf("turn 1 observations %+v", o)
			}
			if c := tr.Turns[0].ToolCalls; len(c) != 3 || c[0].Name != "t__echo" || c[1].Name != "t__add" {
				t.Errorf("turn 1 tool calls %+v", c)
			}
			if o := tr.Turns[1].Observations; len(o) != 1 || !o[0].IsError || !strings.Contains(o[0].Content, `mcp server "t" tool "hang": no result within the time limit of 300ms`) {
				t.Errorf("turn 2 (hang) observations %+v", o)
			}
			checkExactTokens(t, tr, m.rows[0])
		})
	}
}

// TestToolCalling_MCPEpisode: a tool-calling episode on a stdio MCP server
// whose process crashes mid-episode: the crash is a tool error naming the
// server, the tool and its stderr, the server is restarted, and the next
// call works.
func TestToolCalling_MCPEpisode(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	srv := startMCP(t, "stdio")
	m := newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{
		`<tool_call>{"name": "t__echo", "arguments": {"text": "hi"}}</tool_call>`,
		`<tool_call>{"name": "t__crash", "arguments": {}}</tool_call>`,
		`<tool_call>{"name": "t__echo", "arguments": {"text": "again"}}</tool_call>`,
		`<tool_call>{"name": "t__add", "arguments": {"a": "two", "b": 3}}</tool_call>`,
		"Done.",
	}))
	a, err := agent.New(agent.ToolCalling, agent.Config{
		Model: m, Tokenizer: tok, Template: tpl, Tools: srv.Specs(), Tool: srv, MaxTurns: 5,
		Sampling: generate.Options{Temperature: 1, MaxNewTokens: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := a.Run(context.Background(), agent.Task{ID: "crash", Prompt: "go"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.FinalAnswer != "Done." || len(tr.Turns) != 5 {
		t.Fatalf("answer %q, %d turns, error %q", tr.FinalAnswer, len(tr.Turns), tr.Error)
	}
	tests := []struct {
		name    string
		turn    int
		content []string
		isError bool
	}{
		{"echo", 0, []string{"echo: hi"}, false},
		{"crash", 1, []string{`mcp server "t" died during the call of tool "crash"`, "restarted", mcptest.CrashMessage}, true},
		{"after the restart", 2, []string{"echo: again"}, false},
		{"schema refusal", 3, []string{`invalid arguments for tool "t__add"`, "/a"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tr.Turns[tc.turn].Observations
			if len(o) != 1 || o[0].IsError != tc.isError {
				t.Fatalf("observations %+v", o)
			}
			for _, c := range tc.content {
				if !strings.Contains(o[0].Content, c) {
					t.Errorf("observation %q lacks %q", o[0].Content, c)
				}
			}
		})
	}
	checkExactTokens(t, tr, m.rows[0])
}
