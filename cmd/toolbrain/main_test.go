package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testdata = "../../testdata"

// tb runs the CLI in-process and returns its exit code, stdout and stderr.
func tb(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func mustTB(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := tb(t, args...)
	if code != 0 {
		t.Fatalf("toolbrain %s: exit %d\nstderr: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

func TestHelp_Golden(t *testing.T) {
	_, out, _ := tb(t, "help")
	golden := filepath.Join("testdata", "help.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if out != string(want) {
		t.Errorf("help output changed (run go test -update if intended):\n%s", out)
	}
}

func TestRun_UsageErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{name: "no args", args: nil, code: 2},
		{name: "unknown command", args: []string{"fly"}, code: 2, inStderr: `unknown command "fly"`},
		{name: "unknown flag", args: []string{"model", "info", "--frobnicate", "x"}, code: 2, inStderr: "frobnicate"},
		{name: "logits without ids", args: []string{"model", "logits", "--model", testdata + "/models/llama-tiny"}, code: 2, inStderr: "--ids is required"},
		{name: "bad id", args: []string{"model", "logits", "--model", testdata + "/models/llama-tiny", "--ids", "1,x"}, code: 2, inStderr: `entry 2 is "x"`},
		{name: "id outside vocab", args: []string{"model", "logits", "--model", testdata + "/models/llama-tiny", "--ids", "1,320"}, code: 1, inStderr: "320"},
		{name: "missing model dir", args: []string{"model", "info", "/nonexistent/model"}, code: 1, inStderr: "/nonexistent/model"},
		{name: "quantize to int3", args: []string{"model", "quantize", "--model", "x", "--to", "int3", "--out", "y"}, code: 2, inStderr: "int8 or nf4"},
		{name: "tokenize without dir", args: []string{"tokenize", "hi"}, code: 2, inStderr: "--tokenizer is required"},
		{name: "decode id outside vocab", args: []string{"tokenize", "--tokenizer", testdata + "/tokenizers/llama3", "--decode", "99999999"}, code: 1, inStderr: "outside the vocabulary"},
		{name: "unknown reward", args: []string{"config", "check", "testdata/bad_reward.toml"}, code: 1, inStderr: `rewards[0]: rewards: unknown reward "exact"`},
		{name: "option for another algorithm", args: []string{"config", "check", "testdata/bad_algorithm.toml"}, code: 1, inStderr: "scale_rewards does not apply to rloo"},
		{name: "main job: no penalty for a wrong answer", args: []string{"run", "--wrong", "0"}, code: 2, inStderr: "--wrong must be a finite number below 0"},
		{name: "main job: wrong answer rewarded", args: []string{"run", "--wrong", "0.5"}, code: 2, inStderr: "got 0.5"},
		{name: "main job: failing code rewarded", args: []string{"run", "--broken", "0.5"}, code: 2, inStderr: "--broken must be a finite number, 0 or below, got 0.5"},
		{name: "config with unknown key", args: []string{"config", "check", "testdata/bad.toml"}, code: 1, inStderr: `bad.toml:3: unknown key "generate.temprature"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := tb(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, errs)
			}
			if !strings.Contains(errs, tt.inStderr) {
				t.Errorf("stderr %q does not contain %q", errs, tt.inStderr)
			}
		})
	}
}

// TestConfigCheck checks every configuration the repository ships: the
// top-level default, the main job's and the examples'.
func TestConfigCheck(t *testing.T) {
	examples, err := filepath.Glob("../../examples/*/*.toml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no example configurations: %v", err)
	}
	paths := append([]string{"../../toolbrain.toml", "../../plugins/packs/email/base/job.toml"}, examples...)
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			out := mustTB(t, "config", "check", path)
			if !strings.Contains(out, "ok") {
				t.Errorf("got %q", out)
			}
		})
	}
}

type refLogits struct {
	Cases []struct {
		IDs            []int32     `json:"ids"`
		Logits         [][]float64 `json:"logits"`
		LogitsWithLoRA [][]float64 `json:"logits_with_lora"`
	} `json:"cases"`
}

func loadRef(t *testing.T, model string) refLogits {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, "models", model, "reference_logits.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r refLogits
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func idsArg(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

func parseLogits(t *testing.T, out string) [][]float64 {
	t.Helper()
	var got struct {
		Logits [][]float64 `json:"logits"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%.200s", err, out)
	}
	return got.Logits
}

func maxDiff(t *testing.T, got, want [][]float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	worst := 0.0
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("row %d has %d logits, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			worst = math.Max(worst, math.Abs(got[i][j]-want[i][j]))
		}
	}
	return worst
}

// TestModelLogits_Reference checks the CLI end to end against the
// independent PyTorch references, with and without the LoRA adapter.
func TestModelLogits_Reference(t *testing.T) {
	tests := []struct {
		name, model, adapter string
		lora                 bool
	}{
		{name: "llama", model: "llama-tiny"},
		{name: "llama+lora", model: "llama-tiny", adapter: "llama-tiny-lora", lora: true},
		{name: "qwen2 bf16 tied", model: "qwen2-tiny-bf16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := loadRef(t, tt.model)
			for ci, c := range ref.Cases {
				args := []string{"model", "logits", "--model", filepath.Join(testdata, "models", tt.model), "--ids", idsArg(c.IDs)}
				want := c.Logits
				if tt.lora {
					args = append(args, "--adapter", filepath.Join(testdata, "models", tt.adapter))
					want = c.LogitsWithLoRA
				}
				got := parseLogits(t, mustTB(t, args...))
				if d := maxDiff(t, got, want); d > 2e-4 {
					t.Errorf("case %d: max |logit - reference| = %g, want <= 2e-4", ci, d)
				}
			}
		})
	}
}

func argmax(row []float64) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}

// TestModelQuantize writes int8 and NF4 checkpoints, loads them back through
// the CLI and compares with float32: close logits, mostly the same argmax.
func TestModelQuantize(t *testing.T) {
	ref := loadRef(t, "llama-tiny")
	c := ref.Cases[1]
	for _, tt := range []struct {
		to      string
		maxDiff float64
		minTop1 float64
	}{{"int8", 0.15, 0.95}, {"nf4", 2.0, 0.75}} {
		t.Run(tt.to, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "q")
			mustTB(t, "model", "quantize", "--model", filepath.Join(testdata, "models", "llama-tiny"), "--to", tt.to, "--out", out)
			got := parseLogits(t, mustTB(t, "model", "logits", "--model", out, "--ids", idsArg(c.IDs)))
			d := maxDiff(t, got, c.Logits)
			agree := 0
			for i := range got {
				if argmax(got[i]) == argmax(c.Logits[i]) {
					agree++
				}
			}
			top1 := float64(agree) / float64(len(got))
			t.Logf("%s: max logit diff %.4g, top-1 agreement %.2f over %d positions", tt.to, d, top1, len(got))
			if d > tt.maxDiff || top1 < tt.minTop1 {
				t.Errorf("%s: max diff %g (limit %g), top-1 %.2f (limit %.2f)", tt.to, d, tt.maxDiff, top1, tt.minTop1)
			}
			if d == 0 {
				t.Error("quantized logits equal float32 exactly: the weights were not quantized")
			}
		})
	}
}

// TestModelQuantize_StoredFormat: a checkpoint stored quantized keeps its
// format at load, so asking for the other one is refused (it once printed
// "quant":"int8" and wrote NF4), and asking for the same one copies it.
func TestModelQuantize_StoredFormat(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	mustTB(t, "model", "init", "--out", base, "--hidden", "32", "--layers", "1", "--heads", "2", "--ffn", "64", "--vocab", "300")
	for _, from := range []string{"nf4", "int8"} {
		q := filepath.Join(dir, from)
		mustTB(t, "model", "quantize", "--model", base, "--to", from, "--out", q)
		other := map[string]string{"nf4": "int8", "int8": "nf4"}[from]
		code, _, errs := tb(t, "model", "quantize", "--model", q, "--to", other, "--out", filepath.Join(dir, from+"-to-"+other))
		if code == 0 || !strings.Contains(errs, q+" holds "+from+" weights") {
			t.Errorf("%s to %s: exit %d, %s", from, other, code, errs)
		}
		if _, err := os.Stat(filepath.Join(dir, from+"-to-"+other)); err == nil {
			t.Errorf("%s to %s: wrote an output", from, other)
		}
		out := mustTB(t, "model", "quantize", "--model", q, "--to", from, "--out", filepath.Join(dir, from+"-again"))
		if !strings.Contains(out, `"quant":"`+from+`"`) {
			t.Errorf("%s again: %s", from, out)
		}
	}
}

// TestInitGenerate goes from nothing to generated text: init a tiny model,
// inspect it, tokenize, and generate deterministically from a seed.
func TestInitGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiny")
	mustTB(t, "model", "init", "--arch", "qwen2", "--hidden", "32", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "64", "--vocab", "300", "--out", dir)
	var info struct {
		Parameters   int64 `json:"parameters"`
		Tokenizer    bool  `json:"tokenizer"`
		ChatTemplate bool  `json:"chat_template"`
	}
	if err := json.Unmarshal([]byte(mustTB(t, "model", "info", dir)), &info); err != nil {
		t.Fatal(err)
	}
	if !info.Tokenizer || !info.ChatTemplate || info.Parameters == 0 {
		t.Errorf("model info: %+v, want a tokenizer, a chat template and parameters", info)
	}
	var enc struct{ IDs []int32 }
	if err := json.Unmarshal([]byte(mustTB(t, "tokenize", "--tokenizer", dir, "hello world")), &enc); err != nil || len(enc.IDs) == 0 {
		t.Fatalf("tokenize: %v %v", enc, err)
	}
	var dec struct{ Text string }
	if err := json.Unmarshal([]byte(mustTB(t, "tokenize", "--tokenizer", dir, "--decode", idsArg(enc.IDs))), &dec); err != nil || dec.Text != "hello world" {
		t.Fatalf("decode(encode(hello world)) = %q, %v", dec.Text, err)
	}
	gen := func(extra ...string) completion {
		args := append([]string{"generate", "--model", dir, "--prompt", "hello", "--max-new", "12", "--json"}, extra...)
		var c completion
		if err := json.Unmarshal([]byte(mustTB(t, args...)), &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := gen("--seed", "7"), gen("--seed", "7")
	if len(a.IDs) == 0 || len(a.IDs) != len(a.Logprobs) {
		t.Fatalf("generated %d ids with %d logprobs", len(a.IDs), len(a.Logprobs))
	}
	if fmt.Sprint(a.IDs) != fmt.Sprint(b.IDs) {
		t.Errorf("same seed, different tokens: %v vs %v", a.IDs, b.IDs)
	}
	chat := gen("--chat", "--temperature", "0")
	if chat.PromptIDs[0] == a.PromptIDs[0] && len(chat.PromptIDs) <= len(a.PromptIDs) {
		t.Errorf("--chat prompt %v looks like the plain prompt %v", chat.PromptIDs, a.PromptIDs)
	}
}

// TestModelMerge folds the reference adapter into llama-tiny: the merged
// checkpoint alone must give the reference logits_with_lora.
func TestModelMerge(t *testing.T) {
	out := filepath.Join(t.TempDir(), "merged")
	mustTB(t, "model", "merge", "--model", filepath.Join(testdata, "models", "llama-tiny"), "--adapter", filepath.Join(testdata, "models", "llama-tiny-lora"), "--out", out)
	ref := loadRef(t, "llama-tiny")
	for ci, c := range ref.Cases {
		got := parseLogits(t, mustTB(t, "model", "logits", "--model", out, "--ids", idsArg(c.IDs)))
		if d := maxDiff(t, got, c.LogitsWithLoRA); d > 2e-4 {
			t.Errorf("case %d: merged model differs from logits_with_lora by %g", ci, d)
		}
	}
}
