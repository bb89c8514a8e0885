package email_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/packs/email"
	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/sdk"
	"github.com/toolbrain/toolbrain/sdk/plugintest"
)

// fixture is a hand-written inbox pair: what each search must find is
// worked out by reading it.
var fixture = []corpus.Message{
	{ID: "a1", Inbox: "A", Date: "2024-01-02", From: "bob@acme.com", To: []string{"alice@acme.com"}, Subject: "orion meeting", Body: "hi alice, the orion meeting is at 3pm in the blue room."},
	{ID: "a2", Inbox: "A", Date: "2024-01-05", From: "carol@acme.com", To: []string{"alice@acme.com"}, Subject: "orion invoice", Body: "hi alice, the orion invoice is 420 dollars."},
	{ID: "a3", Inbox: "A", Date: "2024-01-09", From: "carol@acme.com", To: []string{"alice@acme.com"}, Subject: "re: orion meeting", Body: "hi alice, update: the orion meeting is at 5pm in the red room."},
	{ID: "a4", Inbox: "A", Date: "2024-01-12", From: "alice@acme.com", To: []string{"dave@acme.com"}, Subject: "vega lunch", Body: "hi dave, the vega lunch is ready. thanks, alice"},
	{ID: "b1", Inbox: "B", Date: "2024-01-03", From: "erin@acme.com", To: []string{"frank@acme.com"}, Subject: "orion meeting", Body: "hi frank, the orion meeting is at 9am in the green room. secret"},
}

func newTools(t *testing.T) (*email.Store, *email.Tools) {
	t.Helper()
	s, err := email.NewStore(context.Background(), fixture)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, email.NewTools(s)
}

func ids(hits []email.Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

func TestStore_Search(t *testing.T) {
	s, _ := newTools(t)
	tests := []struct {
		name string
		q    email.Query
		want []string
	}{
		{name: "keywords, newest first", q: email.Query{Keywords: []string{"orion", "meeting"}}, want: []string{"a3", "a1"}},
		{name: "one keyword", q: email.Query{Keywords: []string{"orion"}}, want: []string{"a3", "a2", "a1"}},
		{name: "case and subject", q: email.Query{Keywords: []string{"VEGA"}}, want: []string{"a4"}},
		{name: "phrase", q: email.Query{Keywords: []string{"blue room"}}, want: []string{"a1"}},
		{name: "words out of order are no phrase", q: email.Query{Keywords: []string{"room blue"}}, want: []string{}},
		{name: "from name", q: email.Query{Keywords: []string{"orion"}, From: "carol"}, want: []string{"a3", "a2"}},
		{name: "from address", q: email.Query{From: "Bob@acme.com"}, want: []string{"a1"}},
		{name: "to", q: email.Query{To: "dave"}, want: []string{"a4"}},
		{name: "after", q: email.Query{Keywords: []string{"orion"}, SentAfter: "2024-01-05"}, want: []string{"a3"}},
		{name: "before", q: email.Query{SentBefore: "2024-01-05"}, want: []string{"a1"}},
		{name: "max results", q: email.Query{Keywords: []string{"hi"}, MaxResults: 2}, want: []string{"a4", "a3"}},
		{name: "other inbox never", q: email.Query{Keywords: []string{"secret"}}, want: []string{}},
		{name: "no filter lists the inbox", q: email.Query{}, want: []string{"a4", "a3", "a2", "a1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits, err := s.Search(context.Background(), "A", tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(hits); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestStore_Search_Hostile feeds FTS5 syntax, quotes and SQL as keywords
// and filters: each is an ErrBadQuery or an empty result, never a match
// it should not have, and the index is intact afterwards.
func TestStore_Search_Hostile(t *testing.T) {
	s, _ := newTools(t)
	hostile := []string{
		`"`, `""`, `" OR 1=1 --`, `orion" OR "secret`, `secret OR orion`, `*`, `orio*`, `NEAR(orion meeting)`,
		`body:secret`, `{subject body}: secret`, `^orion`, `(orion`, `'; DROP TABLE messages; --`,
		`') OR 1=1 --`, `orion AND NOT meeting`, `-orion`, `x" UNION SELECT id, inbox, body, 1 FROM messages --`,
		"orion\x00", "\x1b[2J", `\`, `%`, `_`,
	}
	for _, h := range hostile {
		for _, q := range []email.Query{{Keywords: []string{h}}, {From: h}, {To: h}, {Keywords: []string{"orion"}, From: h}} {
			hits, err := s.Search(context.Background(), "A", q)
			if err != nil {
				if !errors.Is(err, email.ErrBadQuery) {
					t.Errorf("%q: err %v, want ErrBadQuery", h, err)
				}
				continue
			}
			for _, hit := range hits {
				if hit.ID == "b1" {
					t.Errorf("%q reached inbox B", h)
				}
			}
			if len(hits) > 0 && q.From != "" {
				t.Errorf("%+v: %v, want nothing", q, ids(hits))
			}
		}
	}
	for _, q := range []email.Query{{SentAfter: "2024-01-01' OR '1'='1"}, {SentBefore: "yesterday"}, {MaxResults: 21}, {MaxResults: -1}, {Keywords: make([]string, 9)}} {
		if _, err := s.Search(context.Background(), "A", q); !errors.Is(err, email.ErrBadQuery) {
			t.Errorf("%+v: err %v, want ErrBadQuery", q, err)
		}
	}
	if _, err := s.Search(context.Background(), `A' OR '1'='1`, email.Query{}); err != nil {
		t.Error(err)
	}
	hits, err := s.Search(context.Background(), "A", email.Query{})
	if err != nil || len(hits) != 4 {
		t.Fatalf("after the hostile queries: %v %v", ids(hits), err)
	}
}

func call(t *testing.T, tool sdk.Tool, task *sdk.Task, name, args string) sdk.ToolCallResponse {
	t.Helper()
	resp, err := tool.CallTool(context.Background(), sdk.ToolCallRequest{Name: name, Arguments: json.RawMessage(args), Task: task})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestTools_CallTool(t *testing.T) {
	_, tools := newTools(t)
	inA := &sdk.Task{ID: "q", Metadata: map[string]string{email.MetadataInbox: "A"}}
	tests := []struct {
		name, tool, args string
		task             *sdk.Task
		bound            string
		wantData         string
		wantErr          string
	}{
		{name: "search", tool: email.SearchTool, args: `{"keywords":["orion","meeting"],"max_results":1}`, task: inA,
			wantData: `[{"id":"a3","date":"2024-01-09","from":"carol@acme.com","subject":"re: orion meeting"}]`},
		{name: "search nothing", tool: email.SearchTool, args: `{"keywords":["zzz"]}`, task: inA, wantData: `[]`},
		{name: "read", tool: email.ReadTool, args: `{"message_id":"a2"}`, task: inA,
			wantData: `{"id":"a2","date":"2024-01-05","from":"carol@acme.com","to":["alice@acme.com"],"subject":"orion invoice","body":"hi alice, the orion invoice is 420 dollars."}`},
		{name: "read other inbox", tool: email.ReadTool, args: `{"message_id":"b1"}`, task: inA, wantErr: "not a message id of this inbox"},
		{name: "bound inbox wins over the task", tool: email.ReadTool, args: `{"message_id":"b1"}`, task: inA, bound: "B",
			wantData: `{"id":"b1","date":"2024-01-03","from":"erin@acme.com","to":["frank@acme.com"],"subject":"orion meeting","body":"hi frank, the orion meeting is at 9am in the green room. secret"}`},
		{name: "unknown argument", tool: email.SearchTool, args: `{"inbox":"B"}`, task: inA, wantErr: `unknown field "inbox"`},
		{name: "bad date", tool: email.SearchTool, args: `{"sent_after":"jan"}`, task: inA, wantErr: "not a date"},
		{name: "unknown tool", tool: "delete_all", args: `{}`, task: inA, wantErr: "unknown tool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tool sdk.Tool = tools
			if tt.bound != "" {
				tool = tools.ForInbox(tt.bound)
			}
			resp := call(t, tool, tt.task, tt.tool, tt.args)
			if tt.wantErr != "" {
				if !resp.IsError || !strings.Contains(resp.Content, tt.wantErr) {
					t.Errorf("got %+v, want an error containing %q", resp, tt.wantErr)
				}
				return
			}
			if resp.IsError || string(resp.Data) != tt.wantData || resp.Content == "" {
				t.Errorf("got %+v\nwant data %s", resp, tt.wantData)
			}
		})
	}
	if _, err := tools.CallTool(context.Background(), sdk.ToolCallRequest{Name: email.SearchTool}); !errors.Is(err, email.ErrNoInbox) {
		t.Errorf("no task: err %v, want ErrNoInbox", err)
	}
}

// TestSpecs_MatchManifest keeps toolpack.toml and Specs() the same.
func TestSpecs_MatchManifest(t *testing.T) {
	p, err := pack.Load(".")
	if err != nil {
		t.Fatal(err)
	}
	got, want := p.Manifest.Tools, email.Specs()
	if len(got) != len(want) {
		t.Fatalf("%d tools in toolpack.toml, %d in Specs", len(got), len(want))
	}
	for i := range want {
		var a, b any
		json.Unmarshal(got[i].Parameters, &a)
		json.Unmarshal(want[i].Parameters, &b)
		if got[i].Name != want[i].Name || got[i].Description != want[i].Description || !reflect.DeepEqual(a, b) {
			t.Errorf("tool %d: toolpack.toml %s %s\nSpecs %s %s", i, got[i].Name, got[i].Parameters, want[i].Name, want[i].Parameters)
		}
		if names := want[i].ParameterNames(); i == 0 && names[0] != "keywords" {
			t.Errorf("search_emails binds %v positionally", names)
		}
	}
}

// TestTools_Conformance checks the tools, bound to an inbox, against the
// SDK's tool contract.
func TestTools_Conformance(t *testing.T) {
	_, tools := newTools(t)
	req := func(name, args string) sdk.ToolCallRequest {
		return sdk.ToolCallRequest{Name: name, Arguments: json.RawMessage(args)}
	}
	plugintest.TestTool(t, tools.ForInbox("A"), email.Specs(),
		plugintest.ToolCase{Name: "search", Request: req(email.SearchTool, `{"keywords":["invoice"]}`), WantContent: "a2 2024-01-05 carol@acme.com orion invoice\n"},
		plugintest.ToolCase{Name: "search none", Request: req(email.SearchTool, `{"keywords":["zzz"]}`), WantContent: "no messages found"},
		plugintest.ToolCase{Name: "read", Request: req(email.ReadTool, `{"message_id":"a4"}`)},
		plugintest.ToolCase{Name: "read missing", Request: req(email.ReadTool, `{"message_id":"zz"}`), WantError: true},
	)
}
