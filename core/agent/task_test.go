package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/sdk"
)

// inboxTool answers with the inbox its call's task names: the way the
// email pack finds the inbox of the episode.
type inboxTool struct{}

func (inboxTool) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	if req.Task == nil {
		return sdk.ToolCallResponse{Content: "none"}, nil
	}
	return sdk.ToolCallResponse{Content: req.Task.ID + "@" + req.Task.Metadata["inbox"]}, nil
}

var inboxSpecs = []sdk.ToolSpec{{Name: "inbox", Description: "Name the inbox.", Parameters: json.RawMessage(`{"type":"object","properties":{}}`)}}

// TestRunGroup_TaskMetadata runs two tasks in one group, each bound to its
// own inbox through Task.Metadata: every tool call, from code (CodeAct) or
// from a parsed call (tool calling), reaches the tools with its own task.
func TestRunGroup_TaskMetadata(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	tasks := []agent.Task{
		{ID: "q1", Prompt: "which inbox?", Metadata: map[string]string{"inbox": "ib01"}},
		{ID: "q2", Prompt: "which inbox?", Metadata: map[string]string{"inbox": "ib02"}},
	}
	want := []string{"q1@ib01", "q2@ib02"}

	t.Run("codeact", func(t *testing.T) {
		sb := newSandbox(t, inboxTool{}, inboxSpecs)
		reply := "Thought: ask.\n```python\nfinal_answer(inbox())\n```"
		m := newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{reply}, []string{reply}))
		a, err := agent.New(agent.CodeAct, agent.Config{Model: m, Tokenizer: tok, Template: tpl, Tools: inboxSpecs, Sandbox: sb,
			Sampling: generate.Options{Temperature: 1, MaxNewTokens: 100}})
		if err != nil {
			t.Fatal(err)
		}
		traces, err := a.RunGroup(context.Background(), tasks)
		if err != nil {
			t.Fatal(err)
		}
		for i, tr := range traces {
			if tr.FinalAnswer != want[i] {
				t.Errorf("episode %d answered %q, want %q", i, tr.FinalAnswer, want[i])
			}
		}
	})
	t.Run("tool calling", func(t *testing.T) {
		call := `<tool_call>{"name": "inbox", "arguments": {}}</tool_call>`
		m := newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{call, "done"}, []string{call, "done"}))
		a, err := agent.New(agent.ToolCalling, agent.Config{Model: m, Tokenizer: tok, Template: tpl, Tools: inboxSpecs, Tool: inboxTool{},
			Sampling: generate.Options{Temperature: 1, MaxNewTokens: 100}})
		if err != nil {
			t.Fatal(err)
		}
		traces, err := a.RunGroup(context.Background(), tasks)
		if err != nil {
			t.Fatal(err)
		}
		for i, tr := range traces {
			if o := tr.Turns[0].Observations; len(o) != 1 || o[0].Content != want[i] {
				t.Errorf("episode %d observed %+v, want %q", i, o, want[i])
			}
		}
	})
}

// countTool counts its calls.
type countTool struct{ calls *int }

func (c countTool) CallTool(context.Context, sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	*c.calls++
	return sdk.ToolCallResponse{Content: "ran"}, nil
}

// TestRunGroup_DeclaredTools runs a group in which two tasks declare their
// own tools (BFCL style) and one does not: a declaring episode shows its
// tools instead of the agent's, in the prompt, records its calls (or their
// parse error) without running them and ends after one reply; the other
// runs its call as usual.
func TestRunGroup_DeclaredTools(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	declared := []sdk.ToolSpec{{Name: "calc_area", Description: "Area of a triangle.",
		Parameters: json.RawMessage(`{"type": "dict", "properties": {"base": {"type": "integer"}}, "required": ["base"]}`)}}
	call := `<tool_call>{"name": "calc_area", "arguments": {"base": 10}}</tool_call>`
	bad := `<tool_call>{"name": calc_area}</tool_call>`
	m := newScriptModel(tok.VocabSize(), end, replies(tok, end,
		[]string{call, "never read"},
		[]string{bad, "never read"},
		[]string{`<tool_call>{"name": "inbox", "arguments": {}}</tool_call>`, "done"}))
	var ran int
	a, err := agent.New(agent.ToolCalling, agent.Config{Model: m, Tokenizer: tok, Template: tpl, Tools: inboxSpecs, Tool: countTool{&ran},
		Sampling: generate.Options{Temperature: 1, MaxNewTokens: 100}})
	if err != nil {
		t.Fatal(err)
	}
	traces, err := a.RunGroup(context.Background(), []agent.Task{
		{ID: "b1", Prompt: "Area, base 10?", Declared: declared},
		{ID: "b2", Prompt: "Area, base 10?", Declared: declared},
		{ID: "e1", Prompt: "which inbox?"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ran != 1 {
		t.Errorf("the tool ran %d times, want once (the undeclared episode's call)", ran)
	}
	for _, tc := range []struct {
		name               string
		i, turns           int
		call, error, shows string
		hides              string
	}{
		{name: "declared, valid call", i: 0, turns: 1, call: "calc_area", shows: "calc_area", hides: `"inbox"`},
		{name: "declared, unparsable", i: 1, turns: 1, error: "malformed tool call", shows: "calc_area", hides: `"inbox"`},
		{name: "the agent's tools", i: 2, turns: 2, call: "inbox", shows: `"inbox"`, hides: "calc_area"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := traces[tc.i]
			if len(tr.Turns) != tc.turns || tr.Error != "" {
				t.Fatalf("%d turns, error %q; want %d turns, no error", len(tr.Turns), tr.Error, tc.turns)
			}
			first := tr.Turns[0]
			if !strings.Contains(first.Prompt, tc.shows) || strings.Contains(first.Prompt, tc.hides) {
				t.Errorf("prompt shows the wrong tools (want %s, not %s):\n%s", tc.shows, tc.hides, first.Prompt)
			}
			if tc.call != "" && (len(first.ToolCalls) != 1 || first.ToolCalls[0].Name != tc.call) {
				t.Errorf("calls %+v, want one %s", first.ToolCalls, tc.call)
			}
			if tc.i < 2 && (len(first.Observations) != 0 || first.Tokens.ObservationIDs != nil) {
				t.Errorf("a declared episode got observations %+v", first.Observations)
			}
			if !strings.Contains(first.Error, tc.error) || (tc.error == "") != (first.Error == "") {
				t.Errorf("turn error %q, want %q", first.Error, tc.error)
			}
		})
	}
	// A CodeAct agent cannot take declared tools.
	sb := newSandbox(t, inboxTool{}, inboxSpecs)
	ca, err := agent.New(agent.CodeAct, agent.Config{Model: m, Tokenizer: tok, Template: tpl, Tools: inboxSpecs, Sandbox: sb})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Run(context.Background(), agent.Task{ID: "b3", Prompt: "x", Declared: declared}); !errors.Is(err, agent.ErrBadConfig) {
		t.Errorf("CodeAct with declared tools: %v, want ErrBadConfig", err)
	}
}
