// Command toolbrain trains tool-using LLM agents and serves the core's
// inference tools: model loading, tokenizing, generation and benchmarks.
//
// Usage:
//
//	toolbrain <command> [flags] [args]
//
// Run `toolbrain help` for the list of commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
)

func main() {
	tuneGC(os.Getenv("GOGC"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	stopProfile := startProfile()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfile()
	stop()
	os.Exit(code)
}

// gcPercent is the garbage collector's target heap growth between
// collections when GOGC is not set.
//
// # Why not Go's default of 100
//
// A model's weights are most of the live heap (the float32 embeddings of
// Qwen2.5-0.5B alone are 545 MB) and a training step frees tens of MB of
// tensors. At 100 the heap grows to twice the weights before a
// collection, which is what a QLoRA step's peak memory measured. The
// weights are slices without pointers, which a collection marks at no
// cost per element, so collecting often costs little time. At 25 a QLoRA
// step of Qwen2.5-0.5B peaked at 1.50–1.55 GB, at 15 at 1.43 GB, in the
// same CPU time; the "cpu" backend recycles a step's large buffers
// (up to 1 GB), so there is little garbage to collect.
const gcPercent = 15

// tuneGC sets the collector's target to gcPercent unless the user set
// GOGC (the value of the environment variable, "" when unset).
func tuneGC(gogc string) {
	if gogc == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// startProfile writes a CPU profile of the whole command to the file named
// by TOOLBRAIN_CPUPROFILE, when set (go tool pprof reads it).
func startProfile() func() {
	path := os.Getenv("TOOLBRAIN_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "toolbrain: TOOLBRAIN_CPUPROFILE: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "toolbrain: TOOLBRAIN_CPUPROFILE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// command is one CLI verb. Verbs with a space ("model info") are nested.
type command struct {
	name    string
	args    string // argument synopsis for help
	summary string
	run     func(ctx context.Context, io *cmdIO, args []string) error
}

// cmdIO carries the command's output streams.
type cmdIO struct {
	stdout, stderr io.Writer
}

// errUsage marks an error whose message already says how to call the command.
var errUsage = errors.New("usage")

func commands() []command {
	return []command{
		{"run", "[--config FILE]", "the main job: generate text with the configured (or a tiny random) model", runMain},
		{"model info", "DIR|ID", "print a checkpoint's config, tensors and tokenizer as JSON", modelInfo},
		{"model init", "--arch llama|qwen2 --hidden N --layers N --heads N --kv-heads N --ffn N --vocab N --out DIR", "write a tiny random checkpoint with a tokenizer", modelInit},
		{"model logits", "--model DIR [--adapter DIR] [--quant int8|nf4] --ids 1,2,3", "print {\"logits\": [[...], ...]} for every position", modelLogits},
		{"model quantize", "--model DIR --to int8|nf4 --out DIR [--force]", "write a quantized, loadable checkpoint", modelQuantize},
		{"model merge", "--model DIR --adapter DIR --out DIR [--force]", "fold a LoRA adapter into the base weights and write a full checkpoint", modelMerge},
		{"model pull", "ID[@REVISION]", "download a model into the Hugging Face cache", modelPull},
		{"tokenizer train", "--corpus FILE[,FILE...] --vocab N --out DIR", "train a byte-level BPE tokenizer.json (ChatML template) on text or JSONL files", tokenizerTrain},
		{"tokenize", "--tokenizer DIR TEXT | --decode 1,2,3", "print {\"ids\": [...]} or {\"text\": ...}", tokenizeCmd},
		{"generate", "--model DIR [--adapter DIR] [--quant int8|nf4] --prompt TEXT [--chat] [--max-new N] [--seed N]", "complete a prompt", generateCmd},
		{"serve", serveSynopsis, "an OpenAI-compatible chat-completions server (/v1/chat/completions, /v1/models) on the model", serveCmd},
		{"bench forward", "[--batch N] [--seq N]", "forward-pass throughput on the benchmark shape (one JSON line)", benchCmd("forward")},
		{"bench decode", "[--batch N] [--seq N]", "KV-cache decode throughput on the benchmark shape (one JSON line)", benchCmd("decode")},
		{"pack build", "DIR [-o OUT]", "hash a tool pack's module into toolpack.toml and write a reproducible .tar.gz", packBuild},
		{"pack inspect", "PACK [--json]", "show a pack's manifest, files and whether its hashes match", packInspect},
		{"pack verify", "PACK", "check a pack's module hash and files", packVerify},
		{"pack install", "PACK", "verify and install a pack into [plugins] pack_dir", packInstall},
		{"mcp list", "NAME [--config FILE] [--json]", "start the [[mcp]] server NAME and list the tools it offers, their names for the athlete, and which are granted", mcpList},
		{"plugin call", "--plugin FILE|PACK [--function NAME] --input FILE.json", "call one plugin function and print its JSON output", pluginCall},
		{"sft", "--model DIR --data FILE.jsonl --out RUN [--eval FILE.jsonl] [--steps N] [--resume]", "supervised fine-tuning (LoRA, QLoRA or full) on chat-segment data", sftCmd},
		{"distill", distillSynopsis, "distil a teacher (scripted expert, local checkpoint or endpoint) into the student: its episodes above a reward threshold, then SFT or logit KD", distillCmd},
		{"sandbox run", "--code FILE [--tools PACK] [--timeout D] [--max-steps N]", "run a CodeAct program in the WebAssembly sandbox and print a JSON result", sandboxRun},
		{"bench train", "[--lora R] [--qlora]", "training-step throughput and peak memory on the benchmark shape (one JSON line)", benchCmd("train")},
		{"trace show", "FILE [--index N]", "print agent traces (JSONL) readably", traceShow},
		{"score", "--traces FILE.jsonl [--tasks FILE.jsonl] [--config FILE]", "score traces with the configured [[rewards]] (plugins and LLM judges included) and [algorithm]; one JSON line per trace", scoreCmd},
		{"train", trainSynopsis, "train the athlete with RL (grpo, dpo) or rejection-sampling SFT on tool-using tasks ([train] in toolbrain.toml)", trainCmd},
		{"eval", "--model M [--adapter A] --tasks FILE [--json] | bfcl --model M [--limit N] | bfcl --responses FILE", "held-out success (95% CI), mean reward, turns and tool errors of an athlete on a task file; bfcl: BFCL accuracy of a model (generated, batched) or of responses", evalCmd},
		{"data bfcl", "--out DIR [--categories LIST] [--heldout F] [--seed N] [--model M]", "write BFCL cases as train/held-out task files (split by a hash of the id) for `train` with the bfcl reward, and SFT conversations of their answers", dataBFCL},
		{"data calculator", "--out DIR [--seed N] [--train N] [--test N]", "write arithmetic tasks for the calculator pack and a scripted expert's demonstrations", dataCalculator},
		{"data email", "--seed N --out DIR [--inboxes K] [--tasks-per-inbox M] [--expert-traces FILE]", "write the email-search corpus (inboxes, train/test tasks) and the scripted expert's SFT conversations", dataEmail},
		{"tasks generate", tasksGenerateSynopsis, "write training tasks for a pack's or an MCP server's tools, each checked (schema, duplicates, answerable by the real tools); scripted offline by default, or a model", tasksGenerate},
		{"retrieval eval", retrievalEvalSynopsis, "recall@1/5/10 and MRR of tool retrieval (BM25 alone, and fused with a model's mean-pooled hidden states) on a generated library with labelled queries", retrievalEval},
		{"config check", "[FILE]", "validate a toolbrain.toml (default: ./toolbrain.toml, else the embedded default)", configCheck},
		{"version", "", "print the version", func(_ context.Context, o *cmdIO, _ []string) error {
			fmt.Fprintln(o.stdout, "toolbrain", version)
			return nil
		}},
	}
}

const version = "0.1.0-dev"

// run executes the command line args and returns the process exit code:
// 0 on success, 1 on failure, 2 on a usage error, 3 when a sandboxed
// program ran and failed (its result is printed), 130 when a training run
// was interrupted (Ctrl-C) and checkpointed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := &cmdIO{stdout: stdout, stderr: stderr}
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	// The longest command name that prefixes args wins ("model info" over "model").
	var best *command
	bestWords := 0
	for i := range cmds {
		words := strings.Fields(cmds[i].name)
		if len(words) <= len(args) && len(words) > bestWords && equalWords(words, args[:len(words)]) {
			best, bestWords = &cmds[i], len(words)
		}
	}
	if best == nil {
		fmt.Fprintf(stderr, "toolbrain: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		printHelp(stderr, cmds)
		return 2
	}
	err := best.run(ctx, o, args[bestWords:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errProgramFailed):
		return 3
	case errors.Is(err, errInterrupted):
		return 130
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "toolbrain %s: %v\nusage: toolbrain %s %s\n", best.name, err, best.name, best.args)
		return 2
	default:
		fmt.Fprintf(stderr, "toolbrain %s: %v\n", best.name, err)
		return 1
	}
}

func equalWords(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func printHelp(w io.Writer, cmds []command) {
	fmt.Fprintln(w, "toolbrain: coach LLM agents to use tools with reinforcement learning.")
	fmt.Fprintln(w, "\nCommands:")
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `toolbrain COMMAND --help` for a command's flags.")
}

// newFlags returns a flag set for the command that reports errors through
// the returned error rather than exiting.
func newFlags(o *cmdIO, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(o.stderr)
	fs.Usage = func() {
		fmt.Fprintf(o.stderr, "usage: toolbrain %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments
// (`toolbrain model info DIR --json`), and returns the positional ones.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
