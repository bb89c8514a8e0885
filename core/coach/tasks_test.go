package coach_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/sdk"
)

func TestReadTasks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tasks.jsonl")
	src := `{"id": "t1", "prompt": "What is 6*7?", "expected": "42"}

{"id": "ib00-q03", "prompt": "When is the orion meeting?", "answer": "3pm", "inbox": "ib00", "message_ids": ["ib00-m007", "ib00-m009"], "level": 2, "metadata": {"split": "test"}}
{"prompt": "No id"}
`
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := coach.ReadTasks(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.Task{
		{ID: "t1", Prompt: "What is 6*7?", Expected: "42"},
		{ID: "ib00-q03", Prompt: "When is the orion meeting?", Expected: "3pm",
			Metadata: map[string]string{"inbox": "ib00", "message_ids": "ib00-m007,ib00-m009", "level": "2", "split": "test"}},
		{ID: "line-4", Prompt: "No id"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestReadTasks_Errors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"not JSON", "{\"prompt\": \"a\"}\nnope\n", "tasks.jsonl:2: want a JSON object"},
		{"no prompt", `{"id": "a", "expected": "1"}`, `tasks.jsonl:1: "prompt" is missing`},
		{"prompt not a string", `{"prompt": 3}`, `"prompt" must be a string`},
		{"both answers", `{"prompt": "a", "expected": "1", "answer": "1"}`, `not both`},
		{"duplicate id", "{\"id\": \"a\", \"prompt\": \"x\"}\n{\"id\": \"a\", \"prompt\": \"y\"}\n", `tasks.jsonl:2: id "a" already used on line 1`},
		{"bad metadata", `{"prompt": "a", "metadata": [1]}`, `"metadata" must be an object of strings`},
		{"empty", "\n\n", "no tasks"},
		{"declared tools not JSON", `{"id": "b1", "prompt": "a", "tools": "[{"}`, `tasks.jsonl:1: task "b1": metadata "tools" must be a JSON array of tools`},
		{"declared tools empty", `{"id": "b2", "prompt": "a", "tools": []}`, `metadata "tools" declares no tool`},
		{"declared tool without name", `{"id": "b3", "prompt": "a", "tools": [{"description": "d"}]}`, `tool 0 has no name`},
		{"line too long", `{"prompt": "` + strings.Repeat("x", coach.MaxTaskLine) + `"}`, "longer than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tasks.jsonl")
			if err := os.WriteFile(p, []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := coach.ReadTasks(p)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := coach.ReadTasks(filepath.Join(t.TempDir(), "none.jsonl")); err == nil || !strings.Contains(err.Error(), "none.jsonl") {
		t.Errorf("missing file: %v", err)
	}
}

// TestDeclaredTools reads the tools a task declares in its metadata, as a
// BFCL case's function list is written (BFCL's own types kept as text).
func TestDeclaredTools(t *testing.T) {
	for _, c := range []struct {
		name string
		meta map[string]string
		want []string
	}{
		{"none", map[string]string{"inbox": "ib00"}, nil},
		{"bfcl functions", map[string]string{coach.MetaTools: `[{"name": "math.hypot", "description": "d", "parameters": {"type": "dict", "properties": {"x": {"type": "float"}}}}, {"name": "g"}]`},
			[]string{"math.hypot", "g"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			specs, err := coach.DeclaredTools(sdk.Task{ID: "t", Metadata: c.meta})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range specs {
				names = append(names, s.Name)
			}
			if !reflect.DeepEqual(names, c.want) {
				t.Errorf("declared %v, want %v", names, c.want)
			}
			if len(specs) > 0 && string(specs[0].Parameters) != `{"type": "dict", "properties": {"x": {"type": "float"}}}` {
				t.Errorf("parameters %s, want them as written", specs[0].Parameters)
			}
		})
	}
}
