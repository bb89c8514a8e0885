package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRun_MainJob runs the main job end to end on a small corpus: the
// shipped base, in-process email tools over SQLite FTS5, the CodeAct
// sandbox, the email reward, held-out success before and after one GRPO
// step, and the run directory.
func TestRun_MainJob(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the shipped model")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "job.toml")
	write(t, cfg, `
[plugins]
cache_dir = "`+filepath.Join(dir, "cache")+`"
[train]
group_size = 2
tasks_per_step = 1
steps = 1
lr = 0.002
max_turns = 2
max_new_tokens = 24
max_len = 600
`)
	out := filepath.Join(dir, "run")
	code, stdout, stderr := tb(t, "run", "--config", cfg, "--inboxes", "4", "--tasks-per-inbox", "2", "--out", out, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	for _, re := range []string{
		`(?m)^held-out success before RL: \d+\.\d% \(\d+ of 2 tasks, 95% CI`,
		`(?m)^held-out success after RL: \d+\.\d% \(\d+ of 2 tasks, 95% CI`,
	} {
		if !regexp.MustCompile(re).MatchString(stdout) {
			t.Errorf("stdout does not match %s:\n%s", re, stdout)
		}
	}
	for _, f := range []string{"metrics.jsonl", "report.md", "curves.png", "adapter/adapter_model.safetensors", "data/test.jsonl", "data/messages.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("run directory: %v", err)
		}
	}
	if !strings.Contains(stderr, "held-out inboxes never trained on") {
		t.Errorf("stderr: %s", stderr)
	}
}
