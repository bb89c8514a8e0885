// Package mcptest is an MCP server written with the official Go SDK, for
// testing MCP clients such as runtime/mcp against a real server: besides
// tools that answer, it has tools that hang, crash the process, fail,
// return a result the client cannot decode, and one that advertises an
// invalid input schema.
//
// A test binary serves it on stdio by calling [MaybeServe] first thing in
// its TestMain and starting itself with [Command]; [ServeHTTP] serves it
// over streamable HTTP on loopback.
//
//	func TestMain(m *testing.M) {
//		mcptest.MaybeServe()
//		os.Exit(m.Run())
//	}
package mcptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	tbmcp "github.com/toolbrain/toolbrain/runtime/mcp"
)

// ServeArg, as the first argument of the test binary, makes [MaybeServe]
// serve on stdio.
const ServeArg = "-mcptest.serve=stdio"

// Token is the bearer token [ServeHTTP] requires when asked to.
const Token = "mcptest-secret"

// HeaderName is the header [ServeHTTP] requires (with value "yes") when
// asked to.
const HeaderName = "X-Mcptest"

// CrashMessage is what the crash tool writes to stderr before exiting.
const CrashMessage = "mcptest: crash requested, exiting with status 3"

// malformedText is the text of the malformed tool's result, which the
// stdio server's output filter turns into a result of the wrong shape.
const malformedText = "mcptest-malformed"

// HangLimit is how long the hang tool blocks at most when the client does
// not cancel it.
const HangLimit = 30 * time.Second

// Options choose the tools.
type Options struct {
	// Crash adds the crash tool, which exits the process: only for a
	// server in its own process.
	Crash bool
}

type echoIn struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}

type addIn struct {
	A float64 `json:"a" jsonschema:"first addend"`
	B float64 `json:"b" jsonschema:"second addend"`
}

type sumOut struct {
	Sum float64 `json:"sum"`
}

type bigIn struct {
	N int `json:"n" jsonschema:"bytes to return"`
}

// NewServer is the test server with its tools:
//
//	echo {text}      "echo: TEXT"
//	add {a, b}       the sum as text, and {"sum": a+b} as structured content
//	big {n}          n bytes of 'x'
//	fail {}          a tool error (isError) "the tool failed on purpose"
//	protocol_error   a JSON-RPC error
//	task {}          "task ID inbox INBOX" from the call's _meta (runtime/mcp.TaskMetaKey)
//	hang {}          blocks until cancelled (at most HangLimit)
//	malformed {}     on stdio, a result whose text is a number (undecodable)
//	bad_schema {x}   its input schema gives x the type "nonsense"
//	crash {}         (Options.Crash) writes CrashMessage to stderr, exits 3
func NewServer(o Options) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "mcptest", Version: "1.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echo the text back."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return text("echo: " + in.Text), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Add two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, sumOut, error) {
			return text(fmt.Sprint(in.A + in.B)), sumOut{Sum: in.A + in.B}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "big", Description: "Return n bytes."},
		func(_ context.Context, _ *mcp.CallToolRequest, in bigIn) (*mcp.CallToolResult, any, error) {
			return text(strings.Repeat("x", in.N)), nil, nil
		})
	raw := func(name, desc, schema string, h mcp.ToolHandler) {
		s.AddTool(&mcp.Tool{Name: name, Description: desc, InputSchema: json.RawMessage(schema)}, h)
	}
	raw("task", "Say which task the call is for.", `{"type":"object"}`, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		task, err := tbmcp.TaskOf(req.Params.GetMeta())
		switch {
		case err != nil:
			return nil, err
		case task == nil:
			return text("no task"), nil
		}
		return text("task " + task.ID + " inbox " + task.Metadata["inbox"]), nil
	})
	raw("fail", "Fail.", `{"type":"object"}`, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		r := text("the tool failed on purpose")
		r.IsError = true
		return r, nil
	})
	raw("protocol_error", "Answer with a JSON-RPC error.", `{"type":"object"}`, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return nil, fmt.Errorf("protocol error on purpose")
	})
	raw("hang", "Never answer.", `{"type":"object"}`, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-ctx.Done():
		case <-time.After(HangLimit):
		}
		return text("too late"), nil
	})
	raw("malformed", "Answer with a malformed result (stdio).", `{"type":"object"}`, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text(malformedText), nil
	})
	raw("bad_schema", "A tool whose schema is invalid.", `{"type":"object","properties":{"x":{"type":"nonsense"}}}`,
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return text("unreachable"), nil
		})
	if o.Crash {
		raw("crash", "Exit the server process.", `{"type":"object"}`, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			fmt.Fprintln(os.Stderr, CrashMessage)
			os.Exit(3)
			return nil, nil
		})
	}
	return s
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// Command is the command line that starts the running test binary as the
// stdio server (see [MaybeServe]).
func Command() []string { return []string{os.Args[0], ServeArg} }

// MaybeServe serves the test server (with the crash tool) on stdin and
// stdout and exits when the process was started by [Command]; otherwise it
// returns at once. Call it first in TestMain.
func MaybeServe() {
	if len(os.Args) < 2 || os.Args[1] != ServeArg {
		return
	}
	t := &mcp.IOTransport{Reader: os.Stdin, Writer: &malformer{w: os.Stdout}}
	if err := NewServer(Options{Crash: true}).Run(context.Background(), t); err != nil {
		fmt.Fprintln(os.Stderr, "mcptest:", err)
	}
	os.Exit(0)
}

// malformer rewrites the malformed tool's result on its way out: the text
// becomes a number, which no client can decode as text content.
type malformer struct {
	mu sync.Mutex
	w  io.Writer
}

func (m *malformer) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := bytes.ReplaceAll(p, []byte(`"text":"`+malformedText+`"`), []byte(`"text":12345`))
	if _, err := m.w.Write(q); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (m *malformer) Close() error { return nil }

// HTTPOptions configure [ServeHTTP].
type HTTPOptions struct {
	// Auth requires "Authorization: Bearer " + Token and HeaderName: yes;
	// a request without them gets 401.
	Auth bool
}

// ServeHTTP serves the test server (without the crash tool) over
// streamable HTTP on a loopback port until the test ends, and returns its
// URL.
func ServeHTTP(t testing.TB, o HTTPOptions) string {
	t.Helper()
	srv := NewServer(Options{})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	var handler http.Handler = h
	if o.Auth {
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+Token || r.Header.Get(HeaderName) != "yes" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	return ts.URL + "/mcp"
}
