package coach_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends/simplego"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/core/train/loss"
	"github.com/toolbrain/toolbrain/core/train/optim"
	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/plugins/algorithms"
	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/runtime/sandbox"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// kit is a tiny random model with a CodeAct athlete whose code runs in the
// real WebAssembly sandbox with the calculator tool pack.
type kit struct {
	model *model.Model
	exec  *coach.Local
}

var (
	kitOnce sync.Once
	theKit  kit
	kitErr  error
)

func tinyKit(t *testing.T) kit {
	t.Helper()
	kitOnce.Do(func() { theKit, kitErr = newKit(t) })
	if kitErr != nil {
		t.Fatal(kitErr)
	}
	return theKit
}

func newKit(t *testing.T) (kit, error) {
	dir, err := os.MkdirTemp("", "coach-kit-")
	if err != nil {
		return kit{}, err
	}
	cfg := model.Config{Architecture: model.Llama, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 2, NumAttentionHeads: 4,
		NumKeyValueHeads: 2, RopeTheta: 10000, RMSNormEps: 1e-6, VocabSize: 320, MaxPositionEmbeddings: 512, TorchDType: "float32", HiddenAct: "silu"}
	if err := checkpoint.Init(dir, cfg, 7); err != nil {
		return kit{}, err
	}
	ck, err := checkpoint.Open(dir, hub.ResolveOptions{})
	if err != nil {
		return kit{}, err
	}
	b, err := simplego.New("ops_sequential")
	if err != nil {
		return kit{}, err
	}
	m, err := ck.LoadModel(b, model.LoadOptions{}, "")
	if err != nil {
		return kit{}, err
	}
	tok, err := ck.Tokenizer()
	if err != nil {
		return kit{}, err
	}
	tmpl, err := ck.ChatTemplate()
	if err != nil {
		return kit{}, err
	}
	tools, specs, err := calculator(t)
	if err != nil {
		return kit{}, err
	}
	interp, err := os.ReadFile(pluginbuild.Path(t, "interpreter-starlark.wasm"))
	if err != nil {
		return kit{}, err
	}
	sb, err := sandbox.New(context.Background(), sandbox.Options{Interpreter: interp, CacheDir: cacheDir(), ToolSpecs: specs, Tools: tools})
	if err != nil {
		return kit{}, err
	}
	a, err := agent.New(agent.CodeAct, agent.Config{
		Model: m, Tokenizer: tok, Template: tmpl, Sandbox: sb, Tools: specs,
		System:   "Answer with code.",
		Sampling: generate.Options{MaxNewTokens: 10, Temperature: 1, StopTokenIDs: ck.StopTokenIDs(tok)},
		MaxTurns: 2, MaxLen: 256,
	})
	if err != nil {
		return kit{}, err
	}
	return kit{model: m, exec: &coach.Local{Agent: a, Model: m}}, nil
}

// calculator opens the calculator tool pack built from source.
func calculator(t *testing.T) (sdk.Tool, []sdk.ToolSpec, error) {
	dir, err := os.MkdirTemp("", "coach-calc-")
	if err != nil {
		return nil, nil, err
	}
	for src, dst := range map[string]string{
		filepath.Join("..", "..", "plugins", "packs", "calculator", pack.ManifestName): pack.ManifestName,
		pluginbuild.Path(t, "calculator.wasm"):                                         "calculator.wasm",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			return nil, nil, err
		}
	}
	if _, err := pack.Build(dir, os.TempDir()); err != nil {
		return nil, nil, err
	}
	p, err := pack.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	h, err := wasmhost.NewHost(context.Background(), wasmhost.HostConfig{CacheDir: cacheDir()})
	if err != nil {
		return nil, nil, err
	}
	tools, err := pack.Open(context.Background(), p, pack.Openers{pack.ModuleWASM: pack.WASM(h)}, contract.PluginConfig{})
	if err != nil {
		return nil, nil, err
	}
	return tools, tools.Specs(), nil
}

func cacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "toolbrain-test", "wasm")
	}
	return filepath.Join(os.TempDir(), "toolbrain-test-wasm")
}

// asciiShare scores a trace by the share of its generated ids below 128
// (ASCII bytes): a reward a random model's episodes differ on.
type asciiShare struct{}

func (asciiShare) Reward(_ context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	n, k := 0, 0
	for _, t := range req.Trace.Turns {
		for _, id := range t.Tokens.GeneratedIDs {
			n++
			if id < 128 {
				k++
			}
		}
	}
	if n == 0 {
		return sdk.RewardResponse{}, nil
	}
	return sdk.RewardResponse{Score: float64(k) / float64(n)}, nil
}

func (a asciiShare) RewardGroup(ctx context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	var out sdk.RewardGroupResponse
	for _, tr := range req.Traces {
		r, _ := a.Reward(ctx, sdk.RewardRequest{Trace: tr})
		out.Scores = append(out.Scores, r.Score)
	}
	return out, nil
}

// constant gives every trace the same score.
type constant struct{}

func (constant) RewardGroup(_ context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	return sdk.RewardGroupResponse{Scores: make([]float64, len(req.Traces))}, nil
}

// flaky fails the group, and alone the traces whose id ends in -1: as a
// plugin that traps on some inputs would.
type flaky struct{ asciiShare }

func (f flaky) Reward(ctx context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	if strings.HasSuffix(req.Trace.ID, "-1") {
		return sdk.RewardResponse{}, errors.New("wasm: trap: unreachable")
	}
	return f.asciiShare.Reward(ctx, req)
}

func (f flaky) RewardGroup(ctx context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	return sdk.RewardGroupResponse{Scores: []float64{math.NaN()}}, nil // garbage
}

var tasks = []sdk.Task{
	{ID: "add", Prompt: "What is 2+3?", Expected: "5"},
	{ID: "mul", Prompt: "What is 6*7?", Expected: "42"},
	{ID: "sub", Prompt: "What is 9-4?", Expected: "5"},
}

func newCoach(t *testing.T, k kit, method string, lr float64, rewards ...coach.Reward) (*coach.Coach, *train.Trainer) {
	t.Helper()
	tr, err := train.NewTrainer(k.model, train.Config{
		LoRA: lora.Config{R: 4, Alpha: 8, TargetModules: []string{"q_proj", "v_proj"}}, Seed: 3,
		Loss: method, GRPO: loss.GRPOOptions{EpsLow: 0.2, Beta: 0.04},
		Optimizer: optim.AdamW{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, MaxGradNorm: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	var alg sdk.Algorithm = algorithms.GRPO{}
	if method == coach.MethodDPO {
		alg = algorithms.DPOPairs{}
	}
	c, err := coach.New(coach.Config{Method: method, GroupSize: 4, TasksPerStep: 2, Seed: 11, SuccessThreshold: 0.9, SFTMinReward: 0.5},
		coach.Parts{Trainer: tr, Executor: k.exec, Scorer: &coach.Scorer{Components: rewards, Fallback: -1}, Algorithm: alg, Tasks: tasks})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.exec.SetPolicy(context.Background(), tr.Adapter()); err != nil {
		t.Fatal(err)
	}
	return c, tr
}

// seqLogp is the summed log-probability of each trace's generated ids.
func seqLogp(t *testing.T, tr *train.Trainer, traces []sdk.Trace, adapters bool) []float64 {
	t.Helper()
	var ids [][]int32
	var masks [][]uint8
	for i := range traces {
		s, err := traces[i].Sequence()
		if err != nil {
			t.Fatal(err)
		}
		ids, masks = append(ids, s.IDs), append(masks, s.Mask)
	}
	lp, err := tr.LogProbs(context.Background(), ids, adapters)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(ids))
	for i := range ids {
		for j, m := range masks[i] {
			if m == 1 {
				out[i] += float64(lp[i][j])
			}
		}
	}
	return out
}

// TestStep_GRPO runs one step end to end — rollouts of a CodeAct athlete
// through the real sandbox, a reward, GRPO advantages, the loss, AdamW —
// and checks its effect: the best trace of each group becomes more likely
// and the worst less likely; tool output never enters the loss.
func TestStep_GRPO(t *testing.T) {
	k := tinyKit(t)
	c, tr := newCoach(t, k, coach.MethodGRPO, 2e-2, coach.Reward{Name: "ascii", Weight: 1, Reward: asciiShare{}})
	m, groups, err := c.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !m.Updated || tr.StepCount() != 1 || m.Episodes != 8 || m.Rows == 0 {
		t.Fatalf("metrics %+v, trainer steps %d", m, tr.StepCount())
	}
	if m.SkippedGroups != 0 {
		t.Fatalf("%d groups skipped: the random model's episodes should differ", m.SkippedGroups)
	}
	observed := 0
	for _, g := range groups {
		if len(g.Traces) != 4 || len(g.Rewards) != 4 {
			t.Fatalf("group of %d traces, %d rewards", len(g.Traces), len(g.Rewards))
		}
		for _, tr := range g.Traces {
			for _, turn := range tr.Turns {
				observed += len(turn.Tokens.ObservationIDs)
			}
		}
		// The step's policy started as the base (LoRA B = 0): the adapters-off
		// log-probability is the one before the step.
		before := seqLogp(t, tr, g.Traces, false)
		after := seqLogp(t, tr, g.Traces, true)
		best, worst := 0, 0
		for i, r := range g.Rewards {
			if r > g.Rewards[best] {
				best = i
			}
			if r < g.Rewards[worst] {
				worst = i
			}
		}
		t.Logf("task %s: rewards %.3f, logp change %.4f", g.Task.ID, g.Rewards, sub(after, before))
		if !(after[best] > before[best]) {
			t.Errorf("task %s: the best trace (reward %.3f) went from logp %.5f to %.5f; want a rise", g.Task.ID, g.Rewards[best], before[best], after[best])
		}
		if !(after[worst] < before[worst]) {
			t.Errorf("task %s: the worst trace (reward %.3f) went from logp %.5f to %.5f; want a fall", g.Task.ID, g.Rewards[worst], before[worst], after[worst])
		}
	}
	if observed == 0 {
		t.Error("no episode got an observation: the sandbox was not reached")
	}
	if m.SandboxErrors == 0 {
		t.Error("a random model's code should fail in the sandbox and be counted")
	}
}

func sub(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// TestStep_AllEqualGroups: groups whose rewards are all equal carry no
// signal; they are counted, and with nothing left the step changes nothing.
func TestStep_AllEqualGroups(t *testing.T) {
	k := tinyKit(t)
	for _, method := range []string{coach.MethodGRPO, coach.MethodDPO, coach.MethodSFT} {
		t.Run(method, func(t *testing.T) {
			c, tr := newCoach(t, k, method, 1e-2, coach.Reward{Name: "zero", Weight: 1, Reward: constant{}})
			before := tr.Adapter()
			m, _, err := c.Step(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if m.Updated || m.SkippedGroups != 2 || tr.StepCount() != 0 || c.StepCount() != 1 {
				t.Fatalf("updated %v, skipped %d, trainer steps %d, coach steps %d", m.Updated, m.SkippedGroups, tr.StepCount(), c.StepCount())
			}
			after := tr.Adapter()
			for p, pr := range before.Modules {
				for j, x := range pr.B.Data {
					if after.Modules[p].B.Data[j] != x {
						t.Fatalf("%s changed without a signal", p)
					}
				}
			}
		})
	}
}

// TestStep_RewardFallback: a reward that returns garbage for the group and
// traps on one trace costs that trace the fallback score; the others keep
// theirs, the failures are counted, and the step goes on.
func TestStep_RewardFallback(t *testing.T) {
	k := tinyKit(t)
	c, _ := newCoach(t, k, coach.MethodGRPO, 1e-3,
		coach.Reward{Name: "flaky", Weight: 1, Reward: flaky{}},
		coach.Reward{Name: "judge", Weight: 0.5, Reward: constant{}, Judge: true})
	m, groups, err := c.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.RewardFallbacks != 2 || m.JudgeFallbacks != 0 || len(m.Errors) == 0 {
		t.Fatalf("fallbacks %d, judge %d, errors %q; want one trapped trace per group", m.RewardFallbacks, m.JudgeFallbacks, m.Errors)
	}
	for _, g := range groups {
		want, _ := asciiShare{}.RewardGroup(context.Background(), sdk.RewardGroupRequest{Traces: g.Traces})
		for i, tr := range g.Traces {
			w := want.Scores[i]
			if strings.HasSuffix(tr.ID, "-1") {
				w = -1
			}
			if g.Components["flaky"][i] != w || g.Rewards[i] != w {
				t.Errorf("trace %s: score %v (reward %v), want %v", tr.ID, g.Components["flaky"][i], g.Rewards[i], w)
			}
		}
	}
}

// TestRun_ResumeEqualsUninterrupted: three steps in one go give the same
// adapter as two steps, an interruption (Ctrl-C) and a resumed third; the
// run directory holds the metrics, checkpoints, adapter, curves and report.
func TestRun_ResumeEqualsUninterrupted(t *testing.T) {
	k := tinyKit(t)
	reward := coach.Reward{Name: "ascii", Weight: 1, Reward: asciiShare{}}
	ctx := context.Background()
	eval := tasks[:2]

	whole := t.TempDir()
	c, _ := newCoach(t, k, coach.MethodGRPO, 1e-2, reward)
	sum, err := c.Run(ctx, coach.RunOptions{Dir: whole, Steps: 3, EvalTasks: eval})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 3 || sum.EvalBefore == nil || sum.EvalAfter == nil || sum.EvalBefore.Tasks != 2 {
		t.Fatalf("summary %+v", sum)
	}
	for _, f := range []string{coach.MetricsFile, coach.ReportFile, coach.CurvesFile, coach.LossFile, coach.EvalFile, "adapter/adapter_model.safetensors", train.LatestFile} {
		if st, err := os.Stat(filepath.Join(whole, f)); err != nil || st.Size() == 0 {
			t.Errorf("run directory: %s missing or empty (%v)", f, err)
		}
	}
	metrics, _ := os.ReadFile(filepath.Join(whole, coach.MetricsFile))
	if n := strings.Count(string(metrics), "\n"); n != 4 { // step 0 (eval before) + 3 steps
		t.Errorf("metrics.jsonl has %d lines, want 4:\n%s", n, metrics)
	}
	for _, step := range []string{"step-000000.jsonl", "step-000003.jsonl"} { // before and after
		f, err := os.Open(filepath.Join(whole, coach.EvalTracesDir, step))
		if err != nil {
			t.Fatalf("eval traces: %v", err)
		}
		trs, err := agent.ReadJSONL(f)
		f.Close()
		if err != nil || len(trs) != 2 || trs[0].TaskID != eval[0].ID || len(trs[0].Turns) == 0 {
			t.Errorf("eval traces %s: %d traces (%v), want one per held-out task with its turns", step, len(trs), err)
		}
	}

	parts := t.TempDir()
	c, _ = newCoach(t, k, coach.MethodGRPO, 1e-2, reward)
	cctx, cancel := context.WithCancel(ctx)
	_, err = c.Run(cctx, coach.RunOptions{Dir: parts, Steps: 3, EvalTasks: eval, OnStep: func(m coach.StepMetrics) {
		if m.Step == 2 {
			cancel() // Ctrl-C during step 3's rollouts
		}
	}})
	cancel()
	if !errors.Is(err, coach.ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want ErrInterrupted wrapping context.Canceled", err)
	}
	if _, err := c.Run(ctx, coach.RunOptions{Dir: parts, Steps: 3}); err == nil {
		t.Fatal("a fresh run in a directory holding a run should be refused")
	}
	c, _ = newCoach(t, k, coach.MethodGRPO, 1e-2, reward)
	if c.StepCount() != 0 {
		t.Fatal("fresh coach not at step 0")
	}
	sum2, err := c.Run(ctx, coach.RunOptions{Dir: parts, Steps: 3, Resume: true, EvalTasks: eval})
	if err != nil {
		t.Fatal(err)
	}
	if sum2.Steps != 3 {
		t.Fatalf("resumed run ended at step %d", sum2.Steps)
	}
	a, err := lora.Load(filepath.Join(whole, coach.AdapterDir))
	if err != nil {
		t.Fatal(err)
	}
	b, err := lora.Load(filepath.Join(parts, coach.AdapterDir))
	if err != nil {
		t.Fatal(err)
	}
	changed := false
	for p, pa := range a.Modules {
		pb := b.Modules[p]
		for j := range pa.B.Data {
			if pa.B.Data[j] != pb.B.Data[j] || pa.A.Data[j%len(pa.A.Data)] != pb.A.Data[j%len(pb.A.Data)] {
				t.Fatalf("%s differs between the uninterrupted and the resumed run", p)
			}
			changed = changed || pa.B.Data[j] != 0
		}
	}
	if !changed {
		t.Fatal("three steps left the adapter's B at zero: nothing was trained")
	}
	m2, _ := os.ReadFile(filepath.Join(parts, coach.MetricsFile))
	if n := strings.Count(string(m2), "\n"); n != 4 {
		t.Errorf("resumed metrics.jsonl has %d lines, want 4:\n%s", n, m2)
	}
	if sum2.EvalAfter == nil || *sum2.EvalAfter != *sum.EvalAfter {
		t.Errorf("eval after: resumed %+v, uninterrupted %+v", sum2.EvalAfter, sum.EvalAfter)
	}
}

func TestWilson(t *testing.T) {
	for _, c := range []struct {
		k, n      int
		low, high float64
	}{
		{0, 10, 0, 0.2775}, {10, 10, 0.7225, 1}, {5, 10, 0.2366, 0.7634}, {50, 100, 0.4038, 0.5962},
	} {
		lo, hi := coach.Wilson(c.k, c.n)
		if math.Abs(lo-c.low) > 1e-4 || math.Abs(hi-c.high) > 1e-4 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", c.k, c.n, lo, hi, c.low, c.high)
		}
	}
}

// TestStep_DPOAndSFT: DPO trains on each group's best and worst trace as a
// (chosen, rejected) pair; SFT by rejection sampling trains on the traces
// whose reward reaches the threshold, and on nothing else.
func TestStep_DPOAndSFT(t *testing.T) {
	k := tinyKit(t)
	reward := coach.Reward{Name: "ascii", Weight: 1, Reward: asciiShare{}}

	c, tr := newCoach(t, k, coach.MethodDPO, 1e-2, reward)
	m, groups, err := c.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pairs := 0
	for _, g := range groups {
		lo, hi := g.Rewards[0], g.Rewards[0]
		for _, r := range g.Rewards {
			lo, hi = math.Min(lo, r), math.Max(hi, r)
		}
		if hi > lo {
			pairs++
		}
	}
	if !m.Updated || m.Rows != 2*pairs || tr.StepCount() != 1 || m.SkippedGroups != 2-pairs {
		t.Fatalf("dpo: updated %v, %d rows for %d pairs, skipped %d", m.Updated, m.Rows, pairs, m.SkippedGroups)
	}

	c, tr = newCoach(t, k, coach.MethodSFT, 1e-2, reward) // SFTMinReward 0.5
	m, groups, err = c.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, g := range groups {
		for _, r := range g.Rewards {
			if r >= 0.5 {
				kept++
			}
		}
	}
	if kept == 0 || m.Rows != kept || !m.Updated || tr.StepCount() != 1 {
		t.Fatalf("sft: %d rows, %d traces at or above 0.5, updated %v", m.Rows, kept, m.Updated)
	}
}

// TestScorer_PerTraceFallback: a per-trace reward wrapped for groups
// (rewards.PerTrace, how built-ins reach the coach) that fails on one
// trace costs only that trace the fallback score.
func TestScorer_PerTraceFallback(t *testing.T) {
	s := &coach.Scorer{Fallback: -1, Components: []coach.Reward{{Name: "flaky", Weight: 1, Reward: rewards.PerTrace{Of: flaky{}}}}}
	traces := []sdk.Trace{{ID: "t-0"}, {ID: "t-1"}, {ID: "t-2"}}
	g, err := s.Score(context.Background(), sdk.Task{ID: "t"}, traces)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0, -1, 0}; g.Fallbacks != 1 || !reflect.DeepEqual(g.Rewards, want) {
		t.Fatalf("rewards %v with %d fallbacks, want %v with 1", g.Rewards, g.Fallbacks, want)
	}
}
