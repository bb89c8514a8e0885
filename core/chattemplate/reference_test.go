package chattemplate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	tokDir     = "../../testdata/tokenizers/"
	qwen3Cfg   = tokDir + "qwen3/tokenizer_config.json"
	llama3Cfg  = tokDir + "llama3/tokenizer_config.json"
	llama3Ref  = tokDir + "llama3/reference.json"
	ownRefPath = "testdata/reference.json"
)

// refMessage is a message as the reference files write it (Python dicts).
type refMessage struct {
	Role             string `json:"role"`
	Content          string `json:"content"`
	Name             string `json:"name"`
	ToolCallID       string `json:"tool_call_id"`
	ReasoningContent string `json:"reasoning_content"`
	ToolCalls        []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// toMessages turns reference dicts into Messages; arguments stay raw JSON so
// that their key order is the reference's.
func toMessages(t testing.TB, in []refMessage) []Message {
	t.Helper()
	out := make([]Message, len(in))
	for i, m := range in {
		out[i] = Message{Role: m.Role, Content: m.Content, Name: m.Name, ToolCallID: m.ToolCallID, ReasoningContent: m.ReasoningContent}
		for _, tc := range m.ToolCalls {
			var args any = tc.Function.Arguments
			var s string
			if json.Unmarshal(tc.Function.Arguments, &s) == nil {
				args = s
			}
			out[i].ToolCalls = append(out[i].ToolCalls, ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args})
		}
	}
	return out
}

func toTools(raw []json.RawMessage) []any {
	if raw == nil {
		return nil
	}
	out := make([]any, len(raw))
	for i, r := range raw {
		out[i] = r
	}
	return out
}

func mustLoad(t testing.TB, path string) *Template {
	t.Helper()
	tpl, err := FromTokenizerConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestRender_Llama3Reference renders the chat cases that transformers.js
// produced for the Llama 3 tokenizer.
func TestRender_Llama3Reference(t *testing.T) {
	b, err := os.ReadFile(llama3Ref)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Chat []struct {
			Case                string            `json:"case"`
			Messages            []refMessage      `json:"messages"`
			Tools               []json.RawMessage `json:"tools"`
			AddGenerationPrompt bool              `json:"add_generation_prompt"`
			Text                string            `json:"text"`
		} `json:"chat"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Chat) == 0 {
		t.Fatal("no chat cases in reference")
	}
	tpl := mustLoad(t, llama3Cfg)
	for _, c := range ref.Chat {
		t.Run(c.Case, func(t *testing.T) {
			got, err := tpl.Render(toMessages(t, c.Messages), Options{Tools: toTools(c.Tools), AddGenerationPrompt: c.AddGenerationPrompt})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.Text {
				t.Errorf("mismatch\n got: %q\nwant: %q", got, c.Text)
			}
		})
	}
}

type ownCase struct {
	Name                 string            `json:"name"`
	Template             string            `json:"template"`
	Messages             []refMessage      `json:"messages"`
	Tools                []json.RawMessage `json:"tools"`
	AddGenerationPrompt  bool              `json:"add_generation_prompt"`
	Extra                map[string]any    `json:"extra"`
	ContinueFinalMessage bool              `json:"continue_final_message"`
	SpecialTokens        map[string]any    `json:"special_tokens"`
	Text                 *string           `json:"text"`
	Error                *string           `json:"error"`
}

// loadOwnReference returns the template sources that are not tokenizer
// configurations (inline feature templates and files under testdata) and
// the cases.
func loadOwnReference(t testing.TB) (map[string]string, []ownCase) {
	t.Helper()
	b, err := os.ReadFile(ownRefPath)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Features      map[string]string `json:"features"`
		TemplateFiles map[string]string `json:"template_files"`
		Cases         []ownCase         `json:"cases"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	for name, path := range ref.TemplateFiles {
		src, err := os.ReadFile(filepath.Join("testdata", path))
		if err != nil {
			t.Fatal(err)
		}
		ref.Features[name] = string(src)
	}
	return ref.Features, ref.Cases
}

// TestRender_JinjaReference compares against testdata/reference.json: the
// Qwen3, Llama 3 and Llama 3.2 templates and feature templates rendered by
// Jinja2 set up as transformers sets it up (see testdata/make_reference.py).
func TestRender_JinjaReference(t *testing.T) {
	features, cases := loadOwnReference(t)
	templates := map[string]*Template{
		"qwen3":  mustLoad(t, qwen3Cfg),
		"llama3": mustLoad(t, llama3Cfg),
	}
	for name, src := range features {
		tpl, err := New(src)
		if err != nil {
			t.Fatalf("feature template %s: %v", name, err)
		}
		templates[name] = tpl
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			tpl := templates[c.Template]
			opts := Options{
				Tools:                toTools(c.Tools),
				AddGenerationPrompt:  c.AddGenerationPrompt,
				ContinueFinalMessage: c.ContinueFinalMessage,
				Extra:                c.Extra,
			}
			if _, ok := features[c.Template]; ok {
				opts.BOSToken, _ = c.SpecialTokens["bos_token"].(string)
				opts.EOSToken, _ = c.SpecialTokens["eos_token"].(string)
			}
			got, err := tpl.Render(toMessages(t, c.Messages), opts)
			if c.Error != nil {
				var re *RaisedError
				if !errors.As(err, &re) || !errors.Is(err, ErrRaised) || re.Message != *c.Error {
					t.Fatalf("got %q, %v; want raised error %q", got, err, *c.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != *c.Text {
				t.Errorf("mismatch\n got: %q\nwant: %q\n%s", got, *c.Text, firstDiff(got, *c.Text))
			}
		})
	}
}

func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-40)
	return "first difference at byte " + strconv.Itoa(i) + ":\n got: " + strings.ReplaceAll(a[lo:min(len(a), i+40)], "\n", "⏎") + "\nwant: " + strings.ReplaceAll(b[lo:min(len(b), i+40)], "\n", "⏎")
}

// TestRender_Whitespace checks the layout rules (trim_blocks, lstrip_blocks,
// markers, raw, CRLF, trailing newline) against Jinja2's output.
func TestRender_Whitespace(t *testing.T) {
	b, err := os.ReadFile(ownRefPath)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Whitespace []struct {
			Template string `json:"template"`
			Text     string `json:"text"`
		} `json:"whitespace"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Whitespace) == 0 {
		t.Fatal("no whitespace cases")
	}
	for _, c := range ref.Whitespace {
		t.Run(c.Template, func(t *testing.T) {
			tpl, err := New(c.Template)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Render(nil, Options{Extra: map[string]any{"x": "X", "items": []any{1, 2}}})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.Text {
				t.Errorf("got %q, want %q", got, c.Text)
			}
		})
	}
}
