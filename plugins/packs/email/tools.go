// Package email is the email-search environment of issue 12 (in the style of
// OpenPipe's ART·E): an agent answers questions about an inbox by searching
// it with search_emails and reading messages with read_email, in CodeAct
// code run by the sandbox.
//
// The pieces, each in its own package or file:
//   - corpus: the seeded generator of inboxes and questions (train and
//     held-out test split by inbox);
//   - this package: the tools over a SQLite FTS5 index ([Store], [Tools]),
//     the tool pack's declaration (toolpack.toml, which [Specs] mirrors) and
//     the go-plugin executable that serves them (./plugin);
//   - reward: the ART·E-style reward's logic, run natively or as the
//     WebAssembly plugin built from reward/wasm;
//   - expert: a scripted agent, the teacher whose conversations are SFT
//     data.
//
// # One set of tools, many inboxes
//
// [Tools] indexes every inbox of a corpus once. Which inbox a call reaches
// is decided by the host, never by the model: the call's task
// (sdk.ToolCallRequest.Task, stamped by sandbox.Episode from the task the
// episode was started for, see sandbox.Sandbox.StartTask) names it in its
// metadata under [MetadataInbox]. [Tools.ForInbox] binds a fixed inbox
// instead, for tests and one-off runs.
//
// # Why not a WebAssembly module
//
// modernc.org/sqlite, the pure-Go SQLite with FTS5 built in, does not build
// for wasip1. So the pack's module is a go-plugin executable (module kind
// "goplugin", served by runtime/goplugin), and a coach in the same process
// may skip the process and hand [Tools] to the sandbox directly: the tools
// behave the same either way.
package email

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
	"github.com/toolbrain/toolbrain/sdk"
)

// MetadataInbox is the task metadata key naming the inbox a task is about.
const MetadataInbox = corpus.MetadataInbox

// Tool names.
const (
	SearchTool = "search_emails"
	ReadTool   = "read_email"
)

// Specs are the pack's tools as the model sees them; toolpack.toml declares
// the same (a test keeps them equal). Parameter order is the order
// positional arguments bind in the sandbox. The sender and recipient
// filters are from_addr and to_addr because "from" is a reserved word in
// Starlark and Python: search_emails(from="bob") would not parse.
func Specs() []sdk.ToolSpec {
	return []sdk.ToolSpec{
		{
			Name:        SearchTool,
			Description: "Search the inbox. Returns the matching messages, newest first, as a list of {id, date, from, subject}.",
			Parameters: json.RawMessage(`{"type": "object", "properties": {` +
				`"keywords": {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 8, "description": "Words that must all appear in the subject or body."}, ` +
				`"from_addr": {"type": "string", "maxLength": 128, "description": "Only messages from this sender (name or address)."}, ` +
				`"to_addr": {"type": "string", "maxLength": 128, "description": "Only messages to this recipient (name or address)."}, ` +
				`"sent_after": {"type": "string", "maxLength": 10, "description": "Only messages sent after this day, YYYY-MM-DD."}, ` +
				`"sent_before": {"type": "string", "maxLength": 10, "description": "Only messages sent before this day, YYYY-MM-DD."}, ` +
				`"max_results": {"type": "integer", "minimum": 1, "maximum": 20, "description": "At most this many results (default 10)."}` +
				`}, "additionalProperties": false}`),
		},
		{
			Name:        ReadTool,
			Description: "Read one message by its id. Returns {id, date, from, to, subject, body}.",
			Parameters: json.RawMessage(`{"type": "object", "properties": {` +
				`"message_id": {"type": "string", "maxLength": 64, "description": "An id that search_emails returned."}` +
				`}, "required": ["message_id"], "additionalProperties": false}`),
		},
	}
}

// Tools serves search_emails and read_email over a [Store]. It is safe for
// concurrent use.
type Tools struct {
	store *Store
}

var _ sdk.Tool = (*Tools)(nil)

// NewTools serves the tools over s.
func NewTools(s *Store) *Tools { return &Tools{store: s} }

// CallTool implements sdk.Tool for the inbox named by the request's task
// (req.Task.Metadata[MetadataInbox]); without one it fails with ErrNoInbox,
// a wiring error, not the model's. What the model got wrong (a bad keyword,
// an unknown id) comes back with IsError and a message saying what to
// change; a search that finds nothing is not an error.
func (t *Tools) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	inbox := ""
	if req.Task != nil {
		inbox = req.Task.Metadata[MetadataInbox]
	}
	if inbox == "" {
		return sdk.ToolCallResponse{}, fmt.Errorf("%w (tool %s)", ErrNoInbox, req.Name)
	}
	return t.call(ctx, inbox, req)
}

// ForInbox returns the tools bound to inbox, whatever the call's task says.
func (t *Tools) ForInbox(inbox string) sdk.Tool { return boundTools{t, inbox} }

type boundTools struct {
	t     *Tools
	inbox string
}

func (b boundTools) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	return b.t.call(ctx, b.inbox, req)
}

func (t *Tools) call(ctx context.Context, inbox string, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	var data any
	var content string
	switch req.Name {
	case SearchTool:
		var q Query
		if err := decode(req.Arguments, &q); err != nil {
			return refuse(fmt.Errorf("%s: %w", SearchTool, err))
		}
		hits, err := t.store.Search(ctx, inbox, q)
		if err != nil {
			if ctx.Err() != nil {
				return sdk.ToolCallResponse{}, fmt.Errorf("%s: %w", SearchTool, ctx.Err())
			}
			return refuse(fmt.Errorf("%s: %w", SearchTool, err))
		}
		data, content = hits, hitsText(hits)
	case ReadTool:
		var a struct {
			ID string `json:"message_id"`
		}
		if err := decode(req.Arguments, &a); err != nil {
			return refuse(fmt.Errorf("%s: %w", ReadTool, err))
		}
		m, err := t.store.Read(ctx, inbox, a.ID)
		if err != nil {
			if ctx.Err() != nil {
				return sdk.ToolCallResponse{}, fmt.Errorf("%s: %w", ReadTool, ctx.Err())
			}
			return refuse(fmt.Errorf("%s: %w", ReadTool, err))
		}
		view := messageView{ID: m.ID, Date: m.Date, From: m.From, To: m.To, Subject: m.Subject, Body: m.Body}
		data = view
		content = fmt.Sprintf("id: %s\ndate: %s\nfrom: %s\nto: %s\nsubject: %s\n\n%s", m.ID, m.Date, m.From, strings.Join(m.To, ", "), m.Subject, m.Body)
	default:
		return refuse(fmt.Errorf("email: unknown tool %q (the tools are %s and %s)", req.Name, SearchTool, ReadTool))
	}
	b, err := json.Marshal(data)
	if err != nil {
		return sdk.ToolCallResponse{}, fmt.Errorf("email: %w", err)
	}
	return sdk.ToolCallResponse{Content: content, Data: b}, nil
}

// messageView is a message as read_email returns it, keys in reading order.
type messageView struct {
	ID      string   `json:"id"`
	Date    string   `json:"date"`
	From    string   `json:"from"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
}

func refuse(err error) (sdk.ToolCallResponse, error) {
	return sdk.ToolCallResponse{Content: err.Error(), IsError: true}, nil
}

func hitsText(hits []Hit) string {
	if len(hits) == 0 {
		return "no messages found"
	}
	var b strings.Builder
	for _, h := range hits {
		fmt.Fprintf(&b, "%s %s %s %s\n", h.ID, h.Date, h.From, h.Subject)
	}
	return b.String()
}

// decode reads a call's arguments strictly: an unknown argument is an
// error naming it (the pack's schema says the same, when the host checks
// it first).
func decode(args json.RawMessage, v any) error {
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: arguments: %w", ErrBadQuery, err)
	}
	return nil
}
