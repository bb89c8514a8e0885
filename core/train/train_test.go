package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train/loss"
	"github.com/toolbrain/toolbrain/core/train/optim"
)

// randomBatch returns n rows of 5..16 random tokens whose second half is
// masked, with advantages.
func randomBatch(seed uint64, n, vocab int) Batch {
	rng := rand.New(rand.NewPCG(seed, 7))
	var b Batch
	for i := 0; i < n; i++ {
		l := 5 + rng.IntN(12)
		ids := make([]int32, l)
		mask := make([]float32, l)
		for j := range ids {
			ids[j] = int32(rng.IntN(vocab))
			if j >= l/2 {
				mask[j] = 1
			}
		}
		b.IDs = append(b.IDs, ids)
		b.Mask = append(b.Mask, mask)
		b.Advantages = append(b.Advantages, float32(rng.NormFloat64()))
	}
	return b
}

func maxParamDiff(a, b *Trainer) float64 {
	d := 0.0
	for i := range a.params {
		for j := range a.params[i].data {
			d = math.Max(d, math.Abs(float64(a.params[i].data[j]-b.params[i].data[j])))
		}
	}
	return d
}

// TestStep_Accumulation: 4 micro-batches of 2 rows give the same gradients
// and the same update as one batch of 8, for every loss (rows of different
// lengths, so micro-batch means would not average to the batch mean).
//
// The gradients agree to float32 rounding (≤ 2e-7 of 0.7). Adam's first
// step moves each weight by about lr·g/(|g|+eps), which turns rounding
// noise on entries with |g| ≈ 1e-7 into a full step when eps is 1e-8 (the
// noise varies from run to run with the backend's parallel split of
// matmuls); eps 1e-6 and lr 1e-4 keep such entries below the tolerance
// (measured ≤ 3.3e-6 at lr 1e-3).
func TestStep_Accumulation(t *testing.T) {
	m, a := tinyModel(t, model.LoadOptions{})
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"sft", Config{Loss: LossSFT}},
		{"grpo", Config{Loss: LossGRPO, GRPO: loss.GRPOOptions{Beta: 0.04}}},
		{"grpo bnpo", Config{Loss: LossGRPO, GRPO: loss.GRPOOptions{Aggregation: loss.AggBNPO}}},
		{"dr_grpo", Config{Loss: LossGRPO, GRPO: loss.GRPOOptions{Aggregation: loss.AggDrGRPO, MaxCompletionLength: 16}}},
		{"dpo", Config{Loss: LossDPO}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := randomBatch(3, 8, m.VocabSize())
			var trs []*Trainer
			var losses []float64
			var grads [][][]float32
			for _, micro := range []int{0, 2} {
				cfg := c.cfg
				cfg.Adapter, cfg.MicroBatch = a, micro
				cfg.Optimizer = optim.AdamW{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-6, WeightDecay: 0.01} // a usual LoRA rate
				cfg.MaxGradNorm = 0.5                                                                         // clipping applies to the accumulated gradient
				tr, err := NewTrainer(m, cfg)
				if err != nil {
					t.Fatal(err)
				}
				_, g, err := tr.Gradients(context.Background(), b)
				if err != nil {
					t.Fatal(err)
				}
				grads = append(grads, g)
				met, err := tr.Step(context.Background(), b)
				if err != nil {
					t.Fatal(err)
				}
				trs, losses = append(trs, tr), append(losses, met.Loss)
			}
			if d := math.Abs(losses[0] - losses[1]); d > 1e-6*math.Max(1, math.Abs(losses[0])) {
				t.Errorf("loss %v in one batch, %v in micro-batches", losses[0], losses[1])
			}
			gd, gs := 0.0, 0.0
			for i := range grads[0] {
				for j := range grads[0][i] {
					gd = math.Max(gd, math.Abs(float64(grads[0][i][j]-grads[1][i][j])))
					gs = math.Max(gs, math.Abs(float64(grads[0][i][j])))
				}
			}
			t.Logf("gradients differ by %.3g (largest %.3g); weights by %.3g", gd, gs, maxParamDiff(trs[0], trs[1]))
			if gd > 1e-6*gs {
				t.Errorf("accumulated gradients differ by %.3g", gd)
			}
			if d := maxParamDiff(trs[0], trs[1]); d > 1e-6 {
				t.Errorf("updated weights differ by %.3g", d)
			}
		})
	}
}

// TestStep_LearnsAndSaves: a few SFT steps lower the loss; only the adapter
// changes; the adapter saved as a PEFT directory loads back into the
// inference core with the same logprobs as the trainer's policy.
func TestStep_LearnsAndSaves(t *testing.T) {
	m, _ := tinyModel(t, model.LoadOptions{})
	ctx := context.Background()
	tr, err := NewTrainer(m, Config{LoRA: lora.Config{R: 4, Alpha: 8, TargetModules: []string{"q_proj", "v_proj", "down_proj"}},
		Optimizer: optim.AdamW{LR: 3e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tr.Params()); got != 12 { // 2 layers × 3 modules × (A, B)
		t.Fatalf("%d trainable tensors, want 12", got)
	}
	if want := 2 * 4 * tr.NumTrainable(); tr.OptimizerBytes() != want { // two float32 moments
		t.Errorf("optimizer bytes %d, want %d", tr.OptimizerBytes(), want)
	}
	b := randomBatch(5, 4, m.VocabSize())
	before, err := m.Logits(ctx, b.IDs[:1])
	if err != nil {
		t.Fatal(err)
	}
	var first, last float64
	for i := 0; i < 8; i++ {
		met, err := tr.Step(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = met.Loss
		}
		last = met.Loss
	}
	if !(last < first-0.5) {
		t.Errorf("loss went from %v to %v in 8 steps", first, last)
	}
	after, err := m.Logits(ctx, b.IDs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before[0][1], after[0][1]) {
		t.Error("training changed the model's base weights")
	}

	dir := filepath.Join(t.TempDir(), "adapter")
	if err := tr.SaveAdapter(dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := lora.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := tr.Adapter()
	for _, p := range want.Paths() {
		if !slices.Equal(loaded.Modules[p].A.Data, want.Modules[p].A.Data) || !slices.Equal(loaded.Modules[p].B.Data, want.Modules[p].B.Data) {
			t.Fatalf("%s: saved adapter differs", p)
		}
	}
	if err := m.SetAdapter(loaded); err != nil {
		t.Fatal(err)
	}
	defer m.SetAdapter(nil)
	logits, err := m.Logits(ctx, b.IDs)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := tr.LogProbs(ctx, b.IDs, true)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i, row := range b.IDs {
		for j := 1; j < len(row); j++ {
			worst = math.Max(worst, math.Abs(hostLogProb(logits[i][j-1], row[j])-float64(lp[i][j])))
		}
	}
	if worst > 2e-5 {
		t.Errorf("inference core with the saved adapter differs from the trainer by %.3g", worst)
	}
}

func hostLogProb(logits []float32, id int32) float64 {
	mx := math.Inf(-1)
	for _, x := range logits {
		mx = math.Max(mx, float64(x))
	}
	z := 0.0
	for _, x := range logits {
		z += math.Exp(float64(x) - mx)
	}
	return float64(logits[id]) - mx - math.Log(z)
}

// TestGRPO_Passes: the first pass with OldLogProbs nil equals passing the
// current policy's logprobs; a second pass over the same rollout keeps the
// ratio against the rollout policy (ratio ≠ 1 after an update).
func TestGRPO_Passes(t *testing.T) {
	m, a := tinyModel(t, model.LoadOptions{})
	ctx := context.Background()
	cfg := Config{Adapter: a, Loss: LossGRPO, GRPO: loss.GRPOOptions{Beta: 0.04},
		Optimizer: optim.AdamW{LR: 5e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}}
	tr, err := NewTrainer(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := randomBatch(9, 4, m.VocabSize())
	m1, g1, err := tr.Gradients(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	old, err := tr.LogProbs(ctx, b.IDs, true)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := tr.LogProbs(ctx, b.IDs, false)
	if err != nil {
		t.Fatal(err)
	}
	b.OldLogProbs, b.RefLogProbs = old, ref
	m2, g2, err := tr.Gradients(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m1.Loss-m2.Loss) > 1e-6 || math.Abs(m1.GradNorm-m2.GradNorm) > 1e-5*m1.GradNorm {
		t.Errorf("implicit old/ref: loss %v grad norm %v; explicit: %v, %v", m1.Loss, m1.GradNorm, m2.Loss, m2.GradNorm)
	}
	_ = g1
	_ = g2
	if r := m2.Extra["ratio"]; math.Abs(r-1) > 1e-5 {
		t.Errorf("first pass ratio %v, want 1", r)
	}
	for pass := 0; pass < 3; pass++ {
		if _, err := tr.Step(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	m3, _, err := tr.Gradients(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if r := m3.Extra["ratio"]; math.Abs(r-1) < 1e-3 {
		t.Errorf("after 3 passes the ratio is still %v", r)
	}
	t.Logf("after 3 passes: ratio %.4f clip_ratio %.3f kl %.4g", m3.Extra["ratio"], m3.Extra["clip_ratio"], m3.Extra["kl"])
}

// TestSegments_Packed: two sequences packed in one row give the same SFT
// loss and gradients as the same sequences in two rows.
func TestSegments_Packed(t *testing.T) {
	m, a := tinyModel(t, model.LoadOptions{})
	ctx := context.Background()
	tr, err := NewTrainer(m, Config{Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := []int32{1, 17, 42, 99, 5, 61}, []int32{1, 23, 150, 8, 9}
	m1, m2 := []float32{0, 0, 1, 1, 1, 1}, []float32{0, 0, 1, 1, 1}
	sep, g1, err := tr.Gradients(ctx, Batch{IDs: [][]int32{s1, s2}, Mask: [][]float32{m1, m2}})
	if err != nil {
		t.Fatal(err)
	}
	seg := []int32{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}
	pk, g2, err := tr.Gradients(ctx, Batch{IDs: [][]int32{append(slices.Clone(s1), s2...)},
		Mask: [][]float32{append(slices.Clone(m1), m2...)}, Segments: [][]int32{seg}})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(sep.Loss-pk.Loss) > 1e-5 {
		t.Errorf("loss %v in rows, %v packed", sep.Loss, pk.Loss)
	}
	for i := range g1 {
		for j := range g1[i] {
			if math.Abs(float64(g1[i][j]-g2[i][j])) > 1e-5 {
				t.Fatalf("gradient %s[%d]: %v in rows, %v packed", tr.Params()[i].Name, j, g1[i][j], g2[i][j])
			}
		}
	}
}

// TestFull_ChainRule: under full fine-tuning of the base with the reference
// adapter merged, the gradient G of q_proj's weight relates to the
// reference LoRA gradients by dL/dA = s·Bᵀ·G and dL/dB = s·G·Aᵀ.
func TestFull_ChainRule(t *testing.T) {
	ref := loadLossRef(t)
	m, a := tinyModel(t, model.LoadOptions{})
	if err := m.MergeAdapter(a); err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(m, Config{Mode: ModeFull})
	if err != nil {
		t.Fatal(err)
	}
	_, g, err := tr.Gradients(context.Background(), Batch{IDs: ref.IDs, Mask: ref.Mask})
	if err != nil {
		t.Fatal(err)
	}
	s := a.Scale()
	for _, path := range a.Paths() {
		var gw []float32
		for i, p := range tr.Params() {
			if p.Name == path+".weight" {
				gw = g[i]
			}
		}
		pr := a.Modules[path]
		r, in, out := pr.A.Shape[0], pr.A.Shape[1], pr.B.Shape[0]
		wantA := ref.SFT.Grad["base_model.model."+path+".lora_A.weight"]
		wantB := ref.SFT.Grad["base_model.model."+path+".lora_B.weight"]
		worst, scale := 0.0, 0.0
		for k := 0; k < r; k++ {
			for j := 0; j < in; j++ { // dA[k][j] = s Σ_o B[o][k] G[o][j]
				v := 0.0
				for o := 0; o < out; o++ {
					v += float64(pr.B.Data[o*r+k]) * float64(gw[o*in+j])
				}
				worst, scale = math.Max(worst, math.Abs(s*v-wantA[k][j])), math.Max(scale, math.Abs(wantA[k][j]))
			}
		}
		for o := 0; o < out; o++ {
			for k := 0; k < r; k++ { // dB[o][k] = s Σ_j G[o][j] A[k][j]
				v := 0.0
				for j := 0; j < in; j++ {
					v += float64(gw[o*in+j]) * float64(pr.A.Data[k*in+j])
				}
				worst, scale = math.Max(worst, math.Abs(s*v-wantB[o][k])), math.Max(scale, math.Abs(wantB[o][k]))
			}
		}
		if worst > 1e-3*scale {
			t.Errorf("%s: chain rule off by %.3g (largest %.3g)", path, worst, scale)
		}
	}
	// A step changes the trainer's copy, never the model.
	before := tr.Weights()["model.norm.weight"].Data[0]
	if _, err := tr.Step(context.Background(), Batch{IDs: ref.IDs, Mask: ref.Mask}); err != nil {
		t.Fatal(err)
	}
	if tr.Weights()["model.norm.weight"].Data[0] == before {
		t.Error("full fine-tuning did not change model.norm.weight")
	}
	if tr.Adapter() != nil || tr.SaveAdapter(t.TempDir()) == nil {
		t.Error("full fine-tuning has no adapter")
	}
}

// TestQLoRA: an NF4 base trains float32 adapters; the loss is close to the
// float32 base's and falls.
func TestQLoRA(t *testing.T) {
	ctx := context.Background()
	ref := loadLossRef(t)
	b := Batch{IDs: ref.IDs, Mask: ref.Mask}
	var losses []float64
	for _, q := range []string{model.QuantNone, model.QuantNF4} {
		m, a := tinyModel(t, model.LoadOptions{Quant: q})
		tr, err := NewTrainer(m, Config{Adapter: a, Optimizer: optim.AdamW{LR: 3e-2, Beta1: 0.9, Beta2: 0.999}})
		if err != nil {
			t.Fatal(err)
		}
		met, err := tr.Step(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, met.Loss)
		for i := 0; i < 4; i++ {
			if _, err := tr.Step(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		after, _, err := tr.Gradients(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if !(after.Loss < met.Loss) {
			t.Errorf("%q: loss %v → %v", q, met.Loss, after.Loss)
		}
		if q == model.QuantNF4 {
			if _, err := NewTrainer(m, Config{Mode: ModeFull}); !errors.Is(err, ErrConfig) {
				t.Errorf("full fine-tuning of an NF4 base: err %v", err)
			}
		}
	}
	if math.Abs(losses[0]-ref.SFT.Loss) > 1e-4 || math.Abs(losses[1]-losses[0]) > 0.05*losses[0] {
		t.Errorf("SFT loss float32 %v (reference %v), NF4 %v", losses[0], ref.SFT.Loss, losses[1])
	}
	t.Logf("SFT loss: float32 base %.5f, NF4 base %.5f", losses[0], losses[1])
}

// TestDropout: dropout changes the training loss, is reproducible for a
// seed, and is off in LogProbs.
func TestDropout(t *testing.T) {
	ctx := context.Background()
	ref := loadLossRef(t)
	m, a := tinyModel(t, model.LoadOptions{})
	b := Batch{IDs: ref.IDs, Mask: ref.Mask}
	run := func(p float64) float64 {
		ad := *a
		ad.Config.Dropout = p
		tr, err := NewTrainer(m, Config{Adapter: &ad, Seed: 11})
		if err != nil {
			t.Fatal(err)
		}
		met, _, err := tr.Gradients(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return met.Loss
	}
	l0, l1, l2 := run(0), run(0.3), run(0.3)
	if l1 == l0 || l1 != l2 || math.IsNaN(l1) {
		t.Errorf("losses: no dropout %v, dropout %v then %v", l0, l1, l2)
	}
}

func TestNewTrainer_Errors(t *testing.T) {
	m, a := tinyModel(t, model.LoadOptions{})
	wrong := &lora.Adapter{Config: a.Config, Modules: map[string]lora.Pair{
		"model.layers.5.self_attn.q_proj": a.Modules["model.layers.0.self_attn.q_proj"]}}
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"mode", Config{Mode: "qat"}},
		{"loss", Config{Loss: "ppo"}},
		{"grpo agg", Config{Loss: LossGRPO, GRPO: loss.GRPOOptions{Aggregation: "x"}}},
		{"dpo odd micro", Config{Loss: LossDPO, MicroBatch: 3}},
		{"dropout", Config{LoRA: lora.Config{R: 4, Alpha: 8, TargetModules: []string{"q_proj"}, Dropout: 1}}},
		{"target", Config{LoRA: lora.Config{R: 4, Alpha: 8, TargetModules: []string{"qkv"}}}},
		{"adapter for another base", Config{Adapter: wrong}},
		{"full with adapter", Config{Mode: ModeFull, Adapter: a}},
		{"lr", Config{Optimizer: optim.AdamW{LR: -1}}},
		{"schedule", Config{Schedule: optim.Schedule{Kind: optim.Cosine}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewTrainer(m, c.cfg); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestStep_BatchErrors(t *testing.T) {
	m, a := tinyModel(t, model.LoadOptions{})
	sft, _ := NewTrainer(m, Config{Adapter: a})
	grpo, _ := NewTrainer(m, Config{Adapter: a, Loss: LossGRPO})
	dpo, _ := NewTrainer(m, Config{Adapter: a, Loss: LossDPO})
	ok := [][]int32{{1, 2, 3}}
	okMask := [][]float32{{0, 1, 1}}
	long := make([]int32, m.Config().MaxPositionEmbeddings+1)
	for _, c := range []struct {
		name string
		tr   *Trainer
		b    Batch
		want string
	}{
		{"empty", sft, Batch{}, "no rows"},
		{"mask rows", sft, Batch{IDs: ok}, "rows of ids"},
		{"mask length", sft, Batch{IDs: ok, Mask: [][]float32{{1}}}, "row 0 has 3 ids but 1 mask"},
		{"token", sft, Batch{IDs: [][]int32{{1, 9999}}, Mask: [][]float32{{0, 1}}}, "token id 9999"},
		{"too long", sft, Batch{IDs: [][]int32{long}, Mask: [][]float32{make([]float32, len(long))}}, "longer than the model's context"},
		{"nan mask", sft, Batch{IDs: ok, Mask: [][]float32{{0, float32(math.NaN()), 1}}}, "mask NaN"},
		{"advantages", grpo, Batch{IDs: ok, Mask: okMask}, "one advantage per row"},
		{"old length", grpo, Batch{IDs: ok, Mask: okMask, Advantages: []float32{1}, OldLogProbs: [][]float32{{0}}}, "old logprobs"},
		{"dpo odd", dpo, Batch{IDs: ok, Mask: okMask}, "pairs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := c.tr.Adapter()
			_, err := c.tr.Step(context.Background(), c.b)
			if !errors.Is(err, ErrBatch) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want ErrBatch with %q", err, c.want)
			}
			if c.tr.StepCount() != 0 || !slices.Equal(before.Modules["model.layers.0.self_attn.q_proj"].B.Data, c.tr.Adapter().Modules["model.layers.0.self_attn.q_proj"].B.Data) {
				t.Error("a rejected batch changed the trainer")
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sft.Step(ctx, Batch{IDs: ok, Mask: okMask}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
