package judge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/toolbrain/toolbrain/sdk"
)

// This file is the one home of how a judge shows a trace to its model:
// every judge (ranking, relative, correctness) renders traces with
// renderTrace, so each sees the same full trace: per step the code, tool
// calls with their arguments, observations (errors marked) and the step's
// error, then the final answer and the episode's error.

// renderTrace is trace i's <trajectory> block in at most per bytes (when
// per is enough for the tags and a short final answer).
func renderTrace(i int, t *sdk.Trace, per int) string {
	return renderTraceFrom(strconv.Itoa(i), t, "", per)
}

// renderTraceFrom is a <trajectory id="id"> block in at most per bytes:
// lead (the trace's own part of its prompt, when the shared part is shown
// elsewhere; "" for none), the steps, the final answer and the episode's
// error.
func renderTraceFrom(id string, t *sdk.Trace, lead string, per int) string {
	open := fmt.Sprintf("<trajectory id=\"%s\">\n", id)
	const closeTag = "</trajectory>\n\n"
	answer := t.FinalAnswer
	if strings.TrimSpace(answer) == "" {
		answer = "(none)"
	}
	end := "Final answer: " + clip(answer, max(per/4, 40)) + "\n"
	if t.Error != "" {
		end += "Episode error: " + clip(t.Error, max(per/8, 40)) + "\n"
	}
	body := renderSteps(t, per)
	if strings.TrimSpace(lead) != "" {
		body = "Prompt (this trajectory's own part):\n" + clipMiddle(strings.TrimSpace(lead), max(per/4, 60)) + "\n" + body
	}
	if room := per - len(open) - len(closeTag) - len(end); len(body) > room {
		body = clipMiddle(body, max(room-1, 0))
		if body != "" && !strings.HasSuffix(body, "\n") {
			body += "\n"
		}
	}
	return open + body + end + closeTag
}

// renderSteps writes every turn with its long fields cut to a share of per.
func renderSteps(t *sdk.Trace, per int) string {
	if len(t.Turns) == 0 {
		return "(no steps)\n"
	}
	field := func(div int) int { return max(per/div, 60) }
	var b strings.Builder
	for s := range t.Turns {
		turn := &t.Turns[s]
		fmt.Fprintf(&b, "Step %d\n", s+1)
		if turn.Code == "" && len(turn.ToolCalls) == 0 && strings.TrimSpace(turn.Completion) != "" {
			b.WriteString("Output: " + clip(strings.TrimSpace(turn.Completion), field(4)) + "\n")
		}
		if turn.Code != "" {
			b.WriteString("Code:\n```\n" + clip(strings.TrimRight(turn.Code, "\n"), field(3)) + "\n```\n")
		}
		for _, c := range turn.ToolCalls {
			b.WriteString("Tool call: " + c.Name + " " + clip(compactJSON(c.Arguments), field(8)) + "\n")
		}
		for _, o := range turn.Observations {
			b.WriteString("Observation")
			if o.IsError {
				b.WriteString(" (error)")
			}
			if o.Name != "" {
				b.WriteString(" from " + o.Name)
			}
			b.WriteString(": " + clip(strings.TrimSpace(o.Content), field(6)) + "\n")
		}
		if turn.Error != "" {
			b.WriteString("Error: " + clip(strings.TrimSpace(turn.Error), field(6)) + "\n")
		}
	}
	return b.String()
}

// compactJSON is raw without insignificant white space ("{}" for none,
// raw itself when it is not valid JSON).
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// marker replaces cut text.
func marker(cut int) string { return "[... " + strconv.Itoa(cut) + " chars cut ...]" }

// clip cuts s to at most max bytes, keeping its start and ending with a
// marker that says how much was cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	keep := max - len(marker(len(s))) - 1
	if keep < 0 {
		return clipUTF8(s, max)
	}
	head := clipUTF8(s, keep)
	return head + " " + marker(len(s)-len(head))
}

// clipMiddle cuts s to at most max bytes, keeping its start and its end
// around a marker.
func clipMiddle(s string, max int) string {
	if len(s) <= max {
		return s
	}
	keep := max - len(marker(len(s))) - 2
	if keep < 0 {
		return clipUTF8(s, max)
	}
	head := clipUTF8(s, keep/2)
	tailStart := len(s) - (keep - len(head))
	for tailStart < len(s) && !utf8.RuneStart(s[tailStart]) {
		tailStart++
	}
	return head + "\n" + marker(tailStart-len(head)) + "\n" + s[tailStart:]
}

// clipUTF8 is the longest prefix of s of at most n bytes that does not
// split a UTF-8 sequence.
func clipUTF8(s string, n int) string {
	if n >= len(s) {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// sharedPrefix splits the first prompts of traces (the whole rendered
// prompt each agent saw) into the part they all share, cut back to the end
// of a line so that no word is split, and each trace's own rest. A trace
// without a first prompt shares nothing, so the prefix is then "" and the
// rests are the prompts themselves.
func sharedPrefix(traces []sdk.Trace) (prefix string, rests []string) {
	prompts := make([]string, len(traces))
	for i := range traces {
		if len(traces[i].Turns) > 0 {
			prompts[i] = traces[i].Turns[0].Prompt
		}
	}
	if len(prompts) == 0 {
		return "", nil
	}
	n := len(prompts[0])
	for _, p := range prompts[1:] {
		n = min(n, len(p))
		for j := 0; j < n; j++ {
			if p[j] != prompts[0][j] {
				n = j
				break
			}
		}
	}
	if !allSameLength(prompts, n) && n > 0 && prompts[0][n-1] != '\n' {
		// The prompts part inside a line: share it up to the last break.
		n = strings.LastIndexByte(prompts[0][:n], '\n') + 1
	}
	rests = make([]string, len(prompts))
	for i, p := range prompts {
		rests[i] = p[n:]
	}
	return prompts[0][:n], rests
}

func allSameLength(prompts []string, n int) bool {
	for _, p := range prompts {
		if len(p) != n {
			return false
		}
	}
	return true
}
