package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
)

// The files of a corpus directory.
const (
	MessagesFile = "messages.jsonl" // one Message per line, every inbox
	TrainFile    = "train.jsonl"    // one Task per line
	TestFile     = "test.jsonl"     // one Task per line, held-out inboxes
)

// Caps on what Read accepts: a corpus directory may come from elsewhere.
const (
	MaxLineBytes = 64 << 10
	MaxMessages  = 1 << 20
	MaxTasks     = 1 << 20
)

// Write writes c into dir (created if missing) as MessagesFile, TrainFile
// and TestFile, each atomically (a reader never sees half a file). The bytes depend only on c.
func Write(c *Corpus, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	var msgs []any
	for _, in := range c.Inboxes {
		for _, m := range in.Messages {
			msgs = append(msgs, m)
		}
	}
	if err := writeJSONL(filepath.Join(dir, MessagesFile), msgs); err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		tasks []Task
	}{{TrainFile, c.Train}, {TestFile, c.Test}} {
		var rows []any
		for _, t := range f.tasks {
			rows = append(rows, t)
		}
		if err := writeJSONL(filepath.Join(dir, f.name), rows); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSONL writes one JSON value per line to w.
func WriteJSONL[T any](w io.Writer, rows []T) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writeJSONL(path string, rows []any) error {
	var b bytes.Buffer
	if err := WriteJSONL(&b, rows); err != nil {
		return fmt.Errorf("corpus: write %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	return nil
}

// readJSONL decodes one T per non-blank line of path, strictly (unknown
// fields are errors), naming the file and line of a bad one.
func readJSONL[T any](path string, limit int) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if len(out) >= limit {
			return nil, fmt.Errorf("corpus: %s:%d: more than %d rows", path, line, limit)
		}
		var v T
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("corpus: %s:%d: %w", path, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("corpus: %s: a line is longer than %d bytes: %w", path, MaxLineBytes, err)
		}
		return nil, fmt.Errorf("corpus: %s: %w", path, err)
	}
	return out, nil
}

// ReadMessages reads a MessagesFile.
func ReadMessages(path string) ([]Message, error) {
	msgs, err := readJSONL[Message](path, MaxMessages)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, m := range msgs {
		if m.ID == "" || m.Inbox == "" {
			return nil, fmt.Errorf("corpus: %s: message %d: id and inbox are required", path, i+1)
		}
		if seen[m.ID] {
			return nil, fmt.Errorf("corpus: %s: message id %q appears twice", path, m.ID)
		}
		seen[m.ID] = true
	}
	return msgs, nil
}

// ReadTasks reads a TrainFile or TestFile.
func ReadTasks(path string) ([]Task, error) {
	tasks, err := readJSONL[Task](path, MaxTasks)
	if err != nil {
		return nil, err
	}
	for i, t := range tasks {
		if t.ID == "" || t.Inbox == "" {
			return nil, fmt.Errorf("corpus: %s: task %d: id and inbox are required", path, i+1)
		}
	}
	return tasks, nil
}

// Read reads a corpus directory written by Write. Seed is not stored and
// reads as 0.
func Read(dir string) (*Corpus, error) {
	msgs, err := ReadMessages(filepath.Join(dir, MessagesFile))
	if err != nil {
		return nil, err
	}
	c := &Corpus{}
	index := map[string]int{}
	for _, m := range msgs {
		i, ok := index[m.Inbox]
		if !ok {
			i = len(c.Inboxes)
			index[m.Inbox] = i
			c.Inboxes = append(c.Inboxes, Inbox{ID: m.Inbox})
		}
		c.Inboxes[i].Messages = append(c.Inboxes[i].Messages, m)
	}
	if c.Train, err = ReadTasks(filepath.Join(dir, TrainFile)); err != nil {
		return nil, err
	}
	if c.Test, err = ReadTasks(filepath.Join(dir, TestFile)); err != nil {
		return nil, err
	}
	return c, nil
}
