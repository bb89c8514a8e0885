// Package taskgen writes training tasks for a set of tools: a [Generator]
// proposes tasks from the tools' names, descriptions and JSON schemas (and,
// when given, sample data such as an inbox), and [Run] keeps only the ones
// that pass every check, counting why the others were dropped.
//
// # Generators
//
//   - [Scripted]: offline and deterministic. It builds each call's
//     arguments from the tool's schema (const, enum, examples, default,
//     bounds; words of the sample data for free text), calls the real tool
//     and takes its output as the gold answer. It is scripted, not a model:
//     its questions are templates.
//   - [LLM]: any core/llm client (an OpenAI-compatible endpoint or a local
//     checkpoint) prompted with the tool specs and the sample, asked for a
//     JSON array of tasks; its answer is parsed robustly (code fences,
//     prose around the array, arguments given as a JSON string) and a
//     reply that cannot be parsed is asked again a bounded number of times.
//   - core/taskgen/emailtasks: scripted questions drawn from an inbox of
//     the email pack's sample data.
//
// # Checks
//
// A proposed [Candidate] is kept only when, in this order:
//
//  1. schema: it has a question, an answer, a known difficulty and 1 to
//     [MaxCalls] calls, and each call's arguments validate against the
//     tool's JSON schema (runtime/schema) — else [ReasonSchema];
//  2. every call names a tool of the set — else [ReasonUnknownTool];
//  3. its normalised question (lower case, punctuation dropped, spaces
//     collapsed) is not one already kept for the same metadata — else
//     [ReasonDuplicate];
//  4. the token-set Jaccard similarity of its question with every kept
//     question of the same metadata that has the same numbers is below
//     Options.NearDuplicate — else [ReasonNearDuplicate]. Questions whose
//     numbers (amounts, dates, ids) differ are never near-duplicates:
//     "What is 2 plus 3?" and "What is 2 plus 4?" ask different things;
//  5. it is answerable — else [ReasonUnanswerable]: see below.
//
// Questions are compared only among tasks with the same metadata (or the
// same values of the keys in Options.Scope), because the metadata is the
// world the tools see: "When is the orion meeting?" asked of two inboxes
// is two tasks.
//
// # Answerable
//
// The calls run in order against the real tools, each with the task (its
// prompt and metadata) as the call's task. The task is answerable when no
// call fails or answers with a tool error, and the gold answer appears in
// the final call's output: the normalised answer occurs in the normalised
// output (its Content, or its Data when Content is empty) at word
// boundaries, or the answer is a number equal to a number of the output
// ("3" matches "3.0").
//
// # Output
//
// [WriteTasks] writes the kept tasks as a task file that core/coach's
// ReadTasks reads: one JSON object per line with id, prompt, expected,
// difficulty, calls (the expected tool calls) and metadata.
package taskgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
	"github.com/toolbrain/toolbrain/sdk"
)

// Difficulties a candidate may have.
const (
	Easy   = "easy"
	Medium = "medium"
	Hard   = "hard"
)

// Bounds on what a candidate may hold; a larger one is rejected as schema.
const (
	// MaxCalls bounds the calls of one task.
	MaxCalls = 8
	// MaxQuestionBytes bounds a question.
	MaxQuestionBytes = 4 << 10
	// MaxAnswerBytes bounds a gold answer.
	MaxAnswerBytes = 1 << 10
)

// DefaultNearDuplicate is the token-set Jaccard similarity at or above
// which two questions are near-duplicates.
const DefaultNearDuplicate = 0.85

// DefaultMaxRounds is how many times [Run] asks the generator for more
// tasks when checks dropped some.
const DefaultMaxRounds = 5

// Reason is why a candidate was rejected.
type Reason string

// The rejection reasons, in the order the checks run.
const (
	ReasonSchema        Reason = "schema"
	ReasonUnknownTool   Reason = "unknown_tool"
	ReasonDuplicate     Reason = "duplicate"
	ReasonNearDuplicate Reason = "near_duplicate"
	ReasonUnanswerable  Reason = "unanswerable"
)

// Sentinel errors of the package.
var (
	// ErrOptions means Options are out of range; the message names the field.
	ErrOptions = errors.New("taskgen: invalid options")
	// ErrUnparsable means a generator's reply held no JSON array of tasks,
	// after every retry.
	ErrUnparsable = errors.New("taskgen: generator reply is not a JSON array of tasks")
)

// Call is one tool call of a task's expected solution.
type Call struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// Candidate is a task as a generator proposes it, before the checks.
type Candidate struct {
	Question string `json:"question"`
	// Answer is the gold answer: what the final call's output must show.
	Answer string `json:"answer"`
	// Calls are the tool calls that solve the task, in order.
	Calls []Call `json:"calls"`
	// Difficulty is Easy, Medium or Hard.
	Difficulty string `json:"difficulty"`
	// Metadata is the task's context, which tools read through the call's
	// task (the email tools: "inbox"); it goes into the task file. The keys
	// "difficulty" and "calls" are reserved.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Request is what a generator is asked for.
type Request struct {
	// Tools are the tools the tasks may call.
	Tools []sdk.ToolSpec
	// Sample is sample data (for instance messages of an inbox) as text;
	// "" for none.
	Sample string
	// N is how many candidates to propose (a generator may return fewer,
	// or more, which the checks then trim).
	N int
	// Seed makes a scripted generator repeatable; a model generator may
	// ignore it.
	Seed uint64
	// Avoid are questions already kept, which a model generator shows so
	// that it writes new ones.
	Avoid []string
}

// Generator proposes candidate tasks. Cancelling ctx stops it; the error
// then wraps ctx.Err().
type Generator interface {
	Generate(ctx context.Context, req Request) ([]Candidate, error)
}

// Options configure [Run].
type Options struct {
	// Generator proposes the tasks (required).
	Generator Generator
	// Specs are the tools (required); Tools runs them (required).
	Specs []sdk.ToolSpec
	Tools sdk.Tool
	// Sample is passed to the generator (see Request.Sample).
	Sample string
	// N is how many tasks to keep (required, > 0).
	N int
	// Seed is the first round's Request.Seed; round r uses Seed+r.
	Seed uint64
	// NearDuplicate is the Jaccard threshold (0 = DefaultNearDuplicate;
	// above 1 turns the check off).
	NearDuplicate float64
	// MaxRounds bounds the generator calls (0 = DefaultMaxRounds).
	MaxRounds int
	// Scope lists the metadata keys whose values scope the duplicate and
	// near-duplicate checks: two questions are compared only when these
	// keys agree. Nil means every key; an empty, non-nil list compares
	// every question with every other. The email tools' scope is
	// {"inbox"}: the gold message id in the metadata is no other world.
	Scope []string
	// IDPrefix starts every task id (default "gen"): PREFIX-0001, ...
	IDPrefix string
}

// Task is a kept task, as the task file holds it.
type Task struct {
	ID         string            `json:"id"`
	Prompt     string            `json:"prompt"`
	Expected   string            `json:"expected"`
	Difficulty string            `json:"difficulty"`
	Calls      []Call            `json:"calls"`
	Metadata   map[string]string `json:"metadata,omitempty"`
}

// Rejection is one dropped candidate and why.
type Rejection struct {
	Question string `json:"question"`
	Reason   Reason `json:"reason"`
	Detail   string `json:"detail"`
}

// Summary counts what a run proposed, kept and dropped.
type Summary struct {
	Requested int `json:"requested"`
	Proposed  int `json:"proposed"`
	Kept      int `json:"kept"`
	// Rejected counts the dropped candidates by reason.
	Rejected map[Reason]int `json:"rejected"`
	// Unchecked counts candidates left over once N were kept: Proposed
	// is Kept + Unchecked + the rejected.
	Unchecked int `json:"unchecked,omitempty"`
	// Rounds is how many times the generator was called.
	Rounds int `json:"rounds"`
	// Unparsable counts rounds whose reply could not be parsed.
	Unparsable int `json:"unparsable,omitempty"`
	// Examples holds the first rejection of each reason.
	Examples []Rejection `json:"examples,omitempty"`
}

// String is the summary on one line: "kept 10 of 12 proposed (wanted 10);
// rejected: duplicate 1, unanswerable 1".
func (s Summary) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "kept %d of %d proposed (wanted %d) in %d rounds", s.Kept, s.Proposed, s.Requested, s.Rounds)
	reasons := make([]string, 0, len(s.Rejected))
	for r := range s.Rejected {
		reasons = append(reasons, string(r))
	}
	sort.Strings(reasons)
	b.WriteString("; rejected:")
	if len(reasons) == 0 {
		b.WriteString(" none")
	}
	for i, r := range reasons {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %d", r, s.Rejected[Reason(r)])
	}
	if s.Unparsable > 0 {
		fmt.Fprintf(&b, "; unparsable replies %d", s.Unparsable)
	}
	return b.String()
}

// Result is what [Run] returns.
type Result struct {
	Tasks   []Task
	Summary Summary
}

// Run asks the generator for tasks, checks each (see the package
// documentation) and keeps the first N that pass, asking again while
// fewer are kept, at most MaxRounds times, and not after a round that
// proposed nothing. Of one round's candidates, at most 4N+16 are checked
// (each check may call the tools). A reply that cannot be parsed
// ([ErrUnparsable]) is counted and the next round goes on; any other
// generator error ends the run. Cancelling ctx stops the run with an error
// wrapping ctx.Err().
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.validate(); err != nil {
		return Result{}, err
	}
	c, err := newChecker(o.Specs, o.Tools, o.NearDuplicate, o.Scope)
	if err != nil {
		return Result{}, err
	}
	prefix := o.IDPrefix
	if prefix == "" {
		prefix = "gen"
	}
	rounds := o.MaxRounds
	if rounds == 0 {
		rounds = DefaultMaxRounds
	}
	res := Result{Summary: Summary{Requested: o.N, Rejected: map[Reason]int{}}}
	var kept []string
	seenReason := map[Reason]bool{}
	for r := 0; r < rounds && len(res.Tasks) < o.N; r++ {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("taskgen: %w", err)
		}
		req := Request{Tools: o.Specs, Sample: o.Sample, N: o.N - len(res.Tasks), Seed: o.Seed + uint64(r), Avoid: kept}
		cands, err := o.Generator.Generate(ctx, req)
		res.Summary.Rounds++
		if errors.Is(err, ErrUnparsable) {
			res.Summary.Unparsable++
			continue
		}
		if err != nil {
			return res, fmt.Errorf("taskgen: round %d: %w", r+1, err)
		}
		if len(cands) == 0 {
			break // the generator has nothing more to propose
		}
		if limit := roundLimit(req.N); len(cands) > limit {
			cands = cands[:limit] // a model's runaway reply does not drive unbounded tool calls
		}
		res.Summary.Proposed += len(cands)
		for i, cand := range cands {
			if len(res.Tasks) == o.N {
				res.Summary.Unchecked += len(cands) - i
				break
			}
			cand = cand.trimmed()
			id := fmt.Sprintf("%s-%04d", prefix, len(res.Tasks)+1)
			reason, detail, err := c.check(ctx, id, cand)
			if err != nil {
				return res, err
			}
			if reason != "" {
				res.Summary.Rejected[reason]++
				if !seenReason[reason] {
					seenReason[reason] = true
					res.Summary.Examples = append(res.Summary.Examples, Rejection{Question: cand.Question, Reason: reason, Detail: detail})
				}
				continue
			}
			c.keep(cand)
			kept = append(kept, cand.Question)
			res.Tasks = append(res.Tasks, Task{ID: id, Prompt: cand.Question, Expected: cand.Answer, Difficulty: cand.Difficulty, Calls: cand.Calls, Metadata: cand.Metadata})
		}
	}
	res.Summary.Kept = len(res.Tasks)
	return res, nil
}

// roundLimit is how many of one round's candidates are checked when n
// are asked for; the rest are dropped uncounted.
func roundLimit(n int) int { return 4*n + 16 }

func (o Options) validate() error {
	switch {
	case o.Generator == nil:
		return fmt.Errorf("%w: Generator is nil", ErrOptions)
	case len(o.Specs) == 0:
		return fmt.Errorf("%w: Specs is empty: no tools to write tasks for", ErrOptions)
	case o.Tools == nil:
		return fmt.Errorf("%w: Tools is nil: the answerable check needs the real tools", ErrOptions)
	case o.N <= 0:
		return fmt.Errorf("%w: N is %d, want > 0", ErrOptions, o.N)
	case o.NearDuplicate < 0:
		return fmt.Errorf("%w: NearDuplicate is %v, want 0 (default) to 1, or above 1 for off", ErrOptions, o.NearDuplicate)
	case o.MaxRounds < 0:
		return fmt.Errorf("%w: MaxRounds is %d, want >= 0", ErrOptions, o.MaxRounds)
	}
	return nil
}

// trimmed is c with its text fields trimmed of surrounding space.
func (c Candidate) trimmed() Candidate {
	c.Question = strings.TrimSpace(c.Question)
	c.Answer = strings.TrimSpace(c.Answer)
	c.Difficulty = strings.TrimSpace(c.Difficulty)
	return c
}

// SDK is the task as the coach reads it back from the file: the calls and
// the difficulty in its metadata (calls as JSON).
func (t Task) SDK() sdk.Task {
	md := map[string]string{"difficulty": t.Difficulty}
	if b, err := json.Marshal(t.Calls); err == nil {
		md["calls"] = string(b)
	}
	for k, v := range t.Metadata {
		md[k] = v
	}
	return sdk.Task{ID: t.ID, Prompt: t.Prompt, Expected: t.Expected, Metadata: md}
}

// WriteTasks writes tasks to path as JSONL (one [Task] per line, the
// format core/coach.ReadTasks reads), atomically, creating the directory.
func WriteTasks(path string, tasks []Task) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, t := range tasks {
		if err := enc.Encode(t); err != nil {
			return fmt.Errorf("taskgen: task %s: %w", t.ID, err)
		}
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("taskgen: %w", err)
		}
	}
	if err := atomicfile.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("taskgen: write %s: %w", path, err)
	}
	return nil
}

// ReadSample reads sample data for a generator from path: a file, or every
// regular file of a directory in name order, each headed by its name; at
// most MaxSampleBytes in all (the rest is cut).
func ReadSample(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("taskgen: sample: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return "", fmt.Errorf("taskgen: sample: %w", err)
		}
		files = files[:0]
		for _, e := range entries {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	var b strings.Builder
	for _, f := range files {
		if b.Len() >= MaxSampleBytes {
			break
		}
		data, err := readPrefix(f, MaxSampleBytes-b.Len())
		if err != nil {
			return "", fmt.Errorf("taskgen: sample: %w", err)
		}
		if st.IsDir() {
			fmt.Fprintf(&b, "== %s ==\n", filepath.Base(f))
		}
		b.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

// readPrefix reads at most n bytes of the file at path.
func readPrefix(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, int64(n)))
}
