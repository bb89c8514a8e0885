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
	if _, err := DeclaredTools(t); err != nil {
		return t, err
	}
	return t, nil
}

// MetaTools is the metadata key of the tools a task declares for itself:
// a JSON array of {"name", "description", "parameters"} objects (a BFCL
// case's function list reads as it is). A tool-calling athlete shows the
// task those tools instead of the packs' and ends the episode after the
// model's reply, whose calls a reward checks (agent.Task.Declared).
const MetaTools = "tools"

// DeclaredTools returns the tools task declares in its metadata
// (MetaTools), nil when it declares none.
func DeclaredTools(t sdk.Task) ([]sdk.ToolSpec, error) {
	raw, ok := t.Metadata[MetaTools]
	if !ok {
		return nil, nil
	}
	var specs []sdk.ToolSpec
	if strings.TrimSpace(raw) == "" {
		// An empty list: ReadTasks keeps [] as "".
		return nil, fmt.Errorf("task %q: metadata %q declares no tool", t.ID, MetaTools)
	}
	if err := json.Unmarshal([]byte(raw), &specs); err != nil {
		return nil, fmt.Errorf("task %q: metadata %q must be a JSON array of tools {\"name\", \"description\", \"parameters\"}: %w", t.ID, MetaTools, err)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("task %q: metadata %q declares no tool", t.ID, MetaTools)
	}
	for i, s := range specs {
		if s.Name == "" {
			return nil, fmt.Errorf("task %q: metadata %q: tool %d has no name", t.ID, MetaTools, i)
		}
	}
	return specs, nil
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
