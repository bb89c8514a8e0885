package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/toolbrain/toolbrain/sdk"
)

// ToolFormat is how a model writes tool calls, set by its chat template.
type ToolFormat string

// Tool-call formats.
const (
	// FormatHermes is Qwen's and NousResearch Hermes's:
	//	<tool_call>{"name": "f", "arguments": {...}}</tool_call>
	// one block per call.
	FormatHermes ToolFormat = "hermes"
	// FormatLlama3 is Llama 3.1+'s JSON tool calls: the whole reply is
	//	{"name": "f", "parameters": {...}}
	// optionally after <|python_tag|>; several calls are separated by ";"
	// or new lines.
	FormatLlama3 ToolFormat = "llama3"
)

// DetectFormat guesses the tool-call format from a chat template's source:
// Hermes when it mentions <tool_call>, Llama 3 when it has Llama 3's header
// tokens, Hermes otherwise (the most common among open models).
func DetectFormat(templateSource string) ToolFormat {
	switch {
	case strings.Contains(templateSource, "<tool_call>"):
		return FormatHermes
	case strings.Contains(templateSource, "<|start_header_id|>"), strings.Contains(templateSource, "<|python_tag|>"):
		return FormatLlama3
	}
	return FormatHermes
}

var hermesCall = regexp.MustCompile(`(?s)<tool_call>(.*?)(?:</tool_call>|\z)`)

// ParseToolCalls extracts the tool calls of a completion. No call and a nil
// error means the model answered in text. An error (wrapping
// ErrToolCallSyntax) says what is wrong in words the model can act on; the
// calls parsed before the bad one are returned with it.
//
// Arguments are returned as a compact JSON object; arguments given as a
// string holding JSON (as OpenAI-style APIs do) are decoded first.
func ParseToolCalls(format ToolFormat, text string) ([]sdk.ToolCall, error) {
	switch format {
	case FormatHermes, "":
		var calls []sdk.ToolCall
		for _, m := range hermesCall.FindAllStringSubmatch(text, -1) {
			c, err := parseCallJSON([]byte(strings.TrimSpace(m[1])))
			if err != nil {
				return calls, err
			}
			calls = append(calls, c)
		}
		return calls, nil
	case FormatLlama3:
		body := strings.TrimSpace(text)
		body = strings.TrimSpace(strings.TrimPrefix(body, "<|python_tag|>"))
		if !strings.HasPrefix(body, "{") {
			return nil, nil
		}
		var calls []sdk.ToolCall
		dec := json.NewDecoder(strings.NewReader(body))
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				if len(calls) == 0 && !strings.Contains(body, `"name"`) {
					return nil, nil // a reply that happens to start with "{"
				}
				return calls, fmt.Errorf("%w: %w", ErrToolCallSyntax, err)
			}
			c, err := parseCallJSON(raw)
			if err != nil {
				if len(calls) == 0 && !strings.Contains(body, `"name"`) {
					return nil, nil
				}
				return calls, err
			}
			calls = append(calls, c)
			// Skip separators between calls.
			rest := body[dec.InputOffset():]
			trimmed := strings.TrimLeft(rest, " \t\r\n;")
			if trimmed == "" {
				return calls, nil
			}
			if !strings.HasPrefix(trimmed, "{") {
				return calls, fmt.Errorf("%w: unexpected text after a tool call: %q", ErrToolCallSyntax, clip(trimmed, 40))
			}
			dec = json.NewDecoder(strings.NewReader(trimmed))
			body = trimmed
		}
	}
	return nil, fmt.Errorf("%w: unknown tool-call format %q", ErrBadConfig, format)
}

// parseCallJSON reads {"name": ..., "arguments"|"parameters": {...}}.
func parseCallJSON(b []byte) (sdk.ToolCall, error) {
	var c struct {
		Name       *string         `json:"name"`
		Arguments  json.RawMessage `json:"arguments"`
		Parameters json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return sdk.ToolCall{}, fmt.Errorf("%w: %w in %q", ErrToolCallSyntax, err, clip(string(b), 80))
	}
	if c.Name == nil || *c.Name == "" {
		return sdk.ToolCall{}, fmt.Errorf(`%w: a tool call needs a "name": %q`, ErrToolCallSyntax, clip(string(b), 80))
	}
	args := c.Arguments
	if args == nil {
		args = c.Parameters
	}
	args = bytes.TrimSpace(args)
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage(`{}`)
	}
	if args[0] == '"' { // arguments as a JSON string holding the object
		var s string
		if err := json.Unmarshal(args, &s); err != nil {
			return sdk.ToolCall{}, fmt.Errorf("%w: arguments of %s: %w", ErrToolCallSyntax, *c.Name, err)
		}
		args = json.RawMessage(strings.TrimSpace(s))
	}
	if len(args) == 0 || args[0] != '{' || !json.Valid(args) {
		return sdk.ToolCall{}, fmt.Errorf("%w: arguments of %s must be a JSON object, got %q", ErrToolCallSyntax, *c.Name, clip(string(args), 80))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, args); err != nil {
		return sdk.ToolCall{}, fmt.Errorf("%w: arguments of %s: %w", ErrToolCallSyntax, *c.Name, err)
	}
	return sdk.ToolCall{Name: *c.Name, Arguments: json.RawMessage(buf.Bytes())}, nil
}

// codeBlock matches a fenced block tagged python or py (or untagged), the
// closing fence optional at the very end (a completion cut by a stop string
// or the length limit).
var codeBlock = regexp.MustCompile("(?s)```(?:python|py|starlark)?[ \\t]*\\r?\\n(.*?)(?:```|\\z)")

// ExtractCode returns the code of a CodeAct completion: every ```python
// block, joined by new lines, in order (a model that splits its program keeps
// it in one run). ok is false when there is none.
func ExtractCode(text string) (code string, ok bool) {
	ms := codeBlock.FindAllStringSubmatch(text, -1)
	var parts []string
	for _, m := range ms {
		if c := strings.TrimRight(m[1], " \t\r\n"); strings.TrimSpace(c) != "" {
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		return "", false
	}
	return strings.Join(parts, "\n"), true
}

// clip shortens s to n bytes for error messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
