package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/internal/atomicfile"
	"github.com/toolbrain/toolbrain/runtime/mcp/mcptest"
)

// readGenerated reads a generated task file as the coach does and the
// command's JSON result.
func readGenerated(t *testing.T, path, stdout string) ([]map[string]string, tasksGenerateResult) {
	t.Helper()
	tasks, err := coach.ReadTasks(path)
	if err != nil {
		t.Fatal(err)
	}
	var res tasksGenerateResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	var out []map[string]string
	for _, task := range tasks {
		if task.Prompt == "" || task.Expected == "" || task.Metadata["calls"] == "" || task.Metadata["difficulty"] == "" {
			t.Fatalf("task %+v", task)
		}
		m := map[string]string{"id": task.ID, "prompt": task.Prompt, "expected": task.Expected}
		for k, v := range task.Metadata {
			m[k] = v
		}
		out = append(out, m)
	}
	return out, res
}

func TestTasksGenerate_Email(t *testing.T) {
	dir := t.TempDir()
	corpusDir := filepath.Join(dir, "corpus")
	mustTB(t, "data", "email", "--seed", "3", "--out", corpusDir, "--inboxes", "3", "--tasks-per-inbox", "6")
	out := filepath.Join(dir, "tasks", "email.jsonl")
	code, stdout, stderr := tb(t, "tasks", "generate", "--pack", "email", "--sample", corpusDir, "--n", "20", "--out", out, "--seed", "4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tasks, res := readGenerated(t, out, stdout)
	if len(tasks) != 20 || res.Kept != 20 || res.Source != "email" || res.Generator != "scripted" {
		t.Fatalf("%d tasks, result %+v", len(tasks), res)
	}
	if !strings.Contains(stderr, "kept 20 of") {
		t.Errorf("stderr lacks the summary: %q", stderr)
	}
	for _, task := range tasks {
		if task["inbox"] == "" || !strings.Contains(task["calls"], "search_emails") || !strings.Contains(task["calls"], "read_email") {
			t.Fatalf("task %v", task)
		}
	}
	// The same seed writes the same file.
	again := filepath.Join(dir, "again.jsonl")
	mustTB(t, "tasks", "generate", "--pack", "email", "--sample", corpusDir, "--n", "20", "--out", again, "--seed", "4")
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if string(a) != string(b) {
		t.Error("the same seed wrote different task files")
	}
}

// TestTasksGenerate_EmailPack writes email tasks through the email pack
// itself (its go-plugin module, the corpus given by --sample), not the
// in-process tools.
func TestTasksGenerate_EmailPack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a go-plugin process")
	}
	dir := t.TempDir()
	packDir := filepath.Join(dir, "email")
	if err := os.MkdirAll(packDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Copy("../../plugins/packs/email/toolpack.toml", filepath.Join(packDir, "toolpack.toml")); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(packDir, "email-tools"), "../../plugins/packs/email/plugin")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	mustTB(t, "pack", "build", packDir, "-o", t.TempDir())
	corpusDir := filepath.Join(dir, "corpus")
	mustTB(t, "data", "email", "--seed", "2", "--out", corpusDir, "--inboxes", "2", "--tasks-per-inbox", "6")
	out := filepath.Join(dir, "tasks.jsonl")
	code, stdout, stderr := tb(t, "tasks", "generate", "--pack", packDir, "--sample", corpusDir, "--n", "12", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tasks, res := readGenerated(t, out, stdout)
	if len(tasks) != 12 || res.Source != "email" || len(res.Rejected) != 0 {
		t.Fatalf("%d tasks, result %+v", len(tasks), res)
	}
	for _, task := range tasks {
		if task["inbox"] == "" || !strings.Contains(task["calls"], "read_email") {
			t.Fatalf("task %v", task)
		}
	}
}

// TestTasksGenerate_Pack writes tasks for the calculator pack, its
// WebAssembly module run through runtime/pack.
func TestTasksGenerate_Pack(t *testing.T) {
	dir := calculatorPack(t, t.TempDir())
	out := filepath.Join(t.TempDir(), "calc.jsonl")
	code, stdout, stderr := tb(t, "tasks", "generate", "--pack", dir, "--n", "10", "--out", out, "--seed", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tasks, res := readGenerated(t, out, stdout)
	if len(tasks) != 10 || res.Source != "calculator" {
		t.Fatalf("%d tasks, result %+v", len(tasks), res)
	}
	for _, task := range tasks {
		if !strings.HasPrefix(task["id"], "calculator-") || !strings.Contains(task["prompt"], "What does ") {
			t.Errorf("task %v", task)
		}
	}
}

// mcpConfig writes a toolbrain.toml with the mcptest server as "t",
// granting echo and add: started on stdio, or served over streamable HTTP
// on loopback when http is set.
func mcpConfig(t *testing.T, http bool) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "toolbrain.toml")
	src := "[[mcp]]\nname = \"t\"\ncommand = [\"" + strings.Join(mcptest.Command(), `", "`) + "\"]\ngrant = [\"echo\", \"add\"]\n"
	if http {
		src = "[[mcp]]\nname = \"t\"\nurl = \"" + mcptest.ServeHTTP(t, mcptest.HTTPOptions{}) + "\"\ngrant = [\"echo\", \"add\"]\n"
	}
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTasksGenerate_MCP writes tasks for the mcptest server's tools with
// the scripted generator, over both transports.
func TestTasksGenerate_MCP(t *testing.T) {
	for _, transport := range []string{"stdio", "http"} {
		t.Run(transport, func(t *testing.T) {
			cfg := mcpConfig(t, transport == "http")
			out := filepath.Join(t.TempDir(), "mcp.jsonl")
			code, stdout, stderr := tb(t, "tasks", "generate", "--mcp", "t", "--config", cfg, "--n", "6", "--out", out, "--seed", "2", "--sample", cfg)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			tasks, res := readGenerated(t, out, stdout)
			if len(tasks) != 6 || res.Source != "t" {
				t.Fatalf("%d tasks, result %+v", len(tasks), res)
			}
			for _, task := range tasks {
				switch {
				case strings.Contains(task["calls"], `"t__echo"`):
					if !strings.HasPrefix(task["expected"], "echo: ") {
						t.Errorf("echo task %v", task)
					}
				case strings.Contains(task["calls"], `"t__add"`):
				default:
					t.Errorf("task calls a tool that is not granted: %v", task)
				}
			}
		})
	}
}

func TestTasksGenerate_Endpoint(t *testing.T) {
	reply := `Here are the tasks:
[{"question": "What is 2 plus 3?", "answer": "5", "calls": [{"name": "t__add", "arguments": {"a": 2, "b": 3}}], "difficulty": "easy"},
 {"question": "What is 2 plus 2?", "answer": "5", "calls": [{"name": "t__add", "arguments": {"a": 2, "b": 2}}], "difficulty": "easy"},
 {"question": "Echo hello.", "answer": "echo: hello", "calls": [{"name": "t__echo", "arguments": {"text": "hello"}}], "difficulty": "easy"}]`
	var prompts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string }
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		prompts = append(prompts, req.Messages[len(req.Messages)-1].Content)
		_ = json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": reply}}}})
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "llm.jsonl")
	code, stdout, stderr := tb(t, "tasks", "generate", "--mcp", "t", "--config", mcpConfig(t, false), "--n", "2", "--out", out,
		"--generator", "endpoint", "--endpoint", srv.URL+"/v1", "--model", "m", "--rounds", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tasks, res := readGenerated(t, out, stdout)
	if len(tasks) != 2 || tasks[0]["expected"] != "5" || tasks[1]["expected"] != "echo: hello" || res.Rejected["unanswerable"] != 1 {
		t.Fatalf("tasks %v, result %+v", tasks, res)
	}
	if len(prompts) != 1 || !strings.Contains(prompts[0], "t__add") || !strings.Contains(prompts[0], "Add two numbers.") {
		t.Fatalf("prompts %q", prompts)
	}
	if !strings.Contains(stderr, "unanswerable 1") || !strings.Contains(stderr, `e.g. unanswerable: "What is 2 plus 2?"`) {
		t.Errorf("stderr %q", stderr)
	}
}

func TestTasksGenerate_Errors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.jsonl")
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no source", []string{"--n", "1", "--out", out}, 2, "give one of --pack and --mcp"},
		{"both sources", []string{"--pack", "email", "--mcp", "t", "--n", "1", "--out", out}, 2, "give one of --pack and --mcp"},
		{"no n", []string{"--pack", "email", "--out", out}, 2, "--n must be > 0"},
		{"no out", []string{"--pack", "email", "--n", "1"}, 2, "--out is required"},
		{"email without sample", []string{"--pack", "email", "--n", "1", "--out", out}, 2, "--pack email needs --sample DIR"},
		{"missing pack", []string{"--pack", filepath.Join(dir, "nope"), "--n", "1", "--out", out}, 1, "nope"},
		{"unknown server", []string{"--mcp", "nope", "--n", "1", "--out", out}, 1, `no [[mcp]] server named "nope"`},
		{"unknown generator", []string{"--mcp", "t", "--config", mcpConfig(t, false), "--n", "1", "--out", out, "--generator", "magic"}, 2, `--generator "magic"`},
		{"endpoint without model", []string{"--mcp", "t", "--config", mcpConfig(t, false), "--n", "1", "--out", out, "--generator", "endpoint", "--endpoint", "http://127.0.0.1:1/v1"}, 2, "needs --endpoint URL and --model NAME"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := tb(t, append([]string{"tasks", "generate"}, c.args...)...)
			if code != c.code || !strings.Contains(errs, c.msg) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, errs, c.code, c.msg)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed run wrote %s", out)
			}
		})
	}
}
