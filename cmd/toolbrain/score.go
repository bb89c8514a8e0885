package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/scoring"
	"github.com/toolbrain/toolbrain/sdk"
)

// scoreLine is one trace's line of `toolbrain score`.
type scoreLine struct {
	ID         string             `json:"id,omitempty"`
	TaskID     string             `json:"task_id,omitempty"`
	Group      int                `json:"group"`
	Reward     float64            `json:"reward"`
	Components map[string]float64 `json:"components"`
	// Advantage is the [algorithm]'s per-trace advantage; DPO is "chosen"
	// or "rejected" for a trace in a DPO pair.
	Advantage *float64 `json:"advantage,omitempty"`
	DPO       string   `json:"dpo,omitempty"`
}

func scoreCmd(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "score", "--traces FILE.jsonl [--tasks FILE.jsonl] [--config FILE]")
	tracesPath := fs.String("traces", "", "agent traces, one JSON object per line (core/agent's JSONL)")
	tasksPath := fs.String("tasks", "", `tasks, one {"id", "prompt", "expected"} per line; a trace's task_id picks its task`)
	cfgPath := fs.String("config", "", "toolbrain.toml ([[rewards]], [algorithm], [judge], [plugins])")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *tracesPath == "" {
		return fmt.Errorf("%w: --traces is required", errUsage)
	}
	cfg, _, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	traces, err := readTraces(*tracesPath)
	if err != nil {
		return err
	}
	tasks := map[string]sdk.Task{}
	if *tasksPath != "" {
		if tasks, err = readTasks(*tasksPath); err != nil {
			return err
		}
	}
	groups, err := groupTraces(traces, tasks, *tasksPath != "")
	if err != nil {
		return fmt.Errorf("%s: %w", *tracesPath, err)
	}
	h, err := scoring.NewHost(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close(ctx)
	alg, err := h.Algorithm(ctx)
	if err != nil {
		return err
	}
	rs, err := h.Rewards(ctx)
	if err != nil {
		return err
	}
	// The coach's scorer; where the coach would give a fallback score,
	// score reports the failure instead.
	w := &coach.Scorer{Components: rs, JudgeTimeout: cfg.Judge.CallTimeout}

	lines := make([][]scoreLine, len(groups))
	adv := sdk.AdvantageRequest{Groups: make([]sdk.Group, len(groups))}
	for g, grp := range groups {
		task := sdk.Task{Expected: grp.req.Expected}
		if grp.req.Task != nil {
			task = *grp.req.Task
		}
		s, err := w.Score(ctx, task, grp.req.Traces)
		if err == nil && s.Fallbacks > 0 {
			err = errors.New(s.Errors[0])
		}
		if err != nil {
			return fmt.Errorf("group %d (task %q): %w", g, grp.taskID, err)
		}
		for i, tr := range grp.req.Traces {
			l := scoreLine{ID: tr.ID, TaskID: tr.TaskID, Group: g, Reward: s.Rewards[i], Components: map[string]float64{}}
			for name, c := range s.Components {
				l.Components[name] = c[i]
			}
			lines[g] = append(lines[g], l)
			adv.Groups[g].Rewards = append(adv.Groups[g].Rewards, s.Rewards[i])
			adv.Groups[g].Lengths = append(adv.Groups[g].Lengths, generatedTokens(tr))
		}
	}
	a, err := alg.Advantages(ctx, adv)
	if err != nil {
		return fmt.Errorf("[algorithm] %s: %w", firstNonEmpty(cfg.Algorithm.Plugin, cfg.Algorithm.Name), err)
	}
	for g := range a.Advantages {
		for i := range a.Advantages[g] {
			lines[g][i].Advantage = &a.Advantages[g][i]
		}
	}
	for _, p := range a.Pairs {
		lines[p.Group][p.Chosen].DPO, lines[p.Group][p.Rejected].DPO = "chosen", "rejected"
	}

	bw := bufio.NewWriter(o.stdout)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	sum, n := 0.0, 0
	for _, ls := range lines {
		for _, l := range ls {
			if err := enc.Encode(l); err != nil {
				return err
			}
			sum += l.Reward
			n++
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(o.stderr, "scored %d traces in %d groups: mean reward %.4g\n", n, len(groups), sum/float64(max(n, 1)))
	return nil
}

// scoreGroup is the traces of one task, in file order.
type scoreGroup struct {
	taskID string
	req    sdk.RewardGroupRequest
}

// groupTraces groups traces by task_id in order of first appearance, each
// with its task's expected answer. With tasks given, every trace must name
// a known task.
func groupTraces(traces []sdk.Trace, tasks map[string]sdk.Task, strict bool) ([]scoreGroup, error) {
	var groups []scoreGroup
	index := map[string]int{}
	for i, tr := range traces {
		g, ok := index[tr.TaskID]
		if !ok {
			task, known := tasks[tr.TaskID]
			if strict && !known {
				return nil, fmt.Errorf("trace %d (id %q) has task_id %q, which no task in --tasks has", i, tr.ID, tr.TaskID)
			}
			g = len(groups)
			index[tr.TaskID] = g
			req := sdk.RewardGroupRequest{Expected: task.Expected}
			if known {
				req.Task = &task
			}
			groups = append(groups, scoreGroup{taskID: tr.TaskID, req: req})
		}
		groups[g].req.Traces = append(groups[g].req.Traces, tr)
	}
	if len(groups) == 0 {
		return nil, errors.New("no traces")
	}
	return groups, nil
}

// generatedTokens is a trace's completion length: the generated token ids
// when recorded, else the completion bytes.
func generatedTokens(tr sdk.Trace) int {
	n := 0
	for _, t := range tr.Turns {
		if t.Tokens != nil {
			n += len(t.Tokens.GeneratedIDs)
		} else {
			n += len(t.Completion)
		}
	}
	return n
}

func readTraces(path string) ([]sdk.Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	traces, err := agent.ReadJSONL(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return traces, nil
}

// readTasks reads a task file (coach.ReadTasks), keyed by id.
func readTasks(path string) (map[string]sdk.Task, error) {
	list, err := coach.ReadTasks(path)
	if err != nil {
		return nil, err
	}
	tasks := make(map[string]sdk.Task, len(list))
	for _, t := range list {
		tasks[t.ID] = t
	}
	return tasks, nil
}
