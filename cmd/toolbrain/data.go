package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/distill"
	"github.com/toolbrain/toolbrain/internal/atomicfile"
	"github.com/toolbrain/toolbrain/plugins/packs/email"
	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
	"github.com/toolbrain/toolbrain/plugins/packs/email/expert"
	"github.com/toolbrain/toolbrain/runtime/sandbox"
	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/sdk"
)

// dataEmailResult is what `toolbrain data email` prints.
type dataEmailResult struct {
	Out          string `json:"out"`
	Seed         uint64 `json:"seed"`
	Inboxes      int    `json:"inboxes"`
	Messages     int    `json:"messages"`
	Train        int    `json:"train_tasks"`
	Test         int    `json:"test_tasks"`
	ExpertTraces string `json:"expert_traces,omitempty"`
	ExpertSolved int    `json:"expert_solved,omitempty"`
}

func dataEmail(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "data email", "--seed N --out DIR [--inboxes K] [--tasks-per-inbox M] [--test-inboxes T] [--expert-traces FILE [--expert-split train|test|all]]")
	seed := fs.Uint64("seed", 0, "generator seed: the same seed writes the same bytes")
	out := fs.String("out", "", "corpus directory to write: messages.jsonl, train.jsonl, test.jsonl (required)")
	inboxes := fs.Int("inboxes", corpus.DefaultInboxes, "number of inboxes")
	perInbox := fs.Int("tasks-per-inbox", corpus.DefaultTasksPerInbox, "questions per inbox (at most 48)")
	testInboxes := fs.Int("test-inboxes", 0, "inboxes held out for test (default a quarter)")
	traces := fs.String("expert-traces", "", "also write the scripted expert's conversations as SFT data ({\"messages\": [...]} per line, for toolbrain sft)")
	split := fs.String("expert-split", "train", "tasks the expert solves: train, test or all")
	system := fs.String("system", "", "system prompt of the expert's conversations; \"\" means the CodeAct agent's default with the email tools (give the same as the coach's agent)")
	interp := fs.String("interpreter", "", "interpreter module for the expert's sandbox (default: the embedded Starlark)")
	cfgPath := fs.String("config", "", "toolbrain.toml ([plugins] cache)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: --out is required", errUsage)
	}
	c, err := corpus.Generate(corpus.Options{Seed: *seed, Inboxes: *inboxes, TasksPerInbox: *perInbox, TestInboxes: *testInboxes})
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	var tasks []corpus.Task
	switch *split {
	case "train":
		tasks = c.Train
	case "test":
		tasks = c.Test
	case "all":
		tasks = append(append(tasks, c.Train...), c.Test...)
	default:
		return fmt.Errorf("%w: --expert-split %q, want train, test or all", errUsage, *split)
	}
	if err := corpus.Write(c, *out); err != nil {
		return err
	}
	res := dataEmailResult{Out: *out, Seed: *seed, Inboxes: len(c.Inboxes), Train: len(c.Train), Test: len(c.Test)}
	var msgs []corpus.Message
	for _, in := range c.Inboxes {
		msgs = append(msgs, in.Messages...)
	}
	res.Messages = len(msgs)
	if *traces != "" {
		cfg, _, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		opts := sandbox.Options{CacheDir: cfg.Plugins.CacheDirOrDefault()}
		if *interp != "" {
			if opts.Interpreter, err = os.ReadFile(*interp); err != nil {
				return fmt.Errorf("interpreter: %w", err)
			}
		}
		convs, err := expertConversations(ctx, msgs, tasks, opts, *system)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := corpus.WriteJSONL(&b, convs); err != nil {
			return err
		}
		if dir := filepath.Dir(*traces); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		if err := atomicfile.WriteFile(*traces, b.Bytes(), 0o644); err != nil {
			return err
		}
		res.ExpertTraces, res.ExpertSolved = *traces, len(convs)
	}
	return writeJSON(o.stdout, res)
}

// expertConversations runs the scripted expert on every task, in order,
// through the email tools in the CodeAct sandbox (episodes started for
// each task, so the tools reach its inbox), system first in every
// conversation: the teacher of `toolbrain distill --teacher email`. A task
// the expert cannot solve, or solves wrongly, is an error: the corpus and
// the expert are built to agree.
func expertConversations(ctx context.Context, msgs []corpus.Message, tasks []corpus.Task, opts sandbox.Options, system string) ([]expert.Conversation, error) {
	store, err := email.NewStore(ctx, msgs)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	specs := email.Specs()
	set, err := schema.NewSet(specs)
	if err != nil {
		return nil, err
	}
	opts.ToolSpecs, opts.Tools = specs, schema.Checked(email.NewTools(store), set)
	sb, err := sandbox.New(ctx, opts)
	if err != nil {
		if errors.Is(err, sandbox.ErrNoInterpreter) {
			return nil, fmt.Errorf("%w (run `bash plugins/build.sh`, then rebuild toolbrain)", err)
		}
		return nil, err
	}
	defer sb.Close(ctx)
	if system == "" {
		system = agent.CodeActSystem(specs)
	}
	solve, err := scriptedSolver("email")
	if err != nil {
		return nil, err
	}
	sdkTasks := make([]sdk.Task, len(tasks))
	for i, t := range tasks {
		sdkTasks[i] = t.SDK()
	}
	demos, err := (&distill.CodeAct{Sandbox: sb, System: system, Solve: solve}).Demonstrate(ctx, sdkTasks)
	if err != nil {
		return nil, err
	}
	convs := make([]expert.Conversation, len(demos))
	var errs []error
	for i, d := range demos {
		switch task := tasks[i]; {
		case d.Trace.Error != "":
			errs = append(errs, fmt.Errorf("task %s: %s", task.ID, d.Trace.Error))
		case d.Trace.FinalAnswer != task.Answer:
			errs = append(errs, fmt.Errorf("task %s: the expert answered %q, the gold answer is %q", task.ID, d.Trace.FinalAnswer, task.Answer))
		}
		convs[i].Answer = d.Trace.FinalAnswer
		for _, m := range d.Messages {
			convs[i].Messages = append(convs[i].Messages, expert.Message{Role: m.Role, Content: m.Content})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return convs, nil
}
