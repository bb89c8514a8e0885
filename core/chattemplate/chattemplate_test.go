package chattemplate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRender_Qwen3ByHand checks outputs derived by reading the Qwen3
// template by hand (ChatML: <|im_start|>role\n...<|im_end|>\n).
func TestRender_Qwen3ByHand(t *testing.T) {
	tpl := mustLoad(t, qwen3Cfg)
	search := json.RawMessage(`{"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}`)
	tests := []struct {
		name string
		msgs []Message
		opts Options
		want string
	}{
		{
			name: "plain chat with generation prompt",
			msgs: []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}},
			opts: Options{AddGenerationPrompt: true},
			want: "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
		},
		{
			name: "thinking switched off",
			msgs: []Message{{Role: "user", Content: "Hi"}},
			opts: Options{AddGenerationPrompt: true, Extra: map[string]any{"enable_thinking": false}},
			want: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
		},
		{
			name: "tool call and tool response",
			msgs: []Message{
				{Role: "user", Content: "Find x"},
				{Role: "assistant", ToolCalls: []ToolCall{{Name: "search", Arguments: map[string]any{"q": "x", "k": 2}}}},
				{Role: "tool", Content: "found"},
			},
			opts: Options{Tools: []any{search}},
			want: "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
				"You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
				`{"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}` +
				"\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
				"<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" +
				"<|im_start|>user\nFind x<|im_end|>\n" +
				// map[string]any arguments come out with sorted keys.
				"<|im_start|>assistant\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"k\": 2, \"q\": \"x\"}}\n</tool_call><|im_end|>\n" +
				"<|im_start|>user\n<tool_response>\nfound\n</tool_response><|im_end|>\n",
		},
		{
			name: "string arguments printed verbatim",
			msgs: []Message{
				{Role: "user", Content: "Find x"},
				{Role: "assistant", Content: "Sure.", ToolCalls: []ToolCall{{Name: "search", Arguments: `{"q":"x"}`}}},
			},
			want: "<|im_start|>user\nFind x<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nSure.\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\":\"x\"}}\n</tool_call><|im_end|>\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tpl.Render(tt.msgs, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("mismatch\n got: %q\nwant: %q\n%s", got, tt.want, firstDiff(got, tt.want))
			}
		})
	}
}

func TestNew_Errors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unclosed block", "{% if x %}never closed", "if"},
		{"unknown tag", "{% frobnicate %}", "frobnicate"},
		{"include refused", "{% include 'other.jinja' %}", "include"},
		{"import refused", "{% import 'm.jinja' as m %}", "import"},
		{"extends refused", "{% extends 'base.jinja' %}", "extends"},
		{"unclosed expression", "{{ 1 + ", ""},
		{"nesting too deep", "{{ " + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300) + " }}", "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := New(tt.src)
			if err == nil {
				t.Fatalf("New(%q) = %v, want error", tt.src, tpl)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v is not ErrSyntax", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestRender_Errors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		msgs    []Message
		opts    Options
		is      error
		contain string
	}{
		{name: "raise_exception", src: "{{ raise_exception('System role not supported') }}", is: ErrRaised, contain: "System role not supported"},
		{name: "raise inside loop", src: "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system: ' ~ m.content) }}{% endif %}{% endfor %}",
			msgs: []Message{{Role: "system", Content: "S"}}, is: ErrRaised, contain: "no system: S"},
		{name: "unknown filter", src: "{{ 'a'|nosuchfilter }}", is: ErrRender, contain: "nosuchfilter"},
		{name: "macro recursion", src: "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", is: ErrRender, contain: "recursion deeper than"},
		{name: "mutual recursion", src: "{% macro f() %}{{ g() }}{% endmacro %}{% macro g() %}{{ f() }}{% endmacro %}{{ f() }}", is: ErrRender, contain: "recursion deeper than"},
		{name: "range too big", src: "{% for i in range(1000000) %}{% endfor %}", is: ErrRender, contain: "range"},
		{name: "Extra may not replace messages", src: "x", opts: Options{Extra: map[string]any{"messages": 1}}, is: ErrInput, contain: "messages"},
		{name: "continue and generation prompt", src: "x", msgs: []Message{{Role: "user", Content: "x"}}, opts: Options{ContinueFinalMessage: true, AddGenerationPrompt: true}, is: ErrInput},
		{name: "final message missing", src: "{{ 'other' }}", msgs: []Message{{Role: "user", Content: "hello"}}, opts: Options{ContinueFinalMessage: true}, is: ErrInput, contain: "final message"},
		{name: "arguments not JSON", src: "x", msgs: []Message{{Role: "assistant", ToolCalls: []ToolCall{{Name: "f", Arguments: json.RawMessage(`{"a":`)}}}}, is: ErrInput, contain: "arguments"},
		{name: "tool not JSON", src: "x", opts: Options{Tools: []any{make(chan int)}}, is: ErrInput, contain: "tool 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := New(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Render(tt.msgs, tt.opts)
			if !errors.Is(err, tt.is) {
				t.Fatalf("Render = %q, %v; want %v", got, err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.contain) {
				t.Errorf("error %q does not contain %q", err, tt.contain)
			}
		})
	}
	var re *RaisedError
	tpl, _ := New("{{ raise_exception('bad roles') }}")
	if _, err := tpl.Render(nil, Options{}); !errors.As(err, &re) || re.Message != "bad roles" {
		t.Errorf("RaisedError message = %v, want %q", err, "bad roles")
	}
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "tokenizer_config.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFromTokenizerConfig(t *testing.T) {
	dir := t.TempDir()
	t.Run("template list picks default, tool_use with tools", func(t *testing.T) {
		p := writeConfig(t, dir, `{"bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>", "pad_token": null,
			"chat_template": [{"name": "default", "template": "D{{ bos_token }}{{ pad_token is defined }}"}, {"name": "tool_use", "template": "T{{ tools|length }}{{ eos_token }}"}]}`)
		tpl, err := FromTokenizerConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(tpl.Names(), ","); got != "default,tool_use" {
			t.Errorf("Names() = %q", got)
		}
		for _, c := range []struct {
			opts Options
			want string
		}{
			{Options{}, "D<s>False"},
			{Options{Tools: []any{}}, "T0</s>"},
			{Options{Tools: []any{map[string]any{"a": 1}}, EOSToken: "<eos>"}, "T1<eos>"},
		} {
			got, err := tpl.Render(nil, c.opts)
			if err != nil || got != c.want {
				t.Errorf("Render(%+v) = %q, %v; want %q", c.opts, got, err, c.want)
			}
		}
		tu, ok := tpl.Named("tool_use")
		if !ok || tu.Source() != "T{{ tools|length }}{{ eos_token }}" {
			t.Errorf("Named(tool_use) = %v, %v", tu, ok)
		}
	})
	t.Run("list without default", func(t *testing.T) {
		p := writeConfig(t, dir, `{"chat_template": [{"name": "tool_use", "template": "T"}]}`)
		tpl, err := FromTokenizerConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tpl.Render(nil, Options{}); !errors.Is(err, ErrNoTemplate) {
			t.Errorf("err = %v, want ErrNoTemplate", err)
		}
		if got, err := tpl.Render(nil, Options{Tools: []any{}}); err != nil || got != "T" {
			t.Errorf("with tools: %q, %v", got, err)
		}
	})
	t.Run("chat_template.jinja beside the config", func(t *testing.T) {
		d := t.TempDir()
		p := writeConfig(t, d, `{"eos_token": "E"}`)
		if err := os.WriteFile(filepath.Join(d, "chat_template.jinja"), []byte("{{ messages[0].content }}{{ eos_token }}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		tpl, err := FromTokenizerConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := tpl.Render([]Message{{Role: "user", Content: "u"}}, Options{}); err != nil || got != "uE" {
			t.Errorf("Render = %q, %v", got, err)
		}
	})
	errCases := []struct {
		name, body string
		is         error
	}{
		{"no template", `{"eos_token": "E"}`, ErrNoTemplate},
		{"bad template", `{"chat_template": "{% if %}"}`, ErrSyntax},
		{"bad list entry", `{"chat_template": [{"name": "default", "template": "{% for %}"}]}`, ErrSyntax},
	}
	for _, c := range errCases {
		t.Run(c.name, func(t *testing.T) {
			p := writeConfig(t, t.TempDir(), c.body)
			if _, err := FromTokenizerConfig(p); !errors.Is(err, c.is) || !strings.Contains(err.Error(), p) {
				t.Errorf("err = %v, want %v naming %s", err, c.is, p)
			}
		})
	}
	t.Run("not JSON", func(t *testing.T) {
		p := writeConfig(t, t.TempDir(), `{`)
		if _, err := FromTokenizerConfig(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := FromTokenizerConfig(filepath.Join(dir, "nope.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want ErrNotExist", err)
		}
	})
}

func TestToJSON_Escapes(t *testing.T) {
	tpl, err := New(`{{ s|tojson }} {{ s|tojson(ensure_ascii=true) }} {{ d|tojson(indent='\t') }}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(nil, Options{Extra: map[string]any{
		"s": "é\u2028\x7f\x1f𝄞</",
		"d": json.RawMessage(`{"b": [1, {}], "a": []}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Python: json.dumps(s, ensure_ascii=False), json.dumps(s), json.dumps(d, indent='\t').
	want := "\"é\u2028\x7f\\u001f𝄞</\" \"\\u00e9\\u2028\x7f\\u001f\\ud834\\udd1e</\" {\n\t\"b\": [\n\t\t1,\n\t\t{}\n\t],\n\t\"a\": []\n}"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestStrftime(t *testing.T) {
	now := time.Date(2024, time.July, 5, 9, 3, 7, 0, time.UTC)
	tests := []struct{ format, want string }{
		{"%d %b %Y", "05 Jul 2024"},  // Llama 3.1's "Today Date"
		{"%-d %B %Y", "5 July 2024"}, // glibc no-padding flag
		{"%Y-%m-%d %H:%M:%S", "2024-07-05 09:03:07"},
		{"%A %a %j %I%p %y %%", "Friday Fri 187 09AM 24 %"},
		{"%Q", "%Q"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			tpl, err := New("{{ strftime_now('" + tt.format + "') }}")
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Render(nil, Options{Now: now})
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestMessageDict checks which keys a message dict has, and their order.
func TestMessageDict(t *testing.T) {
	tpl, err := New(`{% for m in messages %}{{ m.keys()|list }} {{ m|tojson }}
{% endfor %}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render([]Message{
		{Role: "user", Content: "u"},
		{Role: "assistant", ToolCalls: []ToolCall{{ID: "c1", Name: "f"}}, ReasoningContent: "r"},
		{Role: "tool", Content: "out", Name: "f", ToolCallID: "c1", Extra: map[string]any{"weight": 0.5}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := `['role', 'content'] {"role": "user", "content": "u"}
['role', 'content', 'tool_calls', 'reasoning_content'] {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {}}}], "reasoning_content": "r"}
['role', 'content', 'name', 'tool_call_id', 'weight'] {"role": "tool", "content": "out", "name": "f", "tool_call_id": "c1", "weight": 0.5}
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestConvert_StructKeepsFieldOrder(t *testing.T) {
	type params struct {
		Type       string         `json:"type"`
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required,omitempty"`
	}
	type fn struct {
		Name       string `json:"name"`
		Parameters params `json:"parameters"`
	}
	tool := struct {
		Type     string `json:"type"`
		Function fn     `json:"function"`
	}{"function", fn{"f", params{"object", map[string]any{"z": 1, "a": 2}, []string{"z"}}}}
	tpl, _ := New("{{ tools[0]|tojson }}")
	got, err := tpl.Render(nil, Options{Tools: []any{tool}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": 2, "z": 1}, "required": ["z"]}}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestRender_Concurrent renders one parsed template from many goroutines
// (run with -race).
func TestRender_Concurrent(t *testing.T) {
	tpl := mustLoad(t, qwen3Cfg)
	msgs := benchConversation()
	want, err := tpl.Render(msgs, Options{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				got, err := tpl.Render(msgs, Options{AddGenerationPrompt: true})
				if err != nil || got != want {
					t.Errorf("concurrent render differs: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// benchConversation is a 10-message tool-using conversation.
func benchConversation() []Message {
	args := json.RawMessage(`{"keywords": ["Acme", "invoice"], "limit": 5}`)
	return []Message{
		{Role: "system", Content: "You are an email assistant. Answer from the inbox only."},
		{Role: "user", Content: "When is the Acme meeting?"},
		{Role: "assistant", Content: "", ToolCalls: []ToolCall{{Name: "search_emails", Arguments: args}}},
		{Role: "tool", Content: `[{"id": "m42", "snippet": "Acme meeting moved to Thursday"}]`},
		{Role: "assistant", Content: "<think>\nThe snippet says Thursday.\n</think>\n\nThe meeting is on Thursday."},
		{Role: "user", Content: "And who sent the invoice?"},
		{Role: "assistant", Content: "Let me check.", ToolCalls: []ToolCall{{Name: "read_email", Arguments: map[string]any{"id": "m17"}}}},
		{Role: "tool", Content: "From: billing@acme.example\nSubject: Invoice 2024-07"},
		{Role: "assistant", Content: "billing@acme.example sent it."},
		{Role: "user", Content: "Thanks!"},
	}
}
