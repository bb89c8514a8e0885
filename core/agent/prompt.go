package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/runtime/sandbox"
	"github.com/toolbrain/toolbrain/sdk"
)

// Markers put in place of message contents to find where the template puts
// them. They are plain text no template transforms and no model writes.
const (
	replyMarker = "\u27e6toolbrain:reply\u27e7"
	obsMarker   = "\u27e6toolbrain:obs%d\u27e7"
)

// Delta returns the ids to append after the model's reply so that its
// context goes on as the chat template would render the conversation:
// the rest of the assistant turn (its closing tokens), the observation
// messages obs, and the header of the next assistant turn.
//
// history is the conversation before the reply; stop is the stop token the
// reply ended with (nil when it ended otherwise). The template renders
// history + an assistant message + obs with a generation prompt; the text
// after the assistant's content is the delta, less the text of the stop
// token when the model already generated it. The reply itself is never
// re-rendered or re-encoded: only its position is located, by a marker
// standing for its content. This needs no prefix property of the whole
// conversation (Qwen3's template, for one, renders the last assistant
// turn differently once another message follows it), only that the
// template prints an assistant message's content verbatim.
//
// The template's own text is encoded with special tokens recognised; the
// observation contents are encoded as ordinary text, so a tool result
// holding "<|im_end|>" cannot inject a control token. (When the template
// alters the contents, say by trimming them, the whole delta is encoded as
// Hugging Face would, special tokens and all.)
//
// # Fallback
//
// When the template cannot render it (it raises, say, on a "tool" role it
// does not know, or drops the assistant's content), each observation is
// appended as ordinary text, "\n\nObservation:\n" + content + "\n\n", with
// no control tokens: the model reads on within its own turn.
func (a *Agent) Delta(history, obs []chattemplate.Message, stop []int32) []int32 {
	return a.delta(a.tools, history, obs, stop)
}

// delta is Delta with the template's tools of one episode.
func (a *Agent) delta(tools []any, history, obs []chattemplate.Message, stop []int32) []int32 {
	if ids, ok := a.templateDelta(tools, history, obs, stop); ok {
		return ids
	}
	var ids []int32
	for _, m := range obs {
		ids = append(ids, a.cfg.Tokenizer.EncodeOrdinary("\n\nObservation:\n"+m.Content+"\n\n")...)
	}
	return ids
}

func (a *Agent) templateDelta(tools []any, history, obs []chattemplate.Message, stop []int32) ([]int32, bool) {
	n := len(history)
	msgs := make([]chattemplate.Message, n, n+1+len(obs))
	copy(msgs, history)
	msgs = append(msgs, chattemplate.Message{Role: "assistant", Content: replyMarker})
	marked := append(msgs, obs...)
	marked = marked[: n+1 : n+1]
	for j, m := range obs {
		m.Content = fmt.Sprintf(obsMarker, j)
		marked = append(marked, m)
	}
	real := append(msgs[:n+1:n+1], obs...)
	tailOf := func(msgs []chattemplate.Message) (string, bool) {
		text, err := a.cfg.Template.Render(msgs, a.renderOptions(tools, true))
		if err != nil {
			return "", false
		}
		i := strings.LastIndex(text, replyMarker)
		if i < 0 {
			return "", false
		}
		tail := text[i+len(replyMarker):]
		if len(stop) > 0 {
			tail = strings.TrimPrefix(tail, a.cfg.Tokenizer.Decode(stop))
		}
		return tail, true
	}
	tailM, okM := tailOf(marked)
	tailR, okR := tailOf(real)
	if !okM || !okR {
		return nil, false
	}
	// Split the marked tail into template glue and contents; use the split
	// only if it rebuilds the real tail exactly.
	var glue []string
	rest := tailM
	for j := range obs {
		k := strings.Index(rest, fmt.Sprintf(obsMarker, j))
		if k < 0 {
			glue = nil
			break
		}
		glue = append(glue, rest[:k])
		rest = rest[k+len(fmt.Sprintf(obsMarker, j)):]
	}
	if glue != nil || len(obs) == 0 {
		glue = append(glue, rest)
		var b strings.Builder
		for j, g := range glue {
			b.WriteString(g)
			if j < len(obs) {
				b.WriteString(obs[j].Content)
			}
		}
		if b.String() == tailR {
			var ids []int32
			for j, g := range glue {
				ids = a.cfg.Tokenizer.AppendEncode(ids, g)
				if j < len(obs) {
					ids = append(ids, a.cfg.Tokenizer.EncodeOrdinary(obs[j].Content)...)
				}
			}
			return ids, true
		}
	}
	return a.cfg.Tokenizer.Encode(tailR), true
}

// CodeActSystem is the default system prompt of a CodeAct agent with tools:
// what a scripted teacher (the email expert, say) must put first in the
// conversations it writes as SFT data, so that they match what the agent
// shows the model.
func CodeActSystem(tools []sdk.ToolSpec) string {
	var b strings.Builder
	b.WriteString("You are an expert assistant who solves tasks by writing Python code.\n" +
		"Each turn, write a short thought, then one code block:\n```python\n# your code\n```\n" +
		"The code runs in a Python-like interpreter (Starlark: no imports, no classes, no try/except). " +
		"You then see what it printed, or its error. Variables persist from one turn to the next. " +
		"When you know the answer, call final_answer(answer).")
	if len(tools) > 0 {
		b.WriteString("\n\nYou can call these functions, with keyword arguments:")
		for _, t := range tools {
			fmt.Fprintf(&b, "\n- %s(%s): %s", t.Name, strings.Join(t.ParameterNames(), ", "), t.Description)
		}
	}
	return b.String()
}

// CodeActObservation is the user message that follows a CodeAct turn whose
// code gave res: its printed output and error (res.Observation()), or
// "(no output)", after "Observation:\n". maxBytes > 0 cuts a longer
// content as the agent does (Config.MaxObservationBytes).
func CodeActObservation(res sandbox.Result, maxBytes int) string {
	return "Observation:\n" + observationContent(res, maxBytes)
}

// CodeActTurns runs code in a sandbox episode turn by turn and answers
// what the CodeAct agent would put in the conversation: the observation
// message (CodeActObservation) and the final answer when the code gave
// one. It is what a scripted teacher (plugins/packs/email/expert's Runner)
// acts through, so that its conversations are the agent's.
type CodeActTurns struct {
	Episode *sandbox.Episode
	// MaxObservationBytes cuts observations as Config's does (0: the
	// agent's default).
	MaxObservationBytes int
}

// Run runs one turn of code; an error is the episode's (closed, done,
// ctx cancelled), never the code's.
func (c CodeActTurns) Run(ctx context.Context, code string) (observation string, final *string, err error) {
	res, err := c.Episode.Run(ctx, code)
	if err != nil {
		return "", nil, err
	}
	n := c.MaxObservationBytes
	if n == 0 {
		n = DefaultMaxObservation
	}
	return CodeActObservation(res, n), res.FinalAnswer, nil
}

// observationContent is what the code of res showed, for the trace.
func observationContent(res sandbox.Result, maxBytes int) string {
	content := res.Observation()
	if strings.TrimSpace(content) == "" {
		content = "(no output)"
	}
	return clipText(content, maxBytes)
}

// defaultSystem is the system prompt of the agent's kind over tools.
func (a *Agent) defaultSystem(tools []sdk.ToolSpec) string {
	switch a.kind {
	case CodeAct:
		return CodeActSystem(tools)
	case ToolCalling:
		return ToolCallingSystem(a.cfg.Template, a.format, tools)
	}
	return ""
}

// ToolCallingSystem is the tool-calling athlete's default system prompt. A
// template that cannot show tools (its source never names them) gets them
// in the prompt, with how to call one in format.
func ToolCallingSystem(tmpl *chattemplate.Template, format ToolFormat, tools []sdk.ToolSpec) string {
	var b strings.Builder
	b.WriteString("You are a helpful assistant. Call the tools when they help. " +
		"When you know the answer, reply with it directly, without a tool call.")
	if len(tools) > 0 && !strings.Contains(tmpl.Source(), "tools") {
		b.WriteString("\n\nTools (JSON Schema of each tool's arguments):")
		for _, t := range tools {
			spec, _ := json.Marshal(templateTool(t))
			fmt.Fprintf(&b, "\n%s", spec)
		}
		switch format {
		case FormatLlama3:
			b.WriteString("\n\nTo call a tool, reply with only {\"name\": tool name, \"parameters\": arguments object}.")
		default:
			b.WriteString("\n\nTo call a tool, reply with <tool_call>{\"name\": tool name, \"arguments\": arguments object}</tool_call>.")
		}
	}
	return b.String()
}

// TemplateTools are tool specs as chat templates take them:
// {"type": "function", "function": {"name", "description", "parameters"}}.
func TemplateTools(tools []sdk.ToolSpec) []any {
	out := make([]any, len(tools))
	for i, t := range tools {
		out[i] = map[string]any{"type": "function", "function": templateTool(t)}
	}
	return out
}

// rawJSON passes JSON to the template keeping its key order.
func rawJSON(b []byte) json.RawMessage { return json.RawMessage(b) }
