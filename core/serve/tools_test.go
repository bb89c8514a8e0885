package serve_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/serve"
)

// TestServe_Tools renders tools through the chat template and parses the
// scripted model's tool calls back into OpenAI's tool_calls, for every
// tool_choice. The script answers from the prompt it sees: a forced call's
// opening at the end of the prompt gets the rest of the call.
func TestServe_Tools(t *testing.T) {
	var mu sync.Mutex
	var prompts []string
	reply := func(p string) string {
		mu.Lock()
		prompts = append(prompts, p)
		mu.Unlock()
		switch {
		case strings.HasSuffix(p, `"arguments": `):
			return `{"a": 2, "b": 3}}</tool_call>`
		case strings.HasSuffix(p, "<tool_call>\n"):
			return `{"name": "add", "arguments": {"b": 3, "a": 2}}</tool_call>`
		case strings.Contains(p, "The result is in."):
			return "2+3 is 5."
		}
		return `Let me add. <tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>`
	}
	url := start(t, openTiny(t).scripted(reply, nil), serve.Config{})
	const tools = `"tools":[{"type":"function","function":{"name":"add","description":"Adds two numbers.",` +
		`"parameters":{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}}}}},` +
		`{"type":"function","function":{"name":"mul","description":"Multiplies."}}]`
	const user = `"messages":[{"role":"user","content":"What is 2+3?"}]`
	tests := []struct {
		name, body  string
		wantFinish  string
		wantContent string // "" with calls: content null
		wantArgs    string // "" means no call
		promptHas   []string
		promptLacks []string
	}{
		{"auto", `{` + user + `,` + tools + `}`, "tool_calls", "Let me add.", `{"a":2,"b":3}`,
			[]string{"Adds two numbers.", `"mul"`, "What is 2+3?"}, nil},
		{"none", `{` + user + `,` + tools + `,"tool_choice":"none"}`, "stop",
			`Let me add. <tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>`, "", nil, []string{"Adds two numbers."}},
		{"no tools", `{` + user + `}`, "stop",
			`Let me add. <tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>`, "", nil, []string{"Adds two numbers."}},
		{"required", `{` + user + `,` + tools + `,"tool_choice":"required"}`, "tool_calls", "", `{"b":3,"a":2}`,
			[]string{"Adds two numbers.", `"mul"`}, nil},
		{"named", `{` + user + `,` + tools + `,"tool_choice":{"type":"function","function":{"name":"add"}}}`, "tool_calls", "", `{"a":2,"b":3}`,
			[]string{"Adds two numbers."}, []string{`"mul"`}},
		{"round trip", `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is 2+3?"},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"add","arguments":"{\"a\":2,\"b\":3}"}}]},` +
			`{"role":"tool","tool_call_id":"call_1","content":"5. The result is in."}],` + tools + `}`, "stop", "2+3 is 5.", "",
			[]string{"Be brief.", "Adds two numbers.", "5. The result is in."}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			prompts = nil
			mu.Unlock()
			a := complete(t, url, "", tt.body)
			c := a.Choices[0]
			if c.FinishReason != tt.wantFinish {
				t.Errorf("finish_reason %q, want %q", c.FinishReason, tt.wantFinish)
			}
			switch {
			case tt.wantArgs == "" && len(c.Message.ToolCalls) > 0:
				t.Errorf("tool_calls %+v, want none", c.Message.ToolCalls)
			case tt.wantArgs != "":
				if len(c.Message.ToolCalls) != 1 {
					t.Fatalf("tool_calls %+v, want one", c.Message.ToolCalls)
				}
				tc := c.Message.ToolCalls[0]
				if tc.Type != "function" || tc.Function.Name != "add" || tc.Function.Arguments != tt.wantArgs || !strings.HasPrefix(tc.ID, "call_") {
					t.Errorf("tool call %+v, want add(%s) with a call_ id", tc, tt.wantArgs)
				}
				if !json.Valid([]byte(tc.Function.Arguments)) {
					t.Errorf("arguments %q are not JSON", tc.Function.Arguments)
				}
			}
			got := ""
			if c.Message.Content != nil {
				got = *c.Message.Content
			}
			if got != tt.wantContent || (tt.wantContent == "" && c.Message.Content != nil) {
				t.Errorf("content %q (null: %v), want %q (null when empty)", got, c.Message.Content == nil, tt.wantContent)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(prompts) != 1 {
				t.Fatalf("%d prompts reached the model, want 1", len(prompts))
			}
			for _, s := range tt.promptHas {
				if !strings.Contains(prompts[0], s) {
					t.Errorf("prompt lacks %q:\n%s", s, prompts[0])
				}
			}
			for _, s := range tt.promptLacks {
				if strings.Contains(prompts[0], s) {
					t.Errorf("prompt has %q:\n%s", s, prompts[0])
				}
			}
		})
	}
}

// TestServe_ToolsLlama3 runs tools through a template that renders them
// itself (Llama 3.2's): the history's tool call and result go through the
// template, and the Llama 3 call format is parsed, also when forced.
func TestServe_ToolsLlama3(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "chattemplate", "testdata", "templates", "llama3.2.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := chattemplate.New(string(src))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var prompt string
	reply := func(p string) string {
		mu.Lock()
		prompt = p
		mu.Unlock()
		switch {
		case strings.HasSuffix(p, `{"name": "`):
			return `add", "parameters": {"a": 1, "b": 1}}`
		case strings.Contains(p, "ipython<|end_header_id|>\n\n\"5\"<|eot_id|>"): // the template writes a string result as JSON
			return "It is 5."
		}
		return `{"name": "add", "parameters": {"a": 2, "b": 3}}`
	}
	cfg := openTiny(t).scripted(reply, nil)
	cfg.Template = tmpl
	url := start(t, cfg, serve.Config{})
	const tools = `"tools":[{"type":"function","function":{"name":"add","description":"Adds two numbers.","parameters":{"type":"object"}}}]`
	tests := []struct {
		name, messages, choice string
		wantArgs, wantContent  string
		promptHas              string
	}{
		{"auto", `[{"role":"user","content":"What is 2+3?"}]`, `"auto"`, `{"a":2,"b":3}`, "", `"description": "Adds two numbers."`},
		{"required", `[{"role":"user","content":"What is 1+1?"}]`, `"required"`, `{"a":1,"b":1}`, "", "What is 1+1?"},
		{"history", `[{"role":"user","content":"What is 2+3?"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"add","arguments":"{\"a\":2,\"b\":3}"}}]},{"role":"tool","tool_call_id":"c1","content":"5"}]`,
			`"auto"`, "", "It is 5.", `{"name": "add", "parameters": {"a": 2, "b": 3}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := complete(t, url, "", `{"messages":`+tt.messages+`,`+tools+`,"tool_choice":`+tt.choice+`}`)
			msg := a.Choices[0].Message
			if tt.wantArgs != "" {
				if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "add" || msg.ToolCalls[0].Function.Arguments != tt.wantArgs || msg.Content != nil {
					t.Errorf("message %+v, want only the call add(%s)", msg, tt.wantArgs)
				}
			} else if msg.Content == nil || *msg.Content != tt.wantContent || len(msg.ToolCalls) != 0 {
				t.Errorf("message %+v, want the content %q; prompt:\n%s", msg, tt.wantContent, prompt)
			}
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(prompt, tt.promptHas) {
				t.Errorf("prompt lacks %q:\n%s", tt.promptHas, prompt)
			}
		})
	}
}
