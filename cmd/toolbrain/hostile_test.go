package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/toolbrain/toolbrain/internal/heapwatch"
)

// The hostile-input corpus: files under testdata/hostile that once crashed,
// hung or exhausted the CLI, or gave a wrong or nameless error. Each goes
// through the real entry point, run(), and must end with a non-zero exit,
// an error naming the input, no panic text, within hostileTime and, for the
// memory cases, with the heap grown by at most hostileHeap.
const (
	hostileDir = "testdata/hostile"
	// hostileTime bounds one case; each takes well under a second alone,
	// the slack is for a loaded 2-core machine.
	hostileTime = 10 * time.Second
	// hostileHeap bounds the heap growth of the memory cases: what the
	// inputs asked for was gigabytes; the bounds that stop them (chat
	// template allocation, context length) are a few hundred MiB at most.
	hostileHeap = 512 << 20
)

// hostileEnv is what the cases share: a config whose caches and pack
// directory are private to the test, and a tiny checkpoint.
type hostileEnv struct {
	config string // toolbrain.toml
	model  string // a tiny checkpoint (max_position_embeddings 64)
}

func newHostileEnv(t *testing.T) hostileEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "toolbrain.toml")
	// The compilation cache is shared with the runtime's tests: compiling
	// the interpreter takes seconds, loading it from the cache milliseconds.
	wasmCache := filepath.Join(os.TempDir(), "toolbrain-test-wasm-cache")
	body := "[plugins]\npack_dir = " + strconv.Quote(filepath.Join(dir, "packs")) + "\ncache_dir = " + strconv.Quote(wasmCache) + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "model")
	mustTB(t, "model", "init", "--out", model, "--hidden", "32", "--layers", "1", "--heads", "2", "--ffn", "64", "--vocab", "300", "--max-pos", "64")
	return hostileEnv{config: cfg, model: model}
}

// withTemplate copies the tiny checkpoint with tokenizer_config.json
// replaced by the corpus file.
func (e hostileEnv) withTemplate(t *testing.T, file string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json"} {
		b, err := os.ReadFile(filepath.Join(e.model, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type hostileCase struct {
	name string
	// args builds the command line; it returns the input the error must
	// name (a path, usually the corpus file).
	args func(t *testing.T, e hostileEnv) (args []string, names string)
	// mention is what the error must say besides naming the input.
	mention string
	// memory marks the cases that once exhausted memory.
	memory bool
}

// corpusFile gives a case on one corpus file, run with args around it.
func corpusFile(file string, args ...string) func(*testing.T, hostileEnv) ([]string, string) {
	return func(t *testing.T, e hostileEnv) ([]string, string) {
		p := filepath.Join(hostileDir, file)
		out := make([]string, 0, len(args)+2)
		for _, a := range args {
			out = append(out, strings.ReplaceAll(strings.ReplaceAll(a, "{}", p), "{config}", e.config))
		}
		return out, p
	}
}

func hostileCases() []hostileCase {
	var cases []hostileCase
	// Modules: through plugin call, a tool-less interpreter, and a pack.
	for _, m := range []struct{ file, mention string }{
		{"hidden-memory.wasm", "memory limit"},
		{"random.wasm", "not a WebAssembly module"},
		{"empty.wasm", "empty"},
		{"text.wasm", "not a WebAssembly module"},
		{"magic-only.wasm", "invalid WebAssembly module"},
		{"truncated-section.wasm", "invalid WebAssembly module"},
		{"gzip-garbage.wasm", "hostile"},
		{"imports-2p28.wasm", "declares 268435456 entries"},
		{"locals-2p28.wasm", "more than 50000 locals"},
	} {
		f := "modules/" + m.file
		cases = append(cases, hostileCase{name: "plugin call " + m.file, args: corpusFile(f, "plugin", "call", "--plugin", "{}", "--input", hostileDir+"/input.json", "--config", "{config}"), mention: m.mention})
		if m.file != "random.wasm" && m.file != "gzip-garbage.wasm" {
			cases = append(cases, hostileCase{name: "sandbox interpreter " + m.file, args: corpusFile(f, "sandbox", "run", "--code", hostileDir+"/code/print.star", "--interpreter", "{}", "--config", "{config}"), mention: strings.TrimPrefix(m.mention, "not a WebAssembly module")})
		}
	}
	cases = append(cases,
		hostileCase{name: "pack verify not wasm", args: corpusFile("packs/not-wasm", "pack", "verify", "{}"), mention: "module.wasm: runtime: invalid WebAssembly module: no \\0asm magic"},
		hostileCase{name: "pack install not wasm", args: corpusFile("packs/not-wasm", "pack", "install", "{}", "--config", "{config}"), mention: "invalid WebAssembly module"},
		hostileCase{name: "pack build not wasm", args: func(t *testing.T, e hostileEnv) ([]string, string) {
			// Build writes the digest into toolpack.toml: work on a copy.
			dir := filepath.Join(t.TempDir(), "not-wasm")
			copyDir(t, filepath.Join(hostileDir, "packs/not-wasm"), dir)
			return []string{"pack", "build", dir, "-o", t.TempDir()}, dir
		}, mention: "invalid WebAssembly module"},
		hostileCase{name: "sandbox tool pack with hidden memory", args: corpusFile("packs/hidden-memory", "sandbox", "run", "--code", hostileDir+"/code/print.star", "--tools", "{}", "--config", "{config}"), mention: "memory limit"},
		hostileCase{name: "plugin call pack with hidden memory", args: corpusFile("packs/hidden-memory", "plugin", "call", "--plugin", "{}", "--input", hostileDir+"/input.json", "--config", "{config}"), mention: "memory limit"},
		hostileCase{name: "pack verify random file", args: corpusFile("modules/random.wasm", "pack", "verify", "{}"), mention: "not a tool pack"},
		hostileCase{name: "sandbox huge list", args: corpusFile("code/huge-list.star", "sandbox", "run", "--code", "{}", "--config", "{config}"), mention: "too large for the sandbox's memory", memory: true},
	)
	// Chat templates that came with a checkpoint.
	templates, _ := filepath.Glob(filepath.Join(hostileDir, "templates", "*.json"))
	for _, tpl := range templates {
		name := strings.TrimSuffix(filepath.Base(tpl), ".json")
		mention := map[string]string{
			"not-json": "unexpected end of JSON", "template-not-string": "want a string or [{name, template}]",
			"unterminated": "syntax error", "recursive-loop": "recursive loops are not supported", "raises": "no",
		}[name]
		if mention == "" {
			mention = "render budget exceeded"
		}
		cases = append(cases, hostileCase{name: "template " + name, memory: true, mention: mention,
			args: func(t *testing.T, e hostileEnv) ([]string, string) {
				dir := e.withTemplate(t, tpl)
				return []string{"generate", "--model", dir, "--chat", "--prompt", "hi", "--max-new", "1", "--config", e.config}, filepath.Join(dir, "tokenizer_config.json")
			}})
	}
	// Configuration files.
	configs, _ := filepath.Glob(filepath.Join(hostileDir, "configs", "*.toml"))
	for _, c := range configs {
		cases = append(cases, hostileCase{name: "config check " + filepath.Base(c), args: corpusFile(strings.TrimPrefix(c, hostileDir+"/"), "config", "check", "{}"), mention: "invalid"})
	}
	// Trace files (model-written text: the terminal escaping is in
	// TestTraceShow_ControlBytes, these are broken files).
	traces, _ := filepath.Glob(filepath.Join(hostileDir, "traces", "*.jsonl"))
	for _, tr := range traces {
		cases = append(cases, hostileCase{name: "trace show " + filepath.Base(tr), args: corpusFile(strings.TrimPrefix(tr, hostileDir+"/"), "trace", "show", "{}"), mention: "invalid trace"})
	}
	cases = append(cases,
		// Sizes given on the command line.
		hostileCase{name: "model logits 20000 ids", memory: true, mention: "more than the model's context of 64", args: func(t *testing.T, e hostileEnv) ([]string, string) {
			ids := strings.TrimSuffix(strings.Repeat("1,", 20000), ",")
			return []string{"model", "logits", "--model", e.model, "--ids", ids, "--config", e.config}, filepath.Join(e.model, "config.json")
		}},
		hostileCase{name: "model quantize over its source", mention: "overwrites its weights", args: func(t *testing.T, e hostileEnv) ([]string, string) {
			return []string{"model", "quantize", "--model", e.model, "--to", "int8", "--out", e.model, "--config", e.config}, e.model
		}},
		hostileCase{name: "model merge over its source", mention: "overwrites its weights", args: func(t *testing.T, e hostileEnv) ([]string, string) {
			return []string{"model", "merge", "--model", e.model, "--adapter", e.model, "--out", e.model + "/", "--config", e.config}, e.model
		}},
	)
	for _, flagCase := range []struct{ flag, value string }{{"--temperature", "NaN"}, {"--temperature", "-1"}, {"--max-new", "0"}, {"--max-new", "-1"}, {"--top-p", "NaN"}} {
		cases = append(cases, hostileCase{name: "generate " + flagCase.flag + " " + flagCase.value, mention: "got", args: func(t *testing.T, e hostileEnv) ([]string, string) {
			return []string{"generate", "--model", e.model, "--prompt", "hi", flagCase.flag, flagCase.value, "--config", e.config}, flagCase.flag
		}})
	}
	cases = append(cases,
		hostileCase{name: "trace show --index -2", mention: "want a position", args: func(*testing.T, hostileEnv) ([]string, string) {
			return []string{"trace", "show", filepath.Join(hostileDir, "traces/wrong-type.jsonl"), "--index", "-2"}, "--index -2"
		}},
		hostileCase{name: "bench forward --batch 0", mention: "at least 1", args: func(*testing.T, hostileEnv) ([]string, string) {
			return []string{"bench", "forward", "--batch", "0"}, "--batch"
		}},
		hostileCase{name: "bench forward --hidden -5", mention: "must not be negative", args: func(*testing.T, hostileEnv) ([]string, string) {
			return []string{"bench", "forward", "--hidden", "-5"}, "--hidden"
		}},
	)
	return cases
}

func TestHostileInputs(t *testing.T) {
	if _, err := os.Stat(filepath.Join(hostileDir, "input.json")); err != nil {
		t.Fatal(err)
	}
	e := newHostileEnv(t)
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			args, names := tc.args(t, e)
			ctx, cancel := context.WithTimeout(context.Background(), hostileTime)
			defer cancel()
			var stdout, stderr bytes.Buffer
			var code int
			start := time.Now()
			grew := heapwatch.Growth(func() { code = run(ctx, args, &stdout, &stderr) })
			elapsed := time.Since(start)
			msg, out := stderr.String(), stdout.String()
			if code == 0 {
				t.Fatalf("exit 0, want an error\nstdout: %s\nstderr: %s", clip(out), clip(msg))
			}
			if !strings.Contains(msg, names) {
				t.Errorf("error does not name %s:\n%s", names, msg)
			}
			if !strings.Contains(msg, tc.mention) {
				t.Errorf("error does not say %q:\n%s", tc.mention, msg)
			}
			for _, panicText := range []string{"panic", "goroutine ", "internal error", "<nil>"} {
				if strings.Contains(msg, panicText) || strings.Contains(out, panicText) {
					t.Errorf("output contains %q:\n%s%s", panicText, clip(out), clip(msg))
				}
			}
			if elapsed > hostileTime {
				t.Errorf("took %v, bound %v", elapsed, hostileTime)
			}
			if tc.memory && grew > hostileHeap {
				t.Errorf("heap grew by %d MiB, bound %d MiB", grew>>20, hostileHeap>>20)
			}
		})
	}
}

// clip keeps failure messages readable when a command printed megabytes.
func clip(s string) string {
	const keep = 2000
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// copyDir copies a flat corpus directory.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		b, err := os.ReadFile(filepath.Join(src, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, en.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
