package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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
		return nil, fmt.Errorf("not a JSON array of segments: %v", err)
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
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	return readSFT(path, f, encode, bos, maxLen)
}

func readSFT(path string, r io.Reader, encode func(string) []int32, bos int32, maxLen int) ([]Example, error) {
	br := bufio.NewReader(r)
	var out []Example
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s:%d: %w", path, n, err)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			segs, perr := ParseSegments(t)
			if perr != nil {
				return nil, fmt.Errorf("%w: %s:%d: %v", ErrData, path, n, perr)
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
