package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/toolbrain/toolbrain/core/chattemplate"
)

// ErrData marks training data that cannot be read: the error names the
// file, the line and the problem.
var ErrData = errors.New("train: bad data")

// Segment roles of ToolBrain's chat-segment format.
const (
	RoleAssistant = "assistant" // trained on
	RoleOther     = "other"     // context only
)

// Segment is one piece of a chat-segment line.
type Segment struct {
	Role string `json:"role"`
	Text string `json:"text"`
}

// Example is one tokenized training row.
type Example struct {
	IDs  []int32
	Mask []float32
	// Line is the 1-based line of the source file.
	Line int
}

// ParseSegments parses one line of chat-segment JSONL: a JSON array of
// {"role": "assistant"|"other", "text": ...}, with at least one assistant
// segment of non-empty text.
func ParseSegments(line []byte) ([]Segment, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var segs []Segment
	if err := dec.Decode(&segs); err != nil {
		return nil, fmt.Errorf("not a JSON array of segments: %w", err)
	}
	if dec.More() {
		return nil, errors.New("extra data after the JSON array")
	}
	if len(segs) == 0 {
		return nil, errors.New("no segments")
	}
	trained := false
	for i, s := range segs {
		switch s.Role {
		case RoleAssistant:
			trained = trained || s.Text != ""
		case RoleOther:
		default:
			return nil, fmt.Errorf("segment %d: role %q (want %q or %q)", i, s.Role, RoleAssistant, RoleOther)
		}
	}
	if !trained {
		return nil, errors.New("no assistant text to train on")
	}
	return segs, nil
}

// Tokenize encodes segments in order (prefixed by bos when bos ≥ 0) and
// masks the assistant tokens. Each segment is encoded on its own, so
// token boundaries fall between segments, as the mask requires.
func Tokenize(segs []Segment, encode func(string) []int32, bos int32) (ids []int32, mask []float32) {
	if bos >= 0 {
		ids, mask = append(ids, bos), append(mask, 0)
	}
	for _, s := range segs {
		t := encode(s.Text)
		w := float32(0)
		if s.Role == RoleAssistant {
			w = 1
		}
		ids = append(ids, t...)
		for range t {
			mask = append(mask, w)
		}
	}
	return ids, mask
}

// ReadSFT reads a chat-segment JSONL file and tokenizes each line. Blank
// lines are skipped. A line that is not valid, or whose tokens exceed
// maxLen (when maxLen > 0), fails the whole read with an ErrData naming
// the file and line; so does a file with no examples.
func ReadSFT(path string, encode func(string) []int32, bos int32, maxLen int) ([]Example, error) {
	return ReadSFTWith(path, ParseSegments, encode, bos, maxLen)
}

// ReadSFTWith is ReadSFT with another line format: parse turns one
// non-blank line into segments (ParseSegments, or MessagesParser for chat
// messages rendered by a template).
func ReadSFTWith(path string, parse func([]byte) ([]Segment, error), encode func(string) []int32, bos int32, maxLen int) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	return readSFT(path, f, parse, encode, bos, maxLen)
}

// MaxLineBytes bounds one line of SFT data before it is parsed or
// tokenized: a longer line would be read, decoded and tokenized whole
// (a 100 MiB line once took 6.5 GB) only to be refused for its length.
// 8 MiB is far past any context this program trains.
const MaxLineBytes = 8 << 20

// readLine reads one line of at most limit bytes (newline included); a
// longer one is an error, and only limit bytes of it are ever held.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			return nil, fmt.Errorf("line longer than %d bytes", limit)
		}
		line = append(line, chunk...)
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}

func readSFT(path string, r io.Reader, parse func([]byte) ([]Segment, error), encode func(string) []int32, bos int32, maxLen int) ([]Example, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []Example
	for n := 1; ; n++ {
		line, err := readLine(br, MaxLineBytes)
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%w: read %s:%d: %w", ErrData, path, n, err)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			segs, perr := parse(t)
			if perr != nil {
				return nil, fmt.Errorf("%w: %s:%d: %w", ErrData, path, n, perr)
			}
			ids, mask := Tokenize(segs, encode, bos)
			if maxLen > 0 && len(ids) > maxLen {
				return nil, fmt.Errorf("%w: %s:%d: %d tokens, longer than the model's context (%d)", ErrData, path, n, len(ids), maxLen)
			}
			out = append(out, Example{IDs: ids, Mask: mask, Line: n})
		}
		if err == io.EOF {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s: no examples", ErrData, path)
	}
	return out, nil
}

// SFTBatch gathers examples into a Batch.
func SFTBatch(ex []Example) Batch {
	var b Batch
	for _, e := range ex {
		b.IDs, b.Mask = append(b.IDs, e.IDs), append(b.Mask, e.Mask)
	}
	return b
}

// MessagesLine is one line of chat-message JSONL:
//
//	{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}], "tools": [...]}
type MessagesLine struct {
	Messages []chattemplate.Message `json:"messages"`
	Tools    []json.RawMessage      `json:"tools,omitempty"`
}

// MessagesParser returns a line parser for chat-message JSONL that renders
// each conversation with the chat template t and trains on the assistant
// messages only.
//
// The conversation is rendered once. Each assistant message starts where
// the template's generation prompt for the messages before it ends, and
// ends after its content and, when it follows, opts.EOSToken (the
// end-of-turn marker the model must learn to emit). Everything else is
// context. A template whose generation prompt is not a prefix of the
// rendered conversation, or an assistant message without content (tool
// calls only), cannot be split this way: the line fails saying so.
func MessagesParser(t *chattemplate.Template, opts chattemplate.Options) func([]byte) ([]Segment, error) {
	return func(line []byte) ([]Segment, error) {
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var ml MessagesLine
		if err := dec.Decode(&ml); err != nil {
			return nil, fmt.Errorf("not a {\"messages\": [...]} object: %w", err)
		}
		if len(ml.Messages) == 0 {
			return nil, errors.New("no messages")
		}
		o := opts
		for _, tool := range ml.Tools {
			o.Tools = append(o.Tools, tool)
		}
		o.AddGenerationPrompt = false
		full, err := t.Render(ml.Messages, o)
		if err != nil {
			return nil, err
		}
		var segs []Segment
		done := 0 // bytes of full already in segs
		for i, m := range ml.Messages {
			if m.Role != RoleAssistant {
				continue
			}
			if m.Content == "" {
				return nil, fmt.Errorf("message %d: an assistant message without content cannot be located in the rendered text", i)
			}
			o.AddGenerationPrompt = true
			prompt, err := t.Render(ml.Messages[:i], o)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			if !strings.HasPrefix(full, prompt) || len(prompt) < done {
				return nil, fmt.Errorf("message %d: the chat template's generation prompt is not a prefix of the rendered conversation", i)
			}
			k := strings.Index(full[len(prompt):], m.Content)
			if k < 0 {
				return nil, fmt.Errorf("message %d: its content does not appear in the rendered conversation", i)
			}
			end := len(prompt) + k + len(m.Content)
			if opts.EOSToken != "" && strings.HasPrefix(full[end:], opts.EOSToken) {
				end += len(opts.EOSToken)
			}
			segs = append(segs, Segment{Role: RoleOther, Text: full[done:len(prompt)]}, Segment{Role: RoleAssistant, Text: full[len(prompt):end]})
			done = end
		}
		if len(segs) == 0 {
			return nil, errors.New("no assistant message to train on")
		}
		return segs, nil
	}
}
