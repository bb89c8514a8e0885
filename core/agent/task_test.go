package agent_test

import (
	"context"
	"encoding/json"
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
