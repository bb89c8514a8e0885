package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/sdk"
)

var library = []sdk.ToolSpec{
	{Name: "get_weather", Description: "Weather of a city.", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)},
	{Name: "send_email", Description: "Send an email.", Parameters: json.RawMessage(`{"type":"object","properties":{"to":{"type":"string"}}}`)},
	{Name: "convert_currency", Description: "Convert money.", Parameters: json.RawMessage(`{"type":"object","properties":{"amount":{"type":"number"}}}`)},
}

// byPrompt selects the library's tools whose name the prompt mentions.
func byPrompt(calls *atomic.Int32) func(context.Context, agent.Task) ([]sdk.ToolSpec, error) {
	return func(_ context.Context, task agent.Task) ([]sdk.ToolSpec, error) {
		calls.Add(1)
		var out []sdk.ToolSpec
		for _, s := range library {
			if strings.Contains(task.Prompt, s.Name) {
				out = append(out, s)
			}
		}
		return out, nil
	}
}

func TestToolCalling_SelectTools(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	weather := []string{
		`<tool_call>{"name": "send_email", "arguments": {"to": "bob"}}</tool_call>`,
		`<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>`,
		"Sunny.",
	}
	email := []string{
		`<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>`,
		`<tool_call>{"name": "send_email", "arguments": {"to": "amy"}}</tool_call>`,
		"Sent.",
	}
	m := newScriptModel(tok.VocabSize(), end, replies(tok, end, weather, weather, email, email))
	var calls atomic.Int32
	a, err := agent.New(agent.ToolCalling, agent.Config{
		Model: m, Tokenizer: tok, Template: tpl, Tools: library, Tool: nopTool{}, SelectTools: byPrompt(&calls),
		Sampling: generate.Options{Temperature: 1, MaxNewTokens: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := agent.Task{ID: "w", Prompt: "use get_weather for Paris"}
	e := agent.Task{ID: "e", Prompt: "use send_email to write to Amy"}
	traces, err := a.RunGroup(context.Background(), []agent.Task{w, w, e, e})
	if err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("SelectTools ran %d times for 2 distinct tasks, want 2", n)
	}
	tests := []struct {
		name         string
		row          int
		own, foreign string
	}{
		{name: "weather task", row: 0, own: "get_weather", foreign: "send_email"},
		{name: "weather task, second episode", row: 1, own: "get_weather", foreign: "send_email"},
		{name: "email task", row: 2, own: "send_email", foreign: "get_weather"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := traces[tt.row]
			if len(tr.Turns) != 3 || tr.Error != "" {
				t.Fatalf("%d turns, error %q", len(tr.Turns), tr.Error)
			}
			// The prompt shows the task's tool only; the user prompt names
			// the tool too, so look at the tool list of the system turn.
			prompt := tr.Turns[0].Prompt
			sys := prompt[:strings.Index(prompt, "<|im_start|>user")]
			if !strings.Contains(sys, `"name":"`+tt.own+`"`) || strings.Contains(sys, tt.foreign) || strings.Contains(sys, "convert_currency") {
				t.Errorf("system turn shows other tools than %s:\n%s", tt.own, sys)
			}
			refused, ran := tr.Turns[0].Observations[0], tr.Turns[1].Observations[0]
			if !refused.IsError || !strings.Contains(refused.Content, `no tool "`+tt.foreign+`" for this task (tools: `+tt.own+`)`) {
				t.Errorf("a call to another task's tool: %+v", refused)
			}
			if ran.IsError || ran.Content != "ok" {
				t.Errorf("a call to the task's tool: %+v", ran)
			}
			checkExactTokens(t, tr, m.rows[tt.row])
		})
	}
}

func TestToolCalling_SelectTools_Errors(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	m := newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{"hi"}))
	boom := errors.New("index gone")
	a, err := agent.New(agent.ToolCalling, agent.Config{
		Model: m, Tokenizer: tok, Template: tpl, Tools: library, Tool: nopTool{},
		SelectTools: func(context.Context, agent.Task) ([]sdk.ToolSpec, error) { return nil, boom },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Run(context.Background(), agent.Task{ID: "x", Prompt: "p"}); !errors.Is(err, boom) || !strings.Contains(err.Error(), `task "x"`) {
		t.Errorf("Run: %v, want the selection's error naming the task", err)
	}
}

// Without SelectTools every episode sees the whole library.
func TestToolCalling_AllTools(t *testing.T) {
	tok, tpl, end := chatmlKit(t)
	m := newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{"hi"}))
	a, err := agent.New(agent.ToolCalling, agent.Config{Model: m, Tokenizer: tok, Template: tpl, Tools: library, Tool: nopTool{}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := a.Run(context.Background(), agent.Task{ID: "x", Prompt: "p"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range library {
		if !strings.Contains(tr.Turns[0].Prompt, s.Name) {
			t.Errorf("prompt lacks %s", s.Name)
		}
	}
}

// A template that renders tools itself (Qwen3's) gets only the task's.
func TestToolCalling_SelectTools_TemplateTools(t *testing.T) {
	tok, err := tokenizer.Load("../../testdata/tokenizers/qwen3")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := chattemplate.FromTokenizerConfig("../../testdata/tokenizers/qwen3/tokenizer_config.json")
	if err != nil {
		t.Fatal(err)
	}
	end, ok := tok.TokenID("<|im_end|>")
	if !ok {
		t.Fatal("no <|im_end|>")
	}
	m := newScriptModel(tok.VocabSize(), end, replies(tok, end, []string{
		"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>",
		"<tool_call>\n{\"name\": \"send_email\", \"arguments\": {\"to\": \"amy\"}}\n</tool_call>",
		"Sent.",
	}))
	var calls atomic.Int32
	a, err := agent.New(agent.ToolCalling, agent.Config{
		Model: m, Tokenizer: tok, Template: tpl, Tools: library, Tool: nopTool{}, SelectTools: byPrompt(&calls),
		Sampling: generate.Options{Temperature: 1, MaxNewTokens: 100}, TemplateExtra: map[string]any{"enable_thinking": false},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := a.Run(context.Background(), agent.Task{ID: "e", Prompt: "use send_email to write to Amy"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Turns) != 3 || tr.FinalAnswer != "Sent." {
		t.Fatalf("%d turns, answer %q, error %q", len(tr.Turns), tr.FinalAnswer, tr.Error)
	}
	p := tr.Turns[0].Prompt
	tools := p[strings.Index(p, "<tools>\n"):strings.LastIndex(p, "</tools>")]
	if !strings.Contains(tools, `"name": "send_email"`) || strings.Contains(tools, "get_weather") || strings.Contains(tools, "convert_currency") {
		t.Errorf("template tools are not the task's:\n%s", tools)
	}
	if o := tr.Turns[0].Observations[0]; !o.IsError || !strings.Contains(o.Content, `no tool "get_weather"`) {
		t.Errorf("call to another task's tool: %+v", o)
	}
	checkExactTokens(t, tr, m.rows[0])
}
