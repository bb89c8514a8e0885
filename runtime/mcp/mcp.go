// Package mcp makes the tools of a Model Context Protocol server callable by
// ToolBrain's athletes, through the official Go SDK
// (github.com/modelcontextprotocol/go-sdk).
//
// A server is configured by a [Config] (a [[mcp]] entry of toolbrain.toml):
// a command line for the stdio transport (the server is started by [Start]
// and stopped by [Server.Close]) or a URL for streamable HTTP. [Start]
// connects, lists the server's tools (tools/list) and keeps those the
// config grants. A [Server] is an sdk.Tool, the same seam as a tool pack's
// module: the CodeAct sandbox and the tool-calling athlete call it without
// knowing that the tool lives in another process.
//
// # Names
//
// The athlete calls a server's tool by [ToolName]: the server's name, two
// underscores, then the tool's name ("mail__search_emails"), which both a
// Starlark program and a JSON tool call can name, and which cannot clash
// with another server's tools. [Config.BareNames] drops the prefix, for a
// model that already knows the tools by their own names; a clash is then
// the caller's to refuse (core/coach/wire refuses a name two sources give).
//
// # Calls
//
// Every call's arguments are checked against the tool's input schema before
// they are sent. A call has a time limit ([Config.Timeout]) and its result an
// output limit ([Config.MaxOutputBytes]). What goes wrong in a call — the
// server's own error, a time-out, a result that cannot be decoded or is too
// large, a server that dies — is answered as a tool error (IsError, the
// message naming the server and the tool), so the episode goes on; only a
// cancelled ctx is an error. A server that dies (or, over HTTP, can no
// longer be reached) is restarted (reconnected) once; when it dies again its
// tools answer, from then on, with the error and the tail of its stderr.
// The episode's task travels with each call in _meta ([TaskMetaKey]).
//
// # Schemas
//
// A tool whose input schema does not compile, or whose [ToolName] clashes
// with another of the server's tools, is left out with an error naming the
// server and the tool ([Server.Problems]); the other tools work.
package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/sdk"
)

// Sentinel errors of the package.
var (
	// ErrStart means the server could not be started or connected to, or
	// did not answer initialize or tools/list.
	ErrStart = errors.New("mcp: server did not start")
	// ErrGrant means Config.Grant names a tool the server does not offer.
	ErrGrant = errors.New("mcp: grant names a tool the server does not offer")
	// ErrBadTool means a tool the server offers cannot be used: its input
	// schema is invalid, or its name clashes with another tool's.
	ErrBadTool = errors.New("mcp: unusable tool")
	// ErrClosed means the server was closed.
	ErrClosed = errors.New("mcp: server closed")
)

// TaskMetaKey is the key, in a tools/call request's _meta, of the task of
// the episode that makes the call (an sdk.Task as JSON), set by the host
// and never by the model. A server whose world depends on the task reads
// it there, as a pack's tool reads sdk.ToolCallRequest.Task: the email
// example serves the inbox named by its metadata. Read it with [TaskOf].
const TaskMetaKey = "toolbrain/task"

// TaskOf decodes the task a tools/call request's _meta carries under
// TaskMetaKey; nil when there is none.
func TaskOf(meta map[string]any) (*sdk.Task, error) {
	v, ok := meta[TaskMetaKey]
	if !ok || v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("mcp: _meta %s: %w", TaskMetaKey, err)
	}
	var t sdk.Task
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("mcp: _meta %s: %w", TaskMetaKey, err)
	}
	return &t, nil
}

// codeRejected is the JSON-RPC error code the go-sdk's transports give a
// message they could not deliver (its internal jsonrpc2.ErrRejected).
const codeRejected = -32005

// stderrTail is how much of a stdio server's stderr is kept for errors.
const stderrTail = 2 << 10

// terminateAfter is how long Close waits for a stdio server to exit after
// closing its stdin before it is signalled.
const terminateAfter = 2 * time.Second

// Tool is one tool a server offers.
type Tool struct {
	// Name is the server's name for the tool.
	Name string
	// Spec is the tool as the athlete sees it: named by [ToolName], with
	// the server's description and input schema.
	Spec sdk.ToolSpec
	// Granted reports that Config.Grant grants the tool.
	Granted bool
	// Err says why the tool cannot be used (it wraps [ErrBadTool]); nil
	// for a usable tool.
	Err error
}

// Server is a started MCP server and the tools it serves. It implements
// sdk.Tool and is safe for concurrent use.
type Server struct {
	cfg    Config
	client *gomcp.Client
	tools  []Tool
	byName map[string]*entry
	specs  []sdk.ToolSpec

	mu        sync.Mutex
	sess      *session
	restarted bool
	down      error // set once the server is gone for good
	closed    bool
}

// entry is a granted, usable tool.
type entry struct {
	name string // the server's
	v    *schema.Validator
}

// session is one connection (for stdio, one process).
type session struct {
	cs     *gomcp.ClientSession
	stderr *tail
	done   chan struct{} // closed when the connection ends
}

var _ sdk.Tool = (*Server)(nil)

// Start validates cfg, starts or connects to the server and lists its
// tools. Cancelling ctx abandons the start (a started process is stopped);
// it does not bound the server's life, which ends with Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		client: newClient(),
		byName: map[string]*entry{},
	}
	se, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	s.sess = se
	if err := s.list(ctx, se); err != nil {
		se.close()
		return nil, err
	}
	if err := s.checkGrant(); err != nil {
		se.close()
		return nil, err
	}
	return s, nil
}

// List starts the server of cfg, lists every tool it offers (granted or
// not, usable or not, in the server's order) and stops it. Unlike Start,
// a grant of a tool the server does not offer is not an error here: List
// is how one finds the names to grant.
func List(ctx context.Context, cfg Config) ([]Tool, error) {
	if err := cfg.Validate(); err != nil && !isGrantError(err) {
		return nil, err
	}
	s := &Server{cfg: cfg, client: newClient(), byName: map[string]*entry{}}
	se, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer se.close()
	if err := s.list(ctx, se); err != nil {
		return nil, err
	}
	return s.Tools(), nil
}

func isGrantError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce) && ce.Field == "grant"
}

func newClient() *gomcp.Client {
	return gomcp.NewClient(&gomcp.Implementation{Name: "toolbrain", Version: sdk.Version}, nil)
}

// connect starts the process (stdio) or opens the HTTP session, and runs
// the initialize handshake.
func (s *Server) connect(ctx context.Context) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	se := &session{stderr: &tail{max: stderrTail}, done: make(chan struct{})}
	var t gomcp.Transport
	if len(s.cfg.Command) > 0 {
		cmd := exec.Command(s.cfg.Command[0], s.cfg.Command[1:]...)
		cmd.Stderr = se.stderr
		t = &gomcp.CommandTransport{Command: cmd, TerminateDuration: terminateAfter}
	} else {
		hc, err := s.httpClient()
		if err != nil {
			return nil, err
		}
		t = &gomcp.StreamableClientTransport{Endpoint: s.cfg.URL, HTTPClient: hc, DisableStandaloneSSE: true}
	}
	cs, err := s.client.Connect(ctx, t, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: server %q (%s): %w%s", ErrStart, s.cfg.Name, s.where(), err, se.stderr.suffix())
	}
	se.cs = cs
	go func() {
		_ = cs.Wait()
		close(se.done)
	}()
	return se, nil
}

// where is the command or URL, for errors.
func (s *Server) where() string {
	if s.cfg.URL != "" {
		return s.cfg.URL
	}
	return strings.Join(s.cfg.Command, " ")
}

// httpClient sends the configured headers and bearer token with every
// request.
func (s *Server) httpClient() (*http.Client, error) {
	h := http.Header{}
	for k, v := range s.cfg.Headers {
		h.Set(k, v)
	}
	if env := s.cfg.BearerTokenEnv; env != "" {
		tok := os.Getenv(env)
		if tok == "" {
			return nil, fmt.Errorf("%w: server %q: bearer_token_env: the environment variable %s is unset or empty", ErrStart, s.cfg.Name, env)
		}
		h.Set("Authorization", "Bearer "+tok)
	}
	return &http.Client{Transport: headerTransport{base: http.DefaultTransport, h: h}}, nil
}

type headerTransport struct {
	base http.RoundTripper
	h    http.Header
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}

// list reads tools/list (every page) and keeps the granted, usable tools.
func (s *Server) list(ctx context.Context, se *session) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	for t, err := range se.cs.Tools(ctx, nil) {
		if err != nil {
			return fmt.Errorf("%w: server %q: tools/list: %w%s", ErrStart, s.cfg.Name, err, se.stderr.suffix())
		}
		tool := Tool{Name: t.Name, Granted: s.cfg.granted(t.Name)}
		tool.Spec = sdk.ToolSpec{Name: s.cfg.toolName(t.Name), Description: t.Description}
		var v *schema.Validator
		params, err := parameters(t.InputSchema)
		if err == nil {
			tool.Spec.Parameters = params
			v, err = schema.Compile(tool.Spec.Name, params)
		}
		if err != nil {
			tool.Err = fmt.Errorf("%w: server %q tool %q: invalid input schema: %w", ErrBadTool, s.cfg.Name, t.Name, err)
		} else if _, dup := s.byName[tool.Spec.Name]; dup {
			tool.Err = fmt.Errorf("%w: server %q tool %q: its name %s is another tool's too", ErrBadTool, s.cfg.Name, t.Name, tool.Spec.Name)
		}
		if tool.Granted && tool.Err == nil {
			s.byName[tool.Spec.Name] = &entry{name: t.Name, v: v}
			s.specs = append(s.specs, tool.Spec)
		}
		s.tools = append(s.tools, tool)
	}
	return nil
}

// checkGrant fails when Config.Grant names a tool the server does not
// offer.
func (s *Server) checkGrant() error {
	offered := map[string]bool{}
	for _, t := range s.tools {
		offered[t.Name] = true
	}
	for _, g := range s.cfg.Grant {
		if g != GrantAll && !offered[g] {
			names := make([]string, 0, len(offered))
			for n := range offered {
				names = append(names, n)
			}
			sort.Strings(names)
			return fmt.Errorf("%w: server %q has no tool %q (it offers: %s)", ErrGrant, s.cfg.Name, g, strings.Join(names, ", "))
		}
	}
	return nil
}

// parameters is a tool's input schema as JSON, its properties in the order
// an interpreter binds positional arguments: the required ones as the
// schema lists them, then the others by name. (The SDK decodes the schema
// into a map, which loses the server's order.)
func parameters(in any) (json.RawMessage, error) {
	m, ok := in.(map[string]any)
	if !ok {
		return json.Marshal(in)
	}
	props, ok := m["properties"].(map[string]any)
	if !ok || len(props) < 2 {
		return json.Marshal(m)
	}
	var order []string
	seen := map[string]bool{}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if n, ok := r.(string); ok && props[n] != nil && !seen[n] {
				order, seen[n] = append(order, n), true
			}
		}
	}
	rest := make([]string, 0, len(props))
	for n := range props {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range append(order, rest...) {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(n)
		v, err := json.Marshal(props[n])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	m = maps.Clone(m)
	m["properties"] = json.RawMessage(b.Bytes())
	return json.Marshal(m)
}

// Name is the server's configured name.
func (s *Server) Name() string { return s.cfg.Name }

// Tools are every tool the server offers, granted or not, usable or not,
// in the server's order.
func (s *Server) Tools() []Tool { return append([]Tool(nil), s.tools...) }

// Specs are the granted, usable tools as the athlete sees them.
func (s *Server) Specs() []sdk.ToolSpec { return append([]sdk.ToolSpec(nil), s.specs...) }

// Problems are the errors of the granted tools that cannot be used (each
// wraps [ErrBadTool] and names the server and the tool).
func (s *Server) Problems() []error {
	var out []error
	for _, t := range s.tools {
		if t.Granted && t.Err != nil {
			out = append(out, t.Err)
		}
	}
	return out
}

// ToolSpecs starts the server of cfg, lists its granted, usable tools as
// the athlete would see them, and stops it: the input of task generation
// and tool retrieval for an MCP server.
func ToolSpecs(ctx context.Context, cfg Config) ([]sdk.ToolSpec, error) {
	s, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Specs(), nil
}

// Close ends the session; a stdio server's stdin is closed, and the process
// is signalled if it has not exited within two seconds. Calls in flight
// fail. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.sess != nil {
		s.sess.close()
		s.sess = nil
	}
	return nil
}

// close ends the session, and reaps a stdio server.
func (se *session) close() error { return se.cs.Close() }

// CallTool calls a granted tool. See the package documentation for what
// becomes a tool error; the error is non-nil only when ctx is done.
func (s *Server) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	e, ok := s.byName[req.Name]
	if !ok {
		return toolError("mcp server %q: no tool %q (its tools: %s)", s.cfg.Name, req.Name, strings.Join(s.names(), ", ")), nil
	}
	if err := e.v.Validate(req.Arguments); err != nil {
		return sdk.ToolCallResponse{Content: err.Error(), IsError: true}, nil
	}
	se, err := s.current()
	if err != nil {
		return toolError("mcp server %q tool %q: %v", s.cfg.Name, e.name, err), nil
	}
	args := json.RawMessage(bytes.TrimSpace(req.Arguments))
	if len(args) == 0 || bytes.Equal(args, []byte("null")) {
		args = json.RawMessage("{}")
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	params := &gomcp.CallToolParams{Name: e.name, Arguments: args}
	if req.Task != nil {
		params.Meta = gomcp.Meta{TaskMetaKey: req.Task}
	}
	res, err := se.cs.CallTool(cctx, params)
	if err == nil {
		return s.render(e, res), nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return sdk.ToolCallResponse{}, fmt.Errorf("mcp server %q tool %q: %w", s.cfg.Name, e.name, cerr)
	}
	var werr *jsonrpc.Error
	switch {
	case cctx.Err() != nil:
		return toolError("mcp server %q tool %q: no result within the time limit of %v", s.cfg.Name, e.name, s.cfg.timeout()), nil
	case errors.As(err, &werr) && werr.Code == codeRejected:
		// The HTTP transport could not deliver the call: the server is
		// gone (or unreachable), as a stdio server that exits.
		return s.died(se, e.name, err), nil
	case errors.As(err, &werr):
		return toolError("mcp server %q tool %q: the server answered with an error: %s", s.cfg.Name, e.name, werr.Message), nil
	}
	select {
	case <-se.done:
		return s.died(se, e.name, err), nil
	case <-time.After(500 * time.Millisecond):
	}
	return toolError("mcp server %q tool %q: bad response: %v", s.cfg.Name, e.name, err), nil
}

// current is the live session, or why there is none.
func (s *Server) current() (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, ErrClosed
	case s.down != nil:
		return nil, s.down
	}
	return s.sess, nil
}

// died handles a session that ended during a call of tool: the first time,
// the server is restarted; after that it is down for good.
func (s *Server) died(se *session, tool string, cause error) sdk.ToolCallResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != se {
		// Another call saw the death first.
		if s.down != nil {
			return toolError("mcp server %q tool %q: %v", s.cfg.Name, tool, s.down)
		}
		return toolError("mcp server %q died during the call of tool %q and was restarted", s.cfg.Name, tool)
	}
	exit := se.close()
	lost := "died"
	if s.cfg.URL != "" {
		lost = "could not be reached"
	}
	how := fmt.Sprintf("mcp server %q %s during the call of tool %q (%v", s.cfg.Name, lost, tool, cause)
	if exit != nil {
		how += "; " + exit.Error()
	}
	how += ")"
	if s.restarted || s.closed {
		s.sess = nil
		s.down = fmt.Errorf("%s; it had been restarted once already, so its tools are off for the rest of the run%s", how, se.stderr.suffix())
		return toolError("%v", s.down)
	}
	s.restarted = true
	ns, err := s.connect(context.Background())
	if err != nil {
		s.sess = nil
		s.down = fmt.Errorf("%s%s; restarting it failed: %w", how, se.stderr.suffix(), err)
		return toolError("%v", s.down)
	}
	s.sess = ns
	return toolError("%s; it was restarted (once; if it dies again its tools are off)%s", how, se.stderr.suffix())
}

func (s *Server) names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// render turns a result into what the model reads: the text contents one
// after another (other kinds of content summarised), and the structured
// content as Data (and as the text when there is no other).
func (s *Server) render(e *entry, res *gomcp.CallToolResult) sdk.ToolCallResponse {
	var b strings.Builder
	for i, c := range res.Content {
		if i > 0 {
			b.WriteByte('\n')
		}
		switch c := c.(type) {
		case *gomcp.TextContent:
			b.WriteString(c.Text)
		case *gomcp.ImageContent:
			fmt.Fprintf(&b, "[image %s, %d bytes]", c.MIMEType, len(c.Data))
		case *gomcp.AudioContent:
			fmt.Fprintf(&b, "[audio %s, %d bytes]", c.MIMEType, len(c.Data))
		case *gomcp.ResourceLink:
			fmt.Fprintf(&b, "[resource %s]", c.URI)
		case *gomcp.EmbeddedResource:
			switch r := c.Resource; {
			case r == nil:
				b.WriteString("[resource]")
			case r.Text != "":
				b.WriteString(r.Text)
			default:
				fmt.Fprintf(&b, "[resource %s, %d bytes]", r.URI, len(r.Blob))
			}
		default:
			fmt.Fprintf(&b, "[%T]", c)
		}
	}
	var data json.RawMessage
	if res.StructuredContent != nil {
		var err error
		if data, err = json.Marshal(res.StructuredContent); err != nil {
			return toolError("mcp server %q tool %q: bad structured content: %v", s.cfg.Name, e.name, err)
		}
		if len(res.Content) == 0 {
			b.Write(data)
		}
	}
	if n := b.Len() + len(data); n > s.cfg.maxOutput() {
		return toolError("mcp server %q tool %q: the result is %d bytes, more than the limit of %d", s.cfg.Name, e.name, n, s.cfg.maxOutput())
	}
	return sdk.ToolCallResponse{Content: b.String(), IsError: res.IsError, Data: data}
}

func toolError(format string, args ...any) sdk.ToolCallResponse {
	return sdk.ToolCallResponse{Content: "Error: " + fmt.Sprintf(format, args...), IsError: true}
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

// suffix is "; stderr: ..." with the kept stderr, or "" when there is none.
func (t *tail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(strings.ToValidUTF8(string(t.b), ""))
	if s == "" {
		return ""
	}
	return "; stderr: " + s
}
