package coach_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/backends/simplego"

	"github.com/toolbrain/toolbrain/core/coach"
	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train"
	"github.com/toolbrain/toolbrain/core/train/loss"
	"github.com/toolbrain/toolbrain/core/train/optim"
	"github.com/toolbrain/toolbrain/plugins/algorithms"
	"github.com/toolbrain/toolbrain/sdk"
)

// testdata is the repository's copy of ../shared/testdata (independent
// float64 references made with PyTorch).
const testdata = "../../testdata"

// coachStepRef mirrors testdata/coach_step/coach_step.json.
type coachStepRef struct {
	Hyper struct {
		Beta        float64    `json:"beta"`
		EpsLow      float64    `json:"eps_low"`
		EpsHigh     float64    `json:"eps_high"`
		AdvEps      float64    `json:"advantage_eps"`
		LR          float64    `json:"lr"`
		Betas       [2]float64 `json:"betas"`
		AdamEps     float64    `json:"adam_eps"`
		WeightDecay float64    `json:"weight_decay"`
		MaxGradNorm float64    `json:"max_grad_norm"`
		GroupSize   int        `json:"group_size"`
	} `json:"hyperparameters"`
	PromptIDs       []int32   `json:"prompt_ids"`
	Completions     [][]int32 `json:"completions"`
	CompletionMasks [][]int   `json:"completion_masks"`
	Rewards         []float64 `json:"rewards"`
	Advantages      []float64 `json:"advantages"`
	Steps           []struct {
		Loss          float64   `json:"loss"`
		MeanKLTokens  float64   `json:"mean_kl_token_mean"`
		GradNorm      float64   `json:"grad_norm_pre_clip"`
		SeqLogpBefore []float64 `json:"seq_logp_before"`
	} `json:"steps"`
	FinalSeqLogp []float64 `json:"final_seq_logp"`
}

// refTraces are the reference group as an athlete records it: the prompt,
// then generated spans, with the environment's observation span of
// completion 2 recorded as observation ids (masked out).
func refTraces(ref coachStepRef) []sdk.Trace {
	var out []sdk.Trace
	for i, c := range ref.Completions {
		tr := sdk.Trace{ID: "ref", TaskID: "ref"}
		turn := &sdk.TokenSpans{PromptIDs: ref.PromptIDs}
		for t, id := range c {
			gen := ref.CompletionMasks[i][t] == 1
			switch {
			case gen && len(turn.ObservationIDs) > 0:
				tr.Turns = append(tr.Turns, sdk.Turn{Tokens: turn})
				turn = &sdk.TokenSpans{}
				fallthrough
			case gen:
				turn.GeneratedIDs = append(turn.GeneratedIDs, id)
				turn.Logprobs = append(turn.Logprobs, 0)
			default:
				turn.ObservationIDs = append(turn.ObservationIDs, id)
			}
		}
		tr.Turns = append(tr.Turns, sdk.Turn{Tokens: turn})
		out = append(out, tr)
	}
	return out
}

// replay is an executor that returns the same group every time and
// records the adapters it is handed.
type replay struct {
	traces   []sdk.Trace
	policies []*lora.Adapter
}

func (r *replay) Rollout(_ context.Context, reqs []coach.RolloutRequest) ([][]sdk.Trace, error) {
	out := make([][]sdk.Trace, len(reqs))
	for i := range reqs {
		out[i] = append([]sdk.Trace(nil), r.traces...)
	}
	return out, nil
}

func (r *replay) SetPolicy(_ context.Context, a *lora.Adapter) error {
	r.policies = append(r.policies, a)
	return nil
}

// fixedReward scores trace i of a group with scores[i].
type fixedReward struct{ scores []float64 }

func (f fixedReward) RewardGroup(_ context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	return sdk.RewardGroupResponse{Scores: append([]float64(nil), f.scores[:len(req.Traces)]...)}, nil
}

// TestStep_Reference runs two coach steps on the reference group — the
// traces through Trace.Sequence, the rewards through the Scorer, GRPO
// advantages through the algorithm, the clipped surrogate + k3 KL with the
// adapter switched off as reference, global-norm clipping and AdamW — and
// compares the adapter after each step with PyTorch's float64 reference.
func TestStep_Reference(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testdata, "coach_step", "coach_step.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref coachStepRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	h := ref.Hyper
	b, err := simplego.New("ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(b, filepath.Join(testdata, "models", "llama-tiny"), model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a, err := lora.Load(filepath.Join(testdata, "models", "llama-tiny-lora"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.NewTrainer(m, train.Config{
		Adapter:     a,
		Loss:        train.LossGRPO,
		GRPO:        loss.GRPOOptions{EpsLow: h.EpsLow, EpsHigh: h.EpsHigh, Beta: h.Beta},
		Optimizer:   optim.AdamW{LR: h.LR, Beta1: h.Betas[0], Beta2: h.Betas[1], Eps: h.AdamEps, WeightDecay: h.WeightDecay},
		MaxGradNorm: h.MaxGradNorm,
	})
	if err != nil {
		t.Fatal(err)
	}
	exec := &replay{traces: refTraces(ref)}
	c, err := coach.New(coach.Config{GroupSize: h.GroupSize, TasksPerStep: 1}, coach.Parts{
		Trainer:   tr,
		Executor:  exec,
		Scorer:    &coach.Scorer{Components: []coach.Reward{{Name: "ref", Weight: 1, Reward: fixedReward{ref.Rewards}}}},
		Algorithm: algorithms.GRPO{Epsilon: h.AdvEps},
		Tasks:     []sdk.Task{{ID: "ref", Prompt: "reference group"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for k := range 2 {
		// The sequence log-probabilities before the step, with the adapter
		// being trained, as the reference records them.
		ids := make([][]int32, len(ref.Completions))
		for i, c := range ref.Completions {
			ids[i] = append(append([]int32(nil), ref.PromptIDs...), c...)
		}
		lp, err := tr.LogProbs(ctx, ids, true)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ids {
			got := 0.0
			for j, mk := range ref.CompletionMasks[i] {
				if mk == 1 {
					got += float64(lp[i][len(ref.PromptIDs)+j])
				}
			}
			if d := math.Abs(got - ref.Steps[k].SeqLogpBefore[i]); d > 1e-3 {
				t.Errorf("step %d: completion %d summed logprob %.6f, reference %.6f", k+1, i, got, ref.Steps[k].SeqLogpBefore[i])
			}
		}

		met, groups, err := c.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !met.Updated || met.SkippedGroups != 0 || met.Rows != 4 {
			t.Fatalf("step %d: updated %v, skipped %d, rows %d", k+1, met.Updated, met.SkippedGroups, met.Rows)
		}
		for i, r := range groups[0].Rewards {
			if r != ref.Rewards[i] {
				t.Fatalf("reward %d: %v, want %v", i, r, ref.Rewards[i])
			}
		}
		checkClose(t, "loss", met.Loss, ref.Steps[k].Loss, 1e-5)
		// The trainer reports KL as the flat mean over masked tokens.
		checkClose(t, "mean KL", met.KL, ref.Steps[k].MeanKLTokens, 1e-4)
		checkClose(t, "grad norm before clipping", met.GradNorm, ref.Steps[k].GradNorm, 1e-4)

		want, err := lora.Load(filepath.Join(testdata, "coach_step", []string{"adapter_step1", "adapter_step2"}[k]))
		if err != nil {
			t.Fatal(err)
		}
		got := exec.policies[len(exec.policies)-1]
		worst := 0.0
		for path, wp := range want.Modules {
			gp, ok := got.Modules[path]
			if !ok {
				t.Fatalf("step %d: the executor's adapter has no %s", k+1, path)
			}
			for _, pair := range [][2]lora.Tensor{{gp.A, wp.A}, {gp.B, wp.B}} {
				for j := range pair[1].Data {
					worst = math.Max(worst, math.Abs(float64(pair[0].Data[j]-pair[1].Data[j])))
				}
			}
		}
		t.Logf("step %d: loss %.8f, largest adapter difference from the reference %.2g", k+1, met.Loss, worst)
		if worst > 2e-6 {
			t.Errorf("step %d: adapter differs from the reference by %.3g (want ≤ 2e-6)", k+1, worst)
		}
	}
}

func checkClose(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if d := math.Abs(got - want); d > tol*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.8g, reference %.8g", what, got, want)
	}
}
