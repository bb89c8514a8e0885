package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/internal/pluginbuild"
)

// chatML is the ChatML template (Qwen's, without tools), enough to check
// that the expert's conversations split into context and assistant text.
const chatML = `{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

func TestDataEmail(t *testing.T) {
	interp := pluginbuild.Path(t, "interpreter-starlark.wasm")
	dirs := []string{t.TempDir(), t.TempDir()}
	sft := filepath.Join(t.TempDir(), "sft", "expert.jsonl")
	for i, d := range dirs {
		args := []string{"data", "email", "--seed", "3", "--out", d, "--inboxes", "3", "--tasks-per-inbox", "6"}
		if i == 0 {
			args = append(args, "--expert-traces", sft, "--interpreter", interp)
		}
		out := mustTB(t, args...)
		var res dataEmailResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if res.Inboxes != 3 || res.Train != 12 || res.Test != 6 || res.Messages == 0 {
			t.Fatalf("result %+v", res)
		}
		if i == 0 && res.ExpertSolved != 12 {
			t.Fatalf("expert solved %d of 12 train tasks", res.ExpertSolved)
		}
	}
	for _, f := range []string{"messages.jsonl", "train.jsonl", "test.jsonl"} {
		a, _ := os.ReadFile(filepath.Join(dirs[0], f))
		b, _ := os.ReadFile(filepath.Join(dirs[1], f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs of the same seed", f)
		}
	}
	// Each line is a conversation toolbrain sft reads and trains on.
	tmpl, err := chattemplate.New(chatML)
	if err != nil {
		t.Fatal(err)
	}
	parse := train.MessagesParser(tmpl, chattemplate.Options{EOSToken: "<|im_end|>"})
	data, err := os.ReadFile(sft)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 12 {
		t.Fatalf("%d lines of SFT data, want 12", len(lines))
	}
	for i, line := range lines {
		segs, err := parse([]byte(line))
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		var assistant []string
		for _, s := range segs {
			if s.Role == train.RoleAssistant {
				assistant = append(assistant, s.Text)
			}
		}
		if len(assistant) != 2 || !strings.Contains(assistant[0], "search_emails(") || !strings.Contains(assistant[1], "final_answer(") {
			t.Fatalf("line %d: assistant segments %q", i+1, assistant)
		}
	}
}

func TestDataEmail_Errors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no out", args: nil, want: "--out is required"},
		{name: "too many tasks", args: []string{"--out", "x", "--tasks-per-inbox", "49"}, want: "tasks per inbox"},
		{name: "bad split", args: []string{"--out", "x", "--expert-split", "dev"}, want: "--expert-split"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := tb(t, append([]string{"data", "email"}, tt.args...)...)
			if code != 2 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, tt.want)
			}
		})
	}
}
