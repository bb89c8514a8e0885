package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/train/sft"
)

func writeLines(t *testing.T, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// qa returns chat-segment lines of a tiny task: answer with the colour.
func qa(things []string) []string {
	colour := map[string]string{"sky": "blue", "grass": "green", "snow": "white", "coal": "black", "sun": "yellow", "blood": "red"}
	var out []string
	for _, th := range things {
		out = append(out, fmt.Sprintf(`[{"role": "other", "text": "What colour is the %s? "}, {"role": "assistant", "text": "The %s is %s."}]`, th, th, colour[th]))
	}
	return out
}

// TestSFT trains a tiny model with LoRA and checks that the loss on
// held-out lines falls, then that a run resumes from its checkpoint.
func TestSFT(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiny")
	mustTB(t, "model", "init", "--arch", "llama", "--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "128", "--vocab", "320", "--out", dir)
	var lines []string
	for i := 0; i < 6; i++ {
		lines = append(lines, qa([]string{"sky", "grass", "snow", "coal"})...)
	}
	train := writeLines(t, lines)
	held := writeLines(t, qa([]string{"sky", "snow"}))
	run := filepath.Join(t.TempDir(), "run")
	var sum sft.Summary
	out := mustTB(t, "sft", "--model", dir, "--data", train, "--eval", held, "--out", run, "--steps", "12", "--batch", "4",
		"--lr", "0.01", "--lora-targets", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", "--save-every", "6")
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", sum)
	if !(sum.EvalLossAfter < sum.EvalLossBefore-0.5) {
		t.Errorf("held-out loss %.4f -> %.4f: want it to fall by more than 0.5 nats", sum.EvalLossBefore, sum.EvalLossAfter)
	}
	if _, err := os.Stat(filepath.Join(sum.Output, "adapter_model.safetensors")); err != nil {
		t.Errorf("no PEFT adapter written: %v", err)
	}
	// The adapter loads back into the inference core.
	mustTB(t, "model", "logits", "--model", dir, "--adapter", sum.Output, "--ids", "1,2,3")

	// Starting again in the same directory without --resume is refused;
	// with --resume it continues after step 12.
	if code, _, errs := tb(t, "sft", "--model", dir, "--data", train, "--out", run, "--steps", "14"); code == 0 || !strings.Contains(errs, "--resume") {
		t.Errorf("second run without --resume: exit %d, %s", code, errs)
	}
	var more sft.Summary
	if err := json.Unmarshal([]byte(mustTB(t, "sft", "--model", dir, "--data", train, "--out", run, "--steps", "14", "--batch", "4",
		"--lr", "0.01", "--lora-targets", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", "--resume")), &more); err != nil {
		t.Fatal(err)
	}
	if more.Steps != 14 {
		t.Errorf("resumed run ended at step %d, want 14", more.Steps)
	}
}

func TestSFT_BadData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiny")
	mustTB(t, "model", "init", "--hidden", "32", "--layers", "1", "--heads", "2", "--ffn", "64", "--vocab", "300", "--out", dir)
	tests := []struct {
		name, data, want string
	}{
		{name: "not JSON", data: qa([]string{"sky"})[0] + "\n{oops\n", want: ":2"},
		{name: "unknown role", data: `[{"role": "user", "text": "hi"}]` + "\n", want: ":1"},
		{name: "empty", data: "", want: "no examples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "d.jsonl")
			if err := os.WriteFile(p, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, errs := tb(t, "sft", "--model", dir, "--data", p, "--out", filepath.Join(t.TempDir(), "run"))
			if code != 1 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 naming %q", code, errs, tt.want)
			}
		})
	}
}

// TestSFT_Messages trains on conversations rendered by the checkpoint's
// chat template, then continues the adapter it wrote in a new run.
func TestSFT_Messages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiny")
	mustTB(t, "model", "init", "--arch", "qwen2", "--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "128", "--vocab", "320", "--out", dir)
	msg := func(th, col string) string {
		return fmt.Sprintf(`{"messages": [{"role": "user", "content": "What colour is the %s?"}, {"role": "assistant", "content": "The %s is %s."}]}`, th, th, col)
	}
	var lines []string
	for i := 0; i < 6; i++ {
		lines = append(lines, msg("sky", "blue"), msg("grass", "green"), msg("snow", "white"), msg("coal", "black"))
	}
	train, held := writeLines(t, lines), writeLines(t, []string{msg("sky", "blue"), msg("coal", "black")})
	all := "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
	var sum sft.Summary
	if err := json.Unmarshal([]byte(mustTB(t, "sft", "--model", dir, "--data", train, "--eval", held, "--out", filepath.Join(t.TempDir(), "run"),
		"--steps", "12", "--lr", "0.01", "--lora-targets", all)), &sum); err != nil {
		t.Fatal(err)
	}
	if !(sum.EvalLossAfter < sum.EvalLossBefore-0.5) {
		t.Errorf("held-out loss %.4f -> %.4f: want it to fall by more than 0.5 nats", sum.EvalLossBefore, sum.EvalLossAfter)
	}
	// Continue the adapter: its held-out loss starts where the first run ended.
	var more sft.Summary
	if err := json.Unmarshal([]byte(mustTB(t, "sft", "--model", dir, "--adapter", sum.Output, "--data", train, "--eval", held,
		"--out", filepath.Join(t.TempDir(), "run2"), "--steps", "2", "--lr", "0.01")), &more); err != nil {
		t.Fatal(err)
	}
	if d := more.EvalLossBefore - sum.EvalLossAfter; d > 1e-3 || d < -1e-3 {
		t.Errorf("continued adapter starts at held-out loss %.5f, the first run ended at %.5f", more.EvalLossBefore, sum.EvalLossAfter)
	}
}
