package expert_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/plugins/packs/email"
	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
	"github.com/toolbrain/toolbrain/plugins/packs/email/expert"
	"github.com/toolbrain/toolbrain/runtime/sandbox"
	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/sdk"
)

// TestSolve_EveryTask runs the expert on every task of a corpus through the
// real tools in the real sandbox: each answer must equal the gold one, and
// the message it read must be the gold message.
func TestSolve_EveryTask(t *testing.T) {
	ctx := context.Background()
	c, err := corpus.Generate(corpus.Options{Seed: 11, Inboxes: 4, TasksPerInbox: 24})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []corpus.Message
	for _, in := range c.Inboxes {
		msgs = append(msgs, in.Messages...)
	}
	store, err := email.NewStore(ctx, msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	set, err := schema.NewSet(email.Specs())
	if err != nil {
		t.Fatal(err)
	}
	// The interpreter built from source, as the sandbox's own tests use it.
	interp, err := os.ReadFile(pluginbuild.Path(t, "interpreter-starlark.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(ctx, sandbox.Options{Interpreter: interp, CacheDir: cacheDir(), ToolSpecs: email.Specs(), Tools: schema.Checked(email.NewTools(store), set), PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	system := agent.CodeActSystem(email.Specs())
	tasks := append(c.Train, c.Test...)
	byDifficulty := map[string]int{}
	for _, task := range tasks {
		e, err := sb.StartTask(ctx, &sdk.Task{ID: task.ID, Prompt: task.Prompt, Metadata: map[string]string{email.MetadataInbox: task.Inbox}})
		if err != nil {
			t.Fatal(err)
		}
		conv, err := expert.Solve(ctx, agent.CodeActTurns{Episode: e}, system, task.Prompt)
		e.Close()
		if err != nil {
			t.Fatalf("%s (%s) %q: %v", task.ID, task.Difficulty, task.Prompt, err)
		}
		if conv.Answer != task.Answer {
			t.Errorf("%s (%s) %q: answered %q, gold %q", task.ID, task.Difficulty, task.Prompt, conv.Answer, task.Answer)
		}
		// The message it read (printed by read_email) is the gold one.
		if m := conv.Messages; !strings.Contains(m[3].Content, "'id': '"+task.MessageIDs[0]+"'") {
			t.Errorf("%s: read %q, gold message %s", task.ID, m[3].Content, task.MessageIDs[0])
		}
		// The replies are what the CodeAct athlete parses.
		m := conv.Messages
		if len(m) != 5 || m[0].Content != system || m[1].Content != task.Prompt || m[2].Role != "assistant" || !strings.HasPrefix(m[3].Content, "Observation:\n") {
			t.Fatalf("%s: conversation %+v", task.ID, m)
		}
		for _, i := range []int{2, 4} {
			if _, ok := agent.ExtractCode(m[i].Content); !ok {
				t.Errorf("%s: reply %d has no code the agent finds: %q", task.ID, i, m[i].Content)
			}
		}
		byDifficulty[task.Difficulty]++
	}
	t.Logf("solved %d tasks: %v", len(tasks), byDifficulty)
	if byDifficulty[corpus.Medium] == 0 || byDifficulty[corpus.Hard] == 0 {
		t.Errorf("the corpus tested no medium or hard task: %v", byDifficulty)
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		prompt string
		want   expert.Plan
		err    bool
	}{
		{prompt: "When is the orion meeting?", want: expert.Plan{Project: "orion", Topic: "meeting"}},
		{prompt: "Which room is the vega meeting in?", want: expert.Plan{Project: "vega", Topic: "meeting", Room: true}},
		{prompt: "How much is the atlas invoice according to bob?", want: expert.Plan{Project: "atlas", Topic: "invoice", From: "bob"}},
		{prompt: "Who is the nova lead?", want: expert.Plan{Project: "nova", Topic: "lead"}},
		{prompt: "What is the weather?", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.prompt, func(t *testing.T) {
			got, err := expert.Read(tt.prompt)
			if (err != nil) != tt.err || !tt.err && got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestPlan_Search(t *testing.T) {
	got := expert.Plan{Project: "orion", Topic: "invoice", From: "bob"}.Search()
	want := "Thought: I search the inbox for the orion invoice from bob and read the newest match.\n```python\nhits = search_emails(keywords=[\"orion\", \"invoice\"], from_addr=\"bob\")\nprint(read_email(hits[0][\"id\"]))\n```"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// cacheDir keeps the compiled interpreter between test runs, as
// runtime/sandbox's tests do.
func cacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "toolbrain-test", "wasm")
	}
	return filepath.Join(os.TempDir(), "toolbrain-test-wasm")
}
