package coach

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/toolbrain/toolbrain/sdk"
)

// MaxTaskLine bounds one line of a task file (1 MiB): a prompt longer
// than that would not fit any context this program runs.
const MaxTaskLine = 1 << 20

// ReadTasks reads a task file: one JSON object per line,
//
//	{"id": "t1", "prompt": "What is 6*7?", "expected": "42", "metadata": {"split": "train"}}
//
// "prompt" is required; "id" defaults to the file's line; "answer" is
// accepted for "expected". Any other field is kept in the task's metadata
// as text, so that rewards and tools can read it: strings as they are, an
// array of strings or numbers comma-separated ("message_ids": ["m1", "m2"]
// becomes "m1,m2"), anything else as its JSON.
// Blank lines are skipped. A bad line, a duplicate id or an empty file is
// an error naming the file and the line.
func ReadTasks(path string) ([]sdk.Task, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	defer f.Close()
	var tasks []sdk.Task
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), MaxTaskLine)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		t, err := parseTask(b)
		if err != nil {
			return nil, fmt.Errorf("tasks %s:%d: %w", path, line, err)
		}
		if t.ID == "" {
			t.ID = "line-" + strconv.Itoa(line)
		}
		if first, dup := seen[t.ID]; dup {
			return nil, fmt.Errorf("tasks %s:%d: id %q already used on line %d", path, line, t.ID, first)
		}
		seen[t.ID] = line
		tasks = append(tasks, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tasks %s: %w (a line may be longer than %d bytes)", path, err, MaxTaskLine)
	}
	if len(tasks) == 0 {
		return nil, fmt.Errorf("tasks %s: no tasks", path)
	}
	return tasks, nil
}

func parseTask(b []byte) (sdk.Task, error) {
	var t sdk.Task
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return t, fmt.Errorf(`want a JSON object such as {"id": "t1", "prompt": "...", "expected": "..."}`)
	}
	str := func(key string) (string, error) {
		raw, ok := fields[key]
		if !ok {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%q must be a string", key)
		}
		return s, nil
	}
	var err error
	if t.ID, err = str("id"); err != nil {
		return t, err
	}
	if t.Prompt, err = str("prompt"); err != nil {
		return t, err
	}
	if t.Prompt == "" {
		return t, fmt.Errorf(`"prompt" is missing or empty`)
	}
	if t.Expected, err = str("expected"); err != nil {
		return t, err
	}
	if _, both := fields["answer"]; both {
		if _, has := fields["expected"]; has {
			return t, fmt.Errorf(`set "expected" or "answer", not both`)
		}
		if t.Expected, err = str("answer"); err != nil {
			return t, err
		}
	}
	if raw, ok := fields["metadata"]; ok {
		if err := json.Unmarshal(raw, &t.Metadata); err != nil {
			return t, fmt.Errorf(`"metadata" must be an object of strings`)
		}
	}
	for k, raw := range fields {
		switch k {
		case "id", "prompt", "expected", "answer", "metadata":
			continue
		}
		if t.Metadata == nil {
			t.Metadata = map[string]string{}
		}
		t.Metadata[k] = metadataText(raw)
	}
	return t, nil
}

// metadataText is a task field as metadata text.
func metadataText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []any
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, v := range list {
			switch v := v.(type) {
			case string:
				parts = append(parts, v)
			case float64:
				parts = append(parts, strconv.FormatFloat(v, 'f', -1, 64))
			default:
				return string(raw)
			}
		}
		return strings.Join(parts, ",")
	}
	return string(raw)
}
