package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/sdk"
)

// Tool-choice modes, as OpenAI names them; choiceFunction is the object
// form {"type": "function", "function": {"name": ...}}.
const (
	choiceNone     = "none"
	choiceAuto     = "auto"
	choiceRequired = "required"
	choiceFunction = "function"
)

// MaxTopLogprobs is the largest top_logprobs a request may ask for.
const MaxTopLogprobs = 20

// job is a parsed chat-completions request.
type job struct {
	msgs        []chattemplate.Message
	tools       []sdk.ToolSpec
	choice      string // one of the choice* modes
	choiceName  string // the function, for choiceFunction
	maxTokens   int    // 0: the engine's default
	temperature float64
	topP        float64 // 0: off
	seed        *int64
	stop        []string
	logprobs    bool
	topLogprobs int
	stream      bool
	streamUsage bool // stream_options.include_usage
}

// chatRequest is the part of a chat-completions request that is read;
// other fields are ignored, as OpenAI-compatible servers do.
type chatRequest struct {
	Model         string          `json:"model"`
	Messages      []chatMessage   `json:"messages"`
	MaxTokens     *int            `json:"max_tokens"`
	MaxCompl      *int            `json:"max_completion_tokens"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	Seed          *int64          `json:"seed"`
	Logprobs      *bool           `json:"logprobs"`
	TopLogprobs   *int            `json:"top_logprobs"`
	Stop          json.RawMessage `json:"stop"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	N          *int            `json:"n"`
	Tools      []chatTool      `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name"`
	ToolCallID string          `json:"tool_call_id"`
	ToolCalls  []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// badField is a request error naming its field.
type badField struct{ param, msg string }

func (b *badField) Error() string { return b.param + ": " + b.msg }

// toolName is what OpenAI accepts as a function name.
var toolName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// parseRequest reads a chat-completions body; a *badField names the field
// at fault.
func parseRequest(body []byte) (*job, error) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &badField{"", "body is not a valid JSON request: " + err.Error()}
	}
	j := &job{stream: req.Stream, streamUsage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
	if err := j.readMessages(req.Messages); err != nil {
		return nil, err
	}
	if err := j.readTools(req.Tools, req.ToolChoice); err != nil {
		return nil, err
	}
	if err := j.readSampling(&req); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *job) readMessages(msgs []chatMessage) error {
	if len(msgs) == 0 {
		return &badField{"messages", "messages must be a non-empty array"}
	}
	names := map[string]string{} // tool call id → function name
	j.msgs = make([]chattemplate.Message, len(msgs))
	for i, m := range msgs {
		p := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		default:
			return &badField{p + ".role", fmt.Sprintf("unknown role %q", m.Role)}
		}
		text, err := contentText(m.Content)
		if err != nil {
			return &badField{p + ".content", err.Error()}
		}
		out := chattemplate.Message{Role: m.Role, Content: text, ToolCallID: m.ToolCallID, Name: m.Name}
		if m.Role == "developer" {
			out.Role = "system" // OpenAI's newer name for it; templates know "system"
		}
		if m.Role == "tool" && out.Name == "" {
			out.Name = names[m.ToolCallID] // templates that print the tool's name find it
		}
		for k, c := range m.ToolCalls {
			args := strings.TrimSpace(c.Function.Arguments)
			if !toolName.MatchString(c.Function.Name) || (args != "" && !json.Valid([]byte(args))) {
				return &badField{fmt.Sprintf("%s.tool_calls[%d].function", p, k), "a tool call needs a name and JSON arguments"}
			}
			tc := chattemplate.ToolCall{ID: c.ID, Name: c.Function.Name}
			if args != "" {
				tc.Arguments = json.RawMessage(args) // key order kept
			}
			out.ToolCalls = append(out.ToolCalls, tc)
			names[c.ID] = c.Function.Name
		}
		j.msgs[i] = out
	}
	return nil
}

func (j *job) readTools(tools []chatTool, choice json.RawMessage) error {
	seen := map[string]bool{}
	for i, t := range tools {
		p := fmt.Sprintf("tools[%d]", i)
		if t.Type != "function" {
			return &badField{p + ".type", fmt.Sprintf("tool type %q is not supported (want \"function\")", t.Type)}
		}
		f := t.Function
		if !toolName.MatchString(f.Name) {
			return &badField{p + ".function.name", fmt.Sprintf("%q is not a function name (letters, digits, _ and -, at most 64)", f.Name)}
		}
		if seen[f.Name] {
			return &badField{p + ".function.name", fmt.Sprintf("function %q is listed twice", f.Name)}
		}
		seen[f.Name] = true
		params := json.RawMessage(strings.TrimSpace(string(f.Parameters)))
		if len(params) == 0 || string(params) == "null" {
			params = nil
		} else if params[0] != '{' || !json.Valid(params) {
			return &badField{p + ".function.parameters", "parameters must be a JSON Schema object"}
		}
		j.tools = append(j.tools, sdk.ToolSpec{Name: f.Name, Description: f.Description, Parameters: params})
	}
	j.choice = choiceAuto
	if len(tools) == 0 {
		j.choice = choiceNone
	}
	if len(choice) == 0 || string(choice) == "null" {
		return nil
	}
	var mode string
	if json.Unmarshal(choice, &mode) == nil {
		switch mode {
		case choiceNone, choiceAuto:
		case choiceRequired:
			if len(tools) == 0 {
				return &badField{"tool_choice", `"required" needs tools`}
			}
		default:
			return &badField{"tool_choice", fmt.Sprintf("unknown tool_choice %q (want none, auto, required or a function)", mode)}
		}
		j.choice = mode
		return nil
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(choice, &named); err != nil || named.Type != "function" {
		return &badField{"tool_choice", `tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}`}
	}
	if !seen[named.Function.Name] {
		return &badField{"tool_choice", fmt.Sprintf("function %q is not among the tools", named.Function.Name)}
	}
	j.choice, j.choiceName = choiceFunction, named.Function.Name
	return nil
}

func (j *job) readSampling(req *chatRequest) error {
	if req.N != nil && *req.N != 1 {
		return &badField{"n", "only n=1 is supported"}
	}
	mt, param := req.MaxTokens, "max_tokens"
	if req.MaxCompl != nil {
		mt, param = req.MaxCompl, "max_completion_tokens"
	}
	if mt != nil {
		if *mt < 1 {
			return &badField{param, param + " must be at least 1"}
		}
		j.maxTokens = *mt
	}
	j.temperature = 1
	if t := req.Temperature; t != nil {
		if !(*t >= 0 && *t <= 2) {
			return &badField{"temperature", "temperature must be between 0 and 2"}
		}
		j.temperature = *t
	}
	if p := req.TopP; p != nil {
		if !(*p > 0 && *p <= 1) {
			return &badField{"top_p", "top_p must be in (0, 1]"}
		}
		j.topP = *p
	}
	j.seed = req.Seed
	j.logprobs = req.Logprobs != nil && *req.Logprobs
	if n := req.TopLogprobs; n != nil {
		switch {
		case *n < 0 || *n > MaxTopLogprobs:
			return &badField{"top_logprobs", fmt.Sprintf("top_logprobs must be between 0 and %d", MaxTopLogprobs)}
		case *n > 0 && !j.logprobs:
			return &badField{"top_logprobs", "top_logprobs needs logprobs: true"}
		}
		j.topLogprobs = *n
	}
	if len(req.Stop) > 0 && string(req.Stop) != "null" {
		var one string
		if json.Unmarshal(req.Stop, &one) == nil {
			j.stop = []string{one}
		} else if err := json.Unmarshal(req.Stop, &j.stop); err != nil {
			return &badField{"stop", "stop must be a string or an array of strings"}
		}
		for _, st := range j.stop {
			if st == "" {
				return &badField{"stop", "stop strings must not be empty"}
			}
		}
	}
	return nil
}

// contentText reads a message content: a string, null, or an array of text
// parts.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("content must be a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part type %q is not supported", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}
