package mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/runtime/mcp"
	"github.com/toolbrain/toolbrain/runtime/mcp/mcptest"
	"github.com/toolbrain/toolbrain/sdk"
)

func TestMain(m *testing.M) {
	mcptest.MaybeServe()
	os.Exit(m.Run())
}

// transports runs body once on a stdio server (this test binary re-executed)
// and once on a streamable-HTTP server on loopback.
func transports(t *testing.T, cfg mcp.Config, body func(t *testing.T, cfg mcp.Config)) {
	t.Run("stdio", func(t *testing.T) {
		c := cfg
		c.Command = mcptest.Command()
		body(t, c)
	})
	t.Run("http", func(t *testing.T) {
		c := cfg
		c.URL = mcptest.ServeHTTP(t, mcptest.HTTPOptions{})
		body(t, c)
	})
}

func start(t *testing.T, cfg mcp.Config) *mcp.Server {
	t.Helper()
	s, err := mcp.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func call(t *testing.T, s *mcp.Server, name, args string) sdk.ToolCallResponse {
	t.Helper()
	resp, err := s.CallTool(context.Background(), sdk.ToolCallRequest{Name: name, Arguments: json.RawMessage(args)})
	if err != nil {
		t.Fatalf("%s(%s): %v", name, args, err)
	}
	return resp
}

func TestServer_ListAndCall(t *testing.T) {
	transports(t, mcp.Config{Name: "t", Grant: []string{"*"}, Timeout: 500 * time.Millisecond, MaxOutputBytes: 1000}, func(t *testing.T, cfg mcp.Config) {
		s := start(t, cfg)
		var names []string
		for _, sp := range s.Specs() {
			names = append(names, sp.Name)
		}
		for _, want := range []string{"t__echo", "t__add", "t__hang", "t__fail"} {
			if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
				t.Errorf("specs %v lack %s", names, want)
			}
		}
		// The invalid schema is refused at list time, naming server and tool; the rest works.
		probs := s.Problems()
		if len(probs) != 1 || !errors.Is(probs[0], mcp.ErrBadTool) || !strings.Contains(probs[0].Error(), `server "t" tool "bad_schema"`) {
			t.Errorf("problems %v", probs)
		}
		for _, sp := range s.Specs() {
			if sp.Name == "t__bad_schema" {
				t.Error("the tool with the invalid schema is offered to the athlete")
			}
		}
		tests := []struct {
			name, tool, args string
			content          string // substring
			isError          bool
		}{
			{"echo", "t__echo", `{"text":"hi"}`, "echo: hi", false},
			{"structured", "t__add", `{"a":2,"b":3}`, "5", false},
			{"schema refuses", "t__add", `{"a":"two","b":3}`, `invalid arguments for tool "t__add"`, true},
			{"missing property", "t__echo", `{}`, "missing property", true},
			{"unknown tool", "t__nope", `{}`, `mcp server "t": no tool "t__nope"`, true},
			{"tool error", "t__fail", `{}`, "the tool failed on purpose", true},
			{"protocol error", "t__protocol_error", `{}`, `mcp server "t" tool "protocol_error": the server answered with an error`, true},
			{"hang", "t__hang", `{}`, `mcp server "t" tool "hang": no result within the time limit of 500ms`, true},
			{"output limit", "t__big", `{"n":5000}`, `mcp server "t" tool "big": the result is 5000 bytes, more than the limit of 1000`, true},
			{"after the hang", "t__echo", `{"text":"still here"}`, "echo: still here", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp := call(t, s, tt.tool, tt.args)
				if !strings.Contains(resp.Content, tt.content) || resp.IsError != tt.isError {
					t.Errorf("got %+v, want content with %q, is_error %v", resp, tt.content, tt.isError)
				}
			})
		}
		task := &sdk.Task{ID: "q7", Metadata: map[string]string{"inbox": "alice"}}
		resp, err := s.CallTool(context.Background(), sdk.ToolCallRequest{Name: "t__task", Arguments: json.RawMessage(`{}`), Task: task})
		if err != nil || resp.Content != "task q7 inbox alice" {
			t.Errorf("task in _meta: %+v, %v", resp, err)
		}
		if resp := call(t, s, "t__task", `{}`); resp.Content != "no task" {
			t.Errorf("no task: %+v", resp)
		}
		if resp := call(t, s, "t__add", `{"a":1,"b":1}`); string(resp.Data) != `{"sum":2}` {
			t.Errorf("structured content %s", resp.Data)
		}
	})
}

func TestServer_Grant(t *testing.T) {
	transports(t, mcp.Config{Name: "g", Grant: []string{"echo"}}, func(t *testing.T, cfg mcp.Config) {
		s := start(t, cfg)
		if sp := s.Specs(); len(sp) != 1 || sp[0].Name != "g__echo" || !strings.Contains(string(sp[0].Parameters), `"text"`) {
			t.Fatalf("specs %+v", sp)
		}
		if resp := call(t, s, "g__add", `{"a":1,"b":2}`); !resp.IsError || !strings.Contains(resp.Content, `no tool "g__add"`) {
			t.Errorf("ungranted tool answered %+v", resp)
		}
		if len(s.Problems()) != 0 {
			t.Errorf("problems of ungranted tools reported: %v", s.Problems())
		}
		var offered int
		for _, tl := range s.Tools() {
			offered++
			if tl.Granted != (tl.Name == "echo") {
				t.Errorf("tool %s granted %v", tl.Name, tl.Granted)
			}
		}
		if offered < 7 {
			t.Errorf("Tools lists %d tools", offered)
		}
	})
}

func TestStart_Errors(t *testing.T) {
	tests := []struct {
		name string
		cfg  mcp.Config
		want error
		msg  string
	}{
		{"grant of a missing tool", mcp.Config{Name: "s", Command: mcptest.Command(), Grant: []string{"echo", "nope"}}, mcp.ErrGrant, `server "s" has no tool "nope" (it offers: add, bad_schema,`},
		{"no such program", mcp.Config{Name: "s", Command: []string{"/nonexistent/mcp-server"}, Grant: []string{"*"}}, mcp.ErrStart, `server "s" (/nonexistent/mcp-server)`},
		{"not an MCP server", mcp.Config{Name: "s", Command: []string{"sh", "-c", "echo not json; echo oops >&2"}, Grant: []string{"*"}}, mcp.ErrStart, "stderr: oops"},
		{"nothing listens", mcp.Config{Name: "s", URL: "http://127.0.0.1:1/mcp", Grant: []string{"*"}}, mcp.ErrStart, `server "s" (http://127.0.0.1:1/mcp)`},
		{"bad config", mcp.Config{Name: "9s", Command: []string{"x"}, Grant: []string{"*"}}, nil, "mcp: name:"},
		{"no grant", mcp.Config{Name: "s", Command: []string{"x"}}, nil, "mcp: grant: no tool granted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mcp.Start(context.Background(), tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("started")
			}
			if tt.want != nil && !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want %v with %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestHTTP_Auth(t *testing.T) {
	url := mcptest.ServeHTTP(t, mcptest.HTTPOptions{Auth: true})
	cfg := mcp.Config{Name: "a", URL: url, Grant: []string{"echo"}, BearerTokenEnv: "MCPTEST_TOKEN", Headers: map[string]string{mcptest.HeaderName: "yes"}}
	t.Setenv("MCPTEST_TOKEN", "")
	if _, err := mcp.Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "MCPTEST_TOKEN is unset or empty") {
		t.Fatalf("no token: %v", err)
	}
	t.Setenv("MCPTEST_TOKEN", "wrong")
	if _, err := mcp.Start(context.Background(), cfg); !errors.Is(err, mcp.ErrStart) {
		t.Fatalf("wrong token: %v", err)
	}
	t.Setenv("MCPTEST_TOKEN", mcptest.Token)
	s := start(t, cfg)
	if resp := call(t, s, "a__echo", `{"text":"authorised"}`); resp.Content != "echo: authorised" {
		t.Errorf("got %+v", resp)
	}
}

func TestStdio_Malformed(t *testing.T) {
	s := start(t, mcp.Config{Name: "m", Command: mcptest.Command(), Grant: []string{"*"}})
	resp := call(t, s, "m__malformed", `{}`)
	if !resp.IsError || !strings.Contains(resp.Content, `mcp server "m" tool "malformed": bad response`) {
		t.Errorf("got %+v", resp)
	}
	if resp := call(t, s, "m__echo", `{"text":"ok"}`); resp.Content != "echo: ok" {
		t.Errorf("after a malformed result: %+v", resp)
	}
}

func TestStdio_CrashRestartsOnce(t *testing.T) {
	s := start(t, mcp.Config{Name: "c", Command: mcptest.Command(), Grant: []string{"*"}})
	steps := []struct {
		name, tool, args string
		content          []string
		isError          bool
	}{
		{"first crash", "c__crash", `{}`, []string{`mcp server "c" died during the call of tool "crash"`, "exit status 3", "it was restarted", mcptest.CrashMessage}, true},
		{"restarted", "c__echo", `{"text":"back"}`, []string{"echo: back"}, false},
		{"second crash", "c__crash", `{}`, []string{`mcp server "c" died during the call of tool "crash"`, "restarted once already", mcptest.CrashMessage}, true},
		{"down", "c__echo", `{"text":"x"}`, []string{`mcp server "c" tool "echo"`, "restarted once already", mcptest.CrashMessage}, true},
	}
	for _, st := range steps {
		resp := call(t, s, st.tool, st.args)
		for _, c := range st.content {
			if !strings.Contains(resp.Content, c) {
				t.Errorf("%s: %q lacks %q", st.name, resp.Content, c)
			}
		}
		if resp.IsError != st.isError {
			t.Errorf("%s: is_error %v", st.name, resp.IsError)
		}
	}
}

func TestToolSpecs(t *testing.T) {
	specs, err := mcp.ToolSpecs(context.Background(), mcp.Config{Name: "ts", Command: mcptest.Command(), Grant: []string{"add", "echo"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Description == "" {
		t.Fatalf("specs %+v", specs)
	}
	for _, sp := range specs {
		if sp.Name == "ts__add" {
			if got := sp.ParameterNames(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
				t.Errorf("add's parameters in order %v", got)
			}
		}
	}
}

func TestServer_BareNames(t *testing.T) {
	s := start(t, mcp.Config{Name: "b", Command: mcptest.Command(), Grant: []string{"echo"}, BareNames: true})
	if sp := s.Specs(); len(sp) != 1 || sp[0].Name != "echo" {
		t.Fatalf("specs %+v", sp)
	}
	if resp := call(t, s, "echo", `{"text":"bare"}`); resp.Content != "echo: bare" {
		t.Errorf("got %+v", resp)
	}
}

func TestToolName(t *testing.T) {
	for _, tt := range []struct{ server, tool, want string }{
		{"mail", "search", "mail__search"},
		{"gh", "list-issues.v2", "gh__list_issues_v2"},
	} {
		if got := mcp.ToolName(tt.server, tt.tool); got != tt.want {
			t.Errorf("ToolName(%q, %q) = %q, want %q", tt.server, tt.tool, got, tt.want)
		}
	}
}

// TestStart_SilentServer: a command that never answers initialize is given
// up when ctx ends, and its process is stopped.
func TestStart_SilentServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := mcp.Start(ctx, mcp.Config{Name: "quiet", Command: []string{"sleep", "60"}, Grant: []string{"*"}})
	if !errors.Is(err, mcp.ErrStart) || !strings.Contains(err.Error(), `server "quiet" (sleep 60)`) {
		t.Fatalf("error %v", err)
	}
	// Closing stdin does not stop sleep: Close waits 2s, then signals it.
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("Start took %v", d)
	}
}
