package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/plugins/packs/calculator/tasks"
	"github.com/toolbrain/toolbrain/sdk"
)

func lineCount(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// distillRun runs `toolbrain distill` and decodes its result.
func distillRun(t *testing.T, args ...string) distillResult {
	t.Helper()
	code, out, errs := tb(t, append([]string{"distill"}, args...)...)
	if code != 0 {
		t.Fatalf("distill: exit %d\n%s", code, errs)
	}
	var res distillResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return res
}

// TestDistill_Scripted: the scripted calculator expert solves the
// training tasks through the sandbox and the calculator pack; a task it
// cannot solve (no operands in its metadata) scores 0 and is dropped by
// the reward threshold; the kept conversations are SFT data the student
// trains on, and the model it writes loads.
func TestDistill_Scripted(t *testing.T) {
	dir, cfgPath, interp := trainKit(t)
	train := filepath.Join(dir, "data", "train.jsonl")
	b, err := os.ReadFile(train)
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := json.Marshal(map[string]any{"id": "no-operands", "prompt": "What is six times seven?", "expected": "42"})
	taskFile := filepath.Join(dir, "tasks.jsonl")
	write(t, taskFile, string(b)+string(bad)+"\n")
	out := filepath.Join(dir, "distill")
	res := distillRun(t, "--config", cfgPath, "--interpreter", interp, "--teacher", "calculator", "--tasks", taskFile,
		"--out", out, "--steps", "2", "--batch", "4", "--full", "--lr", "0.01")

	if f := res.Filter; f.Tasks != 7 || f.Demos != 7 || f.Kept != 6 || f.Failed != 1 || f.KeptTasks != 6 {
		t.Errorf("filter %+v, want 6 of 7 kept, 1 failed", f)
	}
	if res.ExactIDs || res.SFT == nil || res.SFT.Steps != 2 || res.KD != nil {
		t.Errorf("result %+v", res)
	}
	if n := lineCount(t, filepath.Join(out, "teacher.jsonl")); n != 7 {
		t.Errorf("teacher.jsonl has %d traces, want 7", n)
	}
	f, err := os.Open(filepath.Join(out, "teacher.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	traces, err := agent.ReadJSONL(f)
	if err != nil || len(traces) != 7 || traces[0].FinalAnswer == "" || traces[6].Error == "" {
		t.Errorf("traces %+v (%v)", traces, err)
	}
	demos, err := os.ReadFile(res.Demos)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(demos), "\n"); n != 6 || strings.Contains(string(demos), "six times seven") {
		t.Errorf("demos.jsonl: %d lines, want the 6 solved tasks:\n%s", n, demos)
	}
	// The conversation is the athlete's: its system prompt, the expert's reply.
	reply, _ := tasks.ExpertReply(traceTask(t, train))
	if !strings.Contains(string(demos), `"content":"Use the arith tool."`) || !strings.Contains(string(demos), jsonString(reply)) {
		t.Errorf("demos.jsonl lacks the system prompt or the expert's reply %q:\n%s", reply, demos)
	}
	if code, _, errs := tb(t, "generate", "--model", res.Output, "--prompt", "1 + 1", "--max-new", "2"); code != 0 {
		t.Errorf("the distilled model does not generate: exit %d, %s", code, errs)
	}

	// A threshold nothing reaches keeps nothing, and says so.
	code, _, errs := tb(t, "distill", "--config", cfgPath, "--interpreter", interp, "--teacher", "calculator",
		"--out", filepath.Join(dir, "none"), "--min-reward", "2")
	if code != 1 || !strings.Contains(errs, "none of 6 episodes reached reward 2") {
		t.Errorf("min-reward 2: exit %d, %s", code, errs)
	}
}

// TestDistill_Email: the email expert through `toolbrain distill` keeps
// exactly the conversations `toolbrain data email --expert-traces` writes
// (make_base.sh relies on it), and the student trains on them.
func TestDistill_Email(t *testing.T) {
	dir := t.TempDir()
	interp := pluginbuild.Path(t, "interpreter-starlark.wasm")
	data, cfgPath := filepath.Join(dir, "data"), filepath.Join(dir, "toolbrain.toml")
	write(t, cfgPath, "[plugins]\ncache_dir = \""+filepath.Join(dir, "cache")+"\"\n")
	mustTB(t, "data", "email", "--seed", "3", "--out", data, "--inboxes", "3", "--tasks-per-inbox", "4",
		"--expert-traces", filepath.Join(data, "expert.jsonl"), "--interpreter", interp, "--config", cfgPath)
	mustTB(t, "model", "init", "--hidden", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--ffn", "64", "--vocab", "300", "--max-pos", "1024", "--out", filepath.Join(dir, "tiny"))
	res := distillRun(t, "--config", cfgPath, "--interpreter", interp, "--teacher", "email", "--email-data", data,
		"--model", filepath.Join(dir, "tiny"), "--out", filepath.Join(dir, "run"), "--steps", "1", "--full")
	if f := res.Filter; f.Tasks != 8 || f.Kept != 8 || f.MeanReward != 1 || res.SFT == nil || res.SFT.Steps != 1 {
		t.Errorf("result %+v", res)
	}
	want, err := os.ReadFile(filepath.Join(data, "expert.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(res.Demos); err != nil || string(got) != string(want) {
		t.Errorf("demos.jsonl differs from data email's expert.jsonl (%v)", err)
	}
	if code, _, errs := tb(t, "distill", "--config", cfgPath, "--teacher", "email", "--out", filepath.Join(dir, "x")); code != 2 || !strings.Contains(errs, "--email-data") {
		t.Errorf("--teacher email without --email-data: exit %d, %s", code, errs)
	}
}

// traceTask is the first task of a task file.
func traceTask(t *testing.T, path string) (task sdk.Task) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if err := json.Unmarshal([]byte(first), &task); err != nil {
		t.Fatal(err)
	}
	return task
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}

// TestDistill_TeacherModel: a local checkpoint on the student's tokenizer
// is rolled out by the coach's executor and its exact ids are trained on
// (SFT), or its logits are (KD on its episodes, and on the student's own
// samples). A teacher on another tokenizer is refused, saying why.
func TestDistill_TeacherModel(t *testing.T) {
	dir, cfgPath, interp := trainKit(t)
	teacher := filepath.Join(dir, "teacher")
	mustTB(t, "model", "init", "--hidden", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--ffn", "64", "--vocab", "300", "--max-pos", "256", "--seed", "9", "--out", teacher)
	common := []string{"--config", cfgPath, "--interpreter", interp, "--teacher-model", teacher, "--min-reward", "-100", "--steps", "2", "--batch", "2"}

	res := distillRun(t, append(common, "--out", filepath.Join(dir, "sft"), "--episodes", "2")...)
	if !res.ExactIDs || res.Filter.Demos != 12 || res.Filter.Kept != 12 || res.SFT == nil || res.SFT.Steps != 2 || res.Demos != "" {
		t.Errorf("sft on the teacher's ids: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(res.Output, "adapter_config.json")); err != nil {
		t.Errorf("no adapter: %v", err)
	}

	for _, mode := range [][]string{{"--kd", "forward_kl"}, {"--kd", "jsd", "--kd-beta", "0.3", "--on-policy"}} {
		res := distillRun(t, append(append(common, "--out", filepath.Join(dir, strings.Join(mode, ""))), mode...)...)
		if res.KD == nil || res.KD.Steps+res.KD.SkippedSteps != 2 || res.KD.Steps == 0 || !(res.KD.FirstLoss > 0) {
			t.Errorf("%v: %+v", mode, res.KD)
		}
	}

	other := filepath.Join(dir, "other")
	mustTB(t, "model", "init", "--hidden", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--ffn", "64", "--vocab", "290", "--max-pos", "256", "--out", other)
	code, _, errs := tb(t, "distill", "--config", cfgPath, "--interpreter", interp, "--teacher-model", other, "--out", filepath.Join(dir, "x"))
	if code != 1 || !strings.Contains(errs, "tokenizers differ") {
		t.Errorf("teacher on another tokenizer: exit %d, %s", code, errs)
	}
}

// TestDistill_Endpoint: an OpenAI-compatible endpoint is the teacher. Its
// replies act in the sandbox as the athlete's would (a reply without code
// gets the athlete's error observation, the next one's code gives the
// final answer), and its text becomes SFT data rendered by the student's
// chat template.
func TestDistill_Endpoint(t *testing.T) {
	dir, cfgPath, interp := trainKit(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var body chatLine
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Model != "teacher-7b" || r.Header.Get("Authorization") != "Bearer sk-distill" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		reply := "Let me think."
		if len(body.Messages) > 2 {
			reply = "```python\nfinal_answer(arith(op=\"add\", a=3, b=4))\n```"
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": map[string]string{"role": "assistant", "content": reply}}}})
	}))
	defer srv.Close()
	t.Setenv("DISTILL_TEST_KEY", "sk-distill")
	res := distillRun(t, "--config", cfgPath, "--interpreter", interp, "--teacher-endpoint", srv.URL+"/v1", "--teacher-model-name", "teacher-7b",
		"--teacher-api-key-env", "DISTILL_TEST_KEY", "--min-reward", "-1", "--out", filepath.Join(dir, "run"), "--steps", "1")
	if res.Filter.Demos != 6 || res.Filter.Kept != 6 || res.ExactIDs || calls.Load() != 12 {
		t.Errorf("result %+v after %d calls", res, calls.Load())
	}
	demos, err := os.ReadFile(res.Demos)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(demos), "\n")
	var line chatLine
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatal(err)
	}
	if len(line.Messages) != 5 || line.Messages[2].Content != "Let me think." || line.Messages[3].Content != "Observation:\n"+agent.NoCodeError ||
		!strings.Contains(line.Messages[4].Content, "final_answer") {
		t.Errorf("conversation %+v", line.Messages)
	}
	f, err := os.Open(res.Traces)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if traces, err := agent.ReadJSONL(f); err != nil || traces[0].FinalAnswer != "7" {
		t.Errorf("traces %+v (%v)", traces, err)
	}
}

// chatLine is a chat-completions request, or a line of demos.jsonl.
type chatLine struct {
	Model    string `json:"model,omitempty"`
	Messages []struct{ Role, Content string }
}

func TestDistill_Usage(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no teacher", []string{"--out", "x"}, "give one teacher"},
		{"two teachers", []string{"--out", "x", "--teacher", "email", "--teacher-model", "m"}, "give one teacher"},
		{"endpoint without a model name", []string{"--out", "x", "--teacher-endpoint", "http://localhost:1/v1"}, "--teacher-model-name"},
		{"kd without logits", []string{"--out", "x", "--teacher", "calculator", "--kd", "forward_kl"}, "--kd needs the teacher's logits"},
		{"on-policy without kd", []string{"--out", "x", "--teacher-model", "m", "--on-policy"}, "--on-policy is a mode of --kd"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := tb(t, append([]string{"distill"}, c.args...)...)
			if code != 2 || !strings.Contains(errs, c.want) {
				t.Errorf("exit %d, want 2 with %q:\n%s", code, c.want, errs)
			}
		})
	}
}
