package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/plugins/judge"
	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/sdk"
)

// loadRewards builds the [[rewards]] list: built-in rewards, reward plugins
// and judge plugins (whose rankings become scores), each with its weight.
// Plugins load on h (WebAssembly) or as go-plugin processes; llmc answers
// their toolbrain_llm calls. release closes the plugins; on an error they
// are closed already.
func loadRewards(ctx context.Context, cfg config.Config, h *runtime.Host, llmc llm.Client) (w *rewards.WeightedGroup, release func(), err error) {
	w = &rewards.WeightedGroup{}
	var closers []func()
	release = func() {
		for _, c := range closers {
			c()
		}
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	seen := map[string]int{}
	for i, r := range cfg.Rewards {
		name := r.Name
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(r.Plugin), filepath.Ext(r.Plugin))
		}
		// Two entries of one name (exact_match twice, with and without
		// normalize) stay apart in the output.
		if seen[name]++; seen[name] > 1 {
			name = fmt.Sprintf("%s#%d", name, seen[name])
		}
		var gr sdk.GroupReward
		if r.Plugin == "" {
			b, err := rewards.Builtin(rewards.Config{Name: r.Name, Weight: r.Weight, MaxTurns: r.MaxTurns, Normalize: r.Normalize})
			if err != nil {
				return nil, nil, fmt.Errorf("rewards[%d]: %w", i, err)
			}
			gr = rewards.PerTrace{Reward: b}
		} else {
			var c func()
			gr, c, err = loadRewardPlugin(ctx, cfg, r, h, llmc)
			if err != nil {
				return nil, nil, fmt.Errorf("rewards[%d].plugin: %w", i, err)
			}
			closers = append(closers, c)
		}
		w.Components = append(w.Components, rewards.GroupComponent{Name: name, Weight: r.Weight, Reward: gr})
	}
	return w, release, nil
}

// loadRewardPlugin loads one plugin reward: a .wasm module or a go-plugin
// executable, of kind reward or judge.
func loadRewardPlugin(ctx context.Context, cfg config.Config, r config.Reward, h *runtime.Host, llmc llm.Client) (sdk.GroupReward, func(), error) {
	p, kind, err := openRewardPlugin(ctx, cfg, r, h, llmc)
	if err != nil {
		return nil, nil, err
	}
	closer := func() { p.Close(context.Background()) }
	gr, err := asGroupReward(kind, p, r.Rubric, r.Plugin)
	if err != nil {
		closer()
		return nil, nil, err
	}
	return gr, closer, nil
}

// openRewardPlugin starts r's plugin on the transport its file calls for
// and says its kind: a process's Info, a module's manifest or, without
// one, what the module exports.
func openRewardPlugin(ctx context.Context, cfg config.Config, r config.Reward, h *runtime.Host, llmc llm.Client) (rewardPlugin, sdk.Kind, error) {
	grant := runtime.Permissions{HostFunctions: r.Grant}
	if isExecutable(r.Plugin) {
		p, err := goplugin.Open(ctx, r.Plugin, goplugin.Config{Limits: cfg.Plugins.Limits, Grant: grant, LLM: hostLLM(llmc), Config: r.Config})
		if err != nil {
			return nil, "", err
		}
		return p, p.Kind(), nil
	}
	m := runtime.Manifest{Name: strings.TrimSuffix(filepath.Base(r.Plugin), filepath.Ext(r.Plugin))}
	if r.Manifest != "" {
		var err error
		if m, err = readManifest(r.Manifest); err != nil {
			return nil, "", err
		}
	}
	p, err := h.LoadFile(ctx, r.Plugin, m, runtime.PluginConfig{Limits: cfg.Plugins.Limits, Grant: grant, Config: r.Config})
	if err != nil {
		return nil, "", err
	}
	kind := m.Kind
	if kind == "" {
		kind = sdk.KindReward
		if p.Exports(sdk.JudgeFunction) && !p.Exports(sdk.RewardFunction) {
			kind = sdk.KindJudge
		}
	}
	return p, kind, nil
}

// rewardPlugin is what both transports' plugins offer.
type rewardPlugin interface {
	sdk.GroupReward
	sdk.Judge
	Close(context.Context) error
}

// asGroupReward scores groups with p as its kind says: a reward (its
// reward_group, or reward per trace) or a judge.
func asGroupReward(kind sdk.Kind, p rewardPlugin, rubric, path string) (sdk.GroupReward, error) {
	switch kind {
	case sdk.KindReward:
		if rubric != "" {
			return nil, fmt.Errorf("%s: rubric is for a judge, and this is a reward plugin", path)
		}
		return p, nil
	case sdk.KindJudge:
		return judge.GroupReward{Judge: p, Rubric: rubric}, nil
	}
	return nil, fmt.Errorf("%s is a %s plugin; a reward is a reward or judge plugin", path, kind)
}

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
	alg, err := algorithm(cfg)
	if err != nil {
		return err
	}
	h, judgeModel, release, err := pluginHost(ctx, cfg)
	if err != nil {
		return err
	}
	defer release()
	w, closeRewards, err := loadRewards(ctx, cfg, h, judgeModel)
	if err != nil {
		return err
	}
	defer closeRewards()

	lines := make([][]scoreLine, len(groups))
	adv := sdk.AdvantageRequest{Groups: make([]sdk.Group, len(groups))}
	for g, grp := range groups {
		s, err := w.Score(ctx, grp.req)
		if err != nil {
			return fmt.Errorf("group %d (task %q): %w", g, grp.taskID, err)
		}
		for i, tr := range grp.req.Traces {
			l := scoreLine{ID: tr.ID, TaskID: tr.TaskID, Group: g, Reward: s.Scores[i], Components: map[string]float64{}}
			for name, c := range s.Components {
				l.Components[name] = c[i]
			}
			lines[g] = append(lines[g], l)
			adv.Groups[g].Rewards = append(adv.Groups[g].Rewards, s.Scores[i])
			adv.Groups[g].Lengths = append(adv.Groups[g].Lengths, generatedTokens(tr))
		}
	}
	a, err := alg.Advantages(ctx, adv)
	if err != nil {
		return fmt.Errorf("[algorithm] %s: %w", cfg.Algorithm.Name, err)
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

// readTasks reads one sdk.Task per line, keyed by id. Unknown fields and
// duplicate ids are errors naming the line.
func readTasks(path string) (map[string]sdk.Task, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tasks := map[string]sdk.Task{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), agent.MaxTraceLine)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var t sdk.Task
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&t); err != nil {
			return nil, fmt.Errorf("%s:%d: want {\"id\", \"prompt\", \"expected\"}: %w", path, line, err)
		}
		if _, dup := tasks[t.ID]; dup {
			return nil, fmt.Errorf("%s:%d: task id %q appears twice", path, line, t.ID)
		}
		tasks[t.ID] = t
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tasks, nil
}
