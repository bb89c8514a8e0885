package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/toolbrain/toolbrain/sdk"
)

// ErrBadTrace means a JSONL line is not a trace.
var ErrBadTrace = errors.New("agent: invalid trace")

// MaxTraceLine caps one JSONL line when reading (a trace of a long episode
// with all its ids is some megabytes).
const MaxTraceLine = 64 << 20

// WriteJSONL writes each trace as one line of JSON (the sdk.Trace form).
func WriteJSONL(w io.Writer, traces ...sdk.Trace) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range traces {
		if err := enc.Encode(&traces[i]); err != nil {
			return fmt.Errorf("write trace %d: %w", i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write traces: %w", err)
	}
	return nil
}

// ReadJSONL reads traces written by WriteJSONL; blank lines are skipped.
// Errors wrap ErrBadTrace with the line number.
func ReadJSONL(r io.Reader) ([]sdk.Trace, error) {
	var out []sdk.Trace
	err := ScanJSONL(r, func(_ int, t sdk.Trace) error {
		out = append(out, t)
		return nil
	})
	return out, err
}

// ScanJSONL calls fn with each trace of r in order (i counts traces, from
// 0), holding one line at a time: memory stays within MaxTraceLine however
// long the file. Blank lines are skipped; errors wrap ErrBadTrace with the
// line number, and an error from fn stops the scan and is returned as is.
func ScanJSONL(r io.Reader, fn func(i int, t sdk.Trace) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxTraceLine)
	line, i := 1, 0
	for ; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var t sdk.Trace
		if err := json.Unmarshal(b, &t); err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrBadTrace, line, err)
		}
		if err := fn(i, t); err != nil {
			return err
		}
		i++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w: line %d is longer than %d bytes", ErrBadTrace, line, MaxTraceLine)
		}
		return fmt.Errorf("%w: line %d: %w", ErrBadTrace, line, err)
	}
	return nil
}

// safeText makes model-written text safe for a terminal: every rune that is
// not printable (ESC sequences, NUL, other controls, invalid UTF-8) is
// written as its Go escape (\x1b, \x00, \u200b), as the final answer is by
// %q; tabs stay, and newlines are split by the caller.
func safeText(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (!unicode.IsPrint(r) && r != '\t') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r) || r == '\t':
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\u200b'
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// RenderTrace writes a trace for people: each turn's completion (or code),
// tool calls, observations and errors, the final answer, and token counts.
// It is what `toolbrain trace show` prints.
func RenderTrace(w io.Writer, t sdk.Trace) error {
	ew := &errWriter{w: w}
	title := safeText(t.ID)
	if title == "" {
		title = "(no id)"
	}
	ew.printf("trace %s", title)
	if t.TaskID != "" {
		ew.printf("  task %s", safeText(t.TaskID))
	}
	ew.printf("\n%d turns, %d tool calls", len(t.Turns), t.ToolCallCount())
	if seq, err := t.Sequence(); err == nil {
		ew.printf(", %d tokens (%d generated, %d prompt and observation)", len(seq.IDs), seq.Generated, len(seq.IDs)-seq.Generated)
	}
	if t.Timings.TotalMS > 0 {
		ew.printf(", %.1f ms (generate %.1f, tools %.1f)", t.Timings.TotalMS, t.Timings.GenerateMS, t.Timings.ToolMS)
	}
	ew.printf("\n")
	for i, turn := range t.Turns {
		ew.printf("\n── turn %d", i+1)
		if tk := turn.Tokens; tk != nil {
			ew.printf(" · %d prompt + %d generated + %d observation tokens", len(tk.PromptIDs), len(tk.GeneratedIDs), len(tk.ObservationIDs))
			if n := len(tk.Logprobs); n > 0 {
				var sum float64
				for _, lp := range tk.Logprobs {
					sum += float64(lp)
				}
				ew.printf(" · mean logprob %.3f", sum/float64(n))
			}
		}
		ew.printf("\n")
		if turn.Code != "" {
			ew.block("code", turn.Code)
		} else {
			ew.block("completion", turn.Completion)
		}
		for _, c := range turn.ToolCalls {
			id := ""
			if c.ID != "" {
				id = " [" + safeText(c.ID) + "]"
			}
			ew.printf("  tool call%s: %s(%s)\n", id, safeText(c.Name), safeText(string(c.Arguments)))
		}
		for _, o := range turn.Observations {
			label := "observation"
			if o.Name != "" {
				label += " from " + safeText(o.Name)
			}
			if o.IsError {
				label += " (error)"
			}
			ew.block(label, o.Content)
		}
		if turn.Error != "" {
			ew.printf("  error: %s\n", safeText(turn.Error))
		}
	}
	ew.printf("\n")
	if t.Error != "" {
		ew.printf("episode error: %s\n", safeText(t.Error))
	}
	ew.printf("final answer: %q\n", t.FinalAnswer)
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// block prints a labelled multi-line text, indented.
func (e *errWriter) block(label, text string) {
	e.printf("  %s:\n", label)
	text = strings.TrimRight(text, "\n")
	if text == "" {
		e.printf("    (empty)\n")
		return
	}
	for _, line := range strings.Split(text, "\n") {
		e.printf("    │ %s\n", safeText(line))
	}
}
