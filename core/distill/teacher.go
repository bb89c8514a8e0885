package distill

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/runtime/sandbox"
	"github.com/toolbrain/toolbrain/sdk"
)

// Runner runs one turn of CodeAct code in a task's sandbox episode and
// returns the observation message the CodeAct athlete would append and
// the final answer when the code gave one (agent.CodeActTurns).
type Runner interface {
	Run(ctx context.Context, code string) (observation string, final *string, err error)
}

// Solver solves one task as a CodeAct teacher: it writes replies, runs
// their code through run and returns the messages after the system prompt
// and the question (its replies as "assistant", the observations as
// "user"). An error is the episode's failure (the messages so far are
// kept for the trace); the teacher goes on with the next task.
type Solver func(ctx context.Context, run Runner, system string, task sdk.Task) ([]chattemplate.Message, error)

// CodeAct is a teacher that acts through the real CodeAct sandbox, turn
// by turn, as the student's athlete would: a scripted expert, or a model
// behind an endpoint (EndpointSolver). Its demonstrations carry messages,
// not token ids.
type CodeAct struct {
	// Sandbox runs the code, with the tools of the student's run.
	Sandbox *sandbox.Sandbox
	// System is the system prompt of every conversation: the student's
	// athlete's (agent.Agent.System), so that it trains on the prompt it
	// will see.
	System string
	// Solve writes the replies.
	Solve Solver
	// Workers solve tasks concurrently (0: one per CPU).
	Workers int
	// MaxObservationBytes cuts observations as the athlete does (0: the
	// agent's default).
	MaxObservationBytes int
}

var _ Teacher = (*CodeAct)(nil)

// Demonstrate implements Teacher: one episode per task.
func (c *CodeAct) Demonstrate(ctx context.Context, tasks []sdk.Task) ([]Demo, error) {
	if c.Sandbox == nil || c.Solve == nil {
		return nil, errors.New("distill: a CodeAct teacher needs a sandbox and a solver")
	}
	demos := make([]Demo, len(tasks))
	errs := make([]error, len(tasks))
	next := make(chan int)
	var wg sync.WaitGroup
	workers := c.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	for range workers {
		wg.Go(func() {
			for i := range next {
				demos[i], errs[i] = c.one(ctx, tasks[i])
			}
		})
	}
	for i := range tasks {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return demos, ctx.Err()
}

// recorder is a Runner that keeps the final answer and the code of each
// turn, for the trace.
type recorder struct {
	Runner
	final *string
	code  []string
}

func (r *recorder) Run(ctx context.Context, code string) (string, *string, error) {
	obs, final, err := r.Runner.Run(ctx, code)
	if err == nil {
		r.code = append(r.code, code)
		if final != nil {
			r.final = final
		}
	}
	return obs, final, err
}

// one solves a task; an error is the sandbox's or ctx's, not the
// episode's.
func (c *CodeAct) one(ctx context.Context, task sdk.Task) (Demo, error) {
	d := Demo{Task: task, Trace: sdk.Trace{ID: task.ID + "-0", TaskID: task.ID}}
	e, err := c.Sandbox.StartTask(ctx, &task)
	if err != nil {
		return d, fmt.Errorf("distill: task %s: %w", task.ID, err)
	}
	defer e.Close()
	rec := &recorder{Runner: agent.CodeActTurns{Episode: e, MaxObservationBytes: c.MaxObservationBytes}}
	msgs, err := c.Solve(ctx, rec, c.System, task)
	if cerr := ctx.Err(); cerr != nil {
		return d, cerr
	}
	d.Messages = append([]chattemplate.Message{{Role: "system", Content: c.System}, {Role: "user", Content: task.Prompt}}, msgs...)
	k := 0
	for i, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		t := sdk.Turn{Completion: m.Content}
		if k < len(rec.code) {
			t.Code = rec.code[k]
		}
		if i+1 < len(msgs) && msgs[i+1].Role == "user" {
			t.Observations = []sdk.Observation{{Content: msgs[i+1].Content}}
		}
		d.Trace.Turns = append(d.Trace.Turns, t)
		k++
	}
	switch {
	case err != nil:
		d.Trace.Error = err.Error()
	case rec.final == nil:
		d.Trace.Error = "the teacher gave no final answer"
	default:
		d.Trace.FinalAnswer = *rec.final
	}
	return d, nil
}

// Completer is a chat model behind an API (core/llm.Endpoint).
type Completer interface {
	Complete(ctx context.Context, req sdk.LLMRequest) (sdk.LLMResponse, error)
}

// EndpointSolver is a Solver that asks a chat model for every reply:
// the conversation so far goes to m, the reply's ```python block runs,
// its observation is appended, until the code gives a final answer or
// maxTurns replies were written. A reply without code gets the athlete's
// error message as its observation. The model's text is what is kept;
// the student's chat template renders it later (an endpoint gives text,
// not token ids).
func EndpointSolver(m Completer, maxTurns, maxTokens int, temperature float64) Solver {
	return func(ctx context.Context, run Runner, system string, task sdk.Task) ([]chattemplate.Message, error) {
		conv := []sdk.Message{{Role: "system", Content: system}, {Role: "user", Content: task.Prompt}}
		var out []chattemplate.Message
		for range maxTurns {
			resp, err := m.Complete(ctx, sdk.LLMRequest{Messages: conv, MaxTokens: maxTokens, Temperature: temperature})
			if err != nil {
				return out, fmt.Errorf("teacher endpoint: %w", err)
			}
			out = append(out, chattemplate.Message{Role: "assistant", Content: resp.Text})
			obs := "Observation:\n" + agent.NoCodeError
			var final *string
			if code, ok := agent.ExtractCode(resp.Text); ok {
				if obs, final, err = run.Run(ctx, code); err != nil {
					return out, err
				}
			}
			if final != nil {
				return out, nil
			}
			out = append(out, chattemplate.Message{Role: "user", Content: obs})
			conv = append(conv, sdk.Message{Role: "assistant", Content: resp.Text}, sdk.Message{Role: "user", Content: obs})
		}
		return out, fmt.Errorf("no final answer in %d turns", maxTurns)
	}
}

// Rollout is a teacher that is a model run by the coach's executor (a
// local checkpoint: coach.Local over its own athlete). Its demonstrations
// carry the exact ids it saw and generated, tool output masked; they
// train a student only on the same tokenizer.
type Rollout struct {
	Executor coach.Executor
	// Episodes per task (0: 1); Greedy decodes at temperature 0.
	Episodes int
	Greedy   bool
	// Seed names the rollouts' random streams.
	Seed uint64
}

var _ Teacher = (*Rollout)(nil)

// Demonstrate implements Teacher.
func (r *Rollout) Demonstrate(ctx context.Context, tasks []sdk.Task) ([]Demo, error) {
	n := max(r.Episodes, 1)
	reqs := make([]coach.RolloutRequest, len(tasks))
	for i, t := range tasks {
		reqs[i] = coach.RolloutRequest{Task: t, Episodes: n, Seed: r.Seed + uint64(i), Greedy: r.Greedy}
	}
	groups, err := r.Executor.Rollout(ctx, reqs)
	if err != nil {
		return nil, fmt.Errorf("distill: teacher rollout: %w", err)
	}
	var demos []Demo
	for i, g := range groups {
		for _, tr := range g {
			demos = append(demos, Demo{Task: tasks[i], Trace: tr})
		}
	}
	return demos, nil
}
