package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/toolbrain/toolbrain/plugins/packs/email"
	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
	"github.com/toolbrain/toolbrain/runtime/mcp"
	"github.com/toolbrain/toolbrain/sdk"
)

const serveArg = "-serve-email-mcp"

// TestMain serves the example when the test binary is started as the
// server.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == serveArg {
		if err := run(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestServer_MatchesThePack: over MCP, the athlete sees the email pack's
// tools (names, descriptions, schemas) and gets the same answers, text and
// data, as from the tools in-process, for the inbox of each call's task.
func TestServer_MatchesThePack(t *testing.T) {
	dir := t.TempDir()
	c, err := corpus.Generate(corpus.Options{Seed: 3, Inboxes: 2, TasksPerInbox: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := corpus.Write(c, dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := email.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	direct := email.NewTools(store)
	srv, err := mcp.Start(ctx, mcp.Config{Name: "mail", Command: []string{os.Args[0], serveArg, "--corpus", dir}, Grant: []string{"*"}, BareNames: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	// The SDK's server lists tools by name; compare by name.
	byName := map[string]sdk.ToolSpec{}
	for _, sp := range srv.Specs() {
		byName[sp.Name] = sp
	}
	want := email.Specs()
	if len(byName) != len(want) {
		t.Fatalf("specs over MCP %v", byName)
	}
	for _, w := range want {
		got := byName[w.Name]
		if got.Description != w.Description || !jsonEqual(t, got.Parameters, w.Parameters) {
			t.Errorf("spec of %s over MCP %q %s, the pack's %q %s", w.Name, got.Description, got.Parameters, w.Description, w.Parameters)
		}
	}
	for _, task := range append(c.Train[:2], c.Test[:2]...) {
		st := task.SDK()
		kw, _ := json.Marshal(map[string]any{"keywords": task.Keywords[:1]})
		for _, req := range []sdk.ToolCallRequest{
			{Name: email.SearchTool, Arguments: kw, Task: &st},
			{Name: email.ReadTool, Arguments: json.RawMessage(`{"message_id": "` + task.MessageIDs[0] + `"}`), Task: &st},
			{Name: email.ReadTool, Arguments: json.RawMessage(`{"message_id": "no-such-id"}`), Task: &st},
		} {
			got, err := srv.CallTool(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			exp, err := direct.CallTool(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Content != exp.Content || got.IsError != exp.IsError || (len(exp.Data) > 0 && !jsonEqual(t, got.Data, exp.Data)) {
				t.Errorf("%s %s for %s: over MCP %+v, in-process %+v", req.Name, req.Arguments, task.ID, got, exp)
			}
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.NewDecoder(bytes.NewReader(a)).Decode(&x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
