package emailtasks_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/taskgen"
	"github.com/toolbrain/toolbrain/core/taskgen/emailtasks"
	"github.com/toolbrain/toolbrain/plugins/packs/email"
	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
)

// TestGenerator_EndToEnd generates tasks from a corpus's inboxes, checks
// them against the real email tools (SQLite FTS5) and compares the gold
// answers with the corpus's own questions where they coincide.
func TestGenerator_EndToEnd(t *testing.T) {
	ctx := context.Background()
	// The sample as `toolbrain data email` writes it.
	dir := t.TempDir()
	gen, err := corpus.Generate(corpus.Options{Seed: 5, Inboxes: 3, TasksPerInbox: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := corpus.Write(gen, dir); err != nil {
		t.Fatal(err)
	}
	c, err := corpus.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := corpus.ReadMessages(filepath.Join(dir, corpus.MessagesFile))
	if err != nil {
		t.Fatal(err)
	}
	store, err := email.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	tools := email.NewTools(store)

	pool := emailtasks.Pool(msgs)
	const n = 40
	if len(pool) < n {
		t.Fatalf("pool of %d questions, want at least %d", len(pool), n)
	}
	res, err := taskgen.Run(ctx, taskgen.Options{
		Generator: &emailtasks.Generator{Messages: msgs}, Specs: email.Specs(), Tools: tools,
		N: n, Seed: 1, Scope: []string{corpus.MetadataInbox}, IDPrefix: "email",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tasks) != n {
		t.Fatalf("kept %d of %d: %s %+v", len(res.Tasks), n, res.Summary, res.Summary.Examples)
	}
	if res.Summary.Rejected[taskgen.ReasonUnanswerable] != 0 || res.Summary.Rejected[taskgen.ReasonSchema] != 0 {
		t.Fatalf("the scripted generator wrote tasks the checks reject: %s %+v", res.Summary, res.Summary.Examples)
	}

	truth := map[string]string{} // inbox + prompt → the corpus's answer
	for _, task := range append(append([]corpus.Task(nil), c.Train...), c.Test...) {
		truth[task.Inbox+" "+task.Prompt] = task.Answer
	}
	diffs := map[string]int{}
	matched := 0
	for _, task := range res.Tasks {
		diffs[task.Difficulty]++
		inbox := task.Metadata[corpus.MetadataInbox]
		if inbox == "" || task.Metadata[corpus.MetadataMessageIDs] == "" {
			t.Fatalf("task %s has no inbox or message id: %+v", task.ID, task.Metadata)
		}
		if len(task.Calls) != 2 || task.Calls[0].Name != email.SearchTool || task.Calls[1].Name != email.ReadTool {
			t.Fatalf("task %s calls %+v", task.ID, task.Calls)
		}
		if want, ok := truth[inbox+" "+task.Prompt]; ok {
			matched++
			if task.Expected != want {
				t.Errorf("%s %q: expected %q, the corpus says %q", inbox, task.Prompt, task.Expected, want)
			}
		}
	}
	if matched == 0 {
		t.Fatal("no generated question is one of the corpus's: the fact questions are missing")
	}
	for _, d := range []string{taskgen.Easy, taskgen.Medium} {
		if diffs[d] == 0 {
			t.Errorf("no %s task among %v", d, diffs)
		}
	}
	t.Logf("%s; %d questions also in the corpus; difficulties %v", res.Summary, matched, diffs)
}

// TestPool_Kinds checks each kind of question on a hand-written inbox.
func TestPool_Kinds(t *testing.T) {
	msgs := []corpus.Message{
		{ID: "m1", Inbox: "a", Date: "2024-01-02", From: "bob@acme.com", Subject: "orion invoice", Body: "hi al, the orion invoice is 250 dollars."},
		{ID: "m2", Inbox: "a", Date: "2024-01-04", From: "carol@acme.com", Subject: "vega lead", Body: "hi al, the vega lead is dave."},
		{ID: "m3", Inbox: "a", Date: "2024-01-06", From: "erin@acme.com", Subject: "re: vega lead", Body: "hi al, update: the vega lead is judy.", ReplyTo: "m2"},
		{ID: "m4", Inbox: "a", Date: "2024-01-07", From: "bob@acme.com", Subject: "nova offsite", Body: "hi al, the nova offsite is in rome."},
		{ID: "m5", Inbox: "a", Date: "2024-01-09", From: "ivan@acme.com", Subject: "nova offsite", Body: "hi al, the nova offsite is in oslo."},
		{ID: "m6", Inbox: "a", Date: "2024-01-10", From: "ivan@acme.com", Subject: "atlas lunch", Body: "hi al, the atlas lunch is ready."},
	}
	got := map[string]taskgen.Candidate{}
	for _, c := range emailtasks.Pool(msgs) {
		got[c.Question] = c
	}
	tests := []struct{ question, answer, difficulty, id string }{
		{"How much is the orion invoice?", "250", taskgen.Easy, "m1"},
		{"Who is the vega lead?", "judy", taskgen.Hard, "m3"},
		{"Where is the nova offsite according to bob?", "rome", taskgen.Medium, "m4"},
		{"Where is the nova offsite according to ivan?", "oslo", taskgen.Medium, "m5"},
		{"What is the subject of the email ivan sent on 2024-01-10?", "atlas lunch", taskgen.Medium, "m6"},
	}
	for _, tt := range tests {
		t.Run(tt.question, func(t *testing.T) {
			c, ok := got[tt.question]
			if !ok {
				t.Fatalf("no such question among %d", len(got))
			}
			if c.Answer != tt.answer || c.Difficulty != tt.difficulty || c.Metadata[corpus.MetadataMessageIDs] != tt.id || c.Metadata[corpus.MetadataInbox] != "a" {
				t.Fatalf("got %+v", c)
			}
		})
	}
	if _, ok := got["Where is the nova offsite?"]; ok {
		t.Error("a fact two senders state differently was asked without naming the sender")
	}
	for q := range got {
		if strings.Contains(q, "lunch") && !strings.HasPrefix(q, "What is the subject") {
			t.Errorf("a filler message became a fact question: %q", q)
		}
	}
}

func TestSample(t *testing.T) {
	msgs := []corpus.Message{{ID: "m1", Inbox: "a", Subject: "one"}, {ID: "m2", Inbox: "a", Subject: "two"}}
	all := emailtasks.Sample(msgs, 0)
	if strings.Count(all, "\n") != 2 || !strings.Contains(all, `"id":"m2"`) {
		t.Fatalf("sample %q", all)
	}
	// Whole lines only: the cap keeps the first message.
	if one := emailtasks.Sample(msgs, len(all)-1); strings.Count(one, "\n") != 1 || strings.Contains(one, "m2") {
		t.Fatalf("capped sample %q", one)
	}
}
