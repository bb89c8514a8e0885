package train

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train/loss"
	"github.com/toolbrain/toolbrain/core/train/optim"
)

// hostForwardKL is the mean over masked tokens t ≥ 1 of KL(p_t ‖ p_s) of
// the logits at t-1, in float64.
func hostForwardKL(student, teacher [][][]float32, mask [][]float32) float64 {
	var sum, n float64
	for i := range mask {
		for t := 1; t < len(mask[i]); t++ {
			if mask[i][t] == 0 {
				continue
			}
			d := 0.0
			for v := range teacher[i][t-1] {
				q := hostLogProb(teacher[i][t-1], int32(v))
				d += math.Exp(q) * (q - hostLogProb(student[i][t-1], int32(v)))
			}
			sum += d * float64(mask[i][t])
			n += float64(mask[i][t])
		}
	}
	return sum / n
}

// TestKD_Trainer: the teacher is the tiny model with its test adapter, the
// student the same base with a fresh adapter (B = 0, so the base itself).
// The trainer's KD loss equals the forward KL computed on the host from
// both models' logits; a student that is the teacher has loss 0; training
// the student brings the loss down.
func TestKD_Trainer(t *testing.T) {
	ctx := context.Background()
	m, a := tinyModel(t, model.LoadOptions{})
	b := randomBatch(5, 4, m.VocabSize())
	b.Advantages = nil
	teacher := adapterLogits(t, m, a, b.IDs)
	student, err := m.Logits(ctx, b.IDs)
	if err != nil {
		t.Fatal(err)
	}
	b.TeacherLogits = teacher

	tr, err := NewTrainer(m, Config{Loss: LossKD, LoRA: loraAll(), Optimizer: optim.AdamW{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}})
	if err != nil {
		t.Fatal(err)
	}
	met, _, err := tr.Gradients(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	want := hostForwardKL(student, teacher, b.Mask)
	if want < 1e-4 || math.Abs(met.Loss-want) > 1e-4*want+1e-6 {
		t.Fatalf("KD loss %.8g, host forward KL %.8g", met.Loss, want)
	}
	if math.Abs(met.Extra["kd"]-met.Loss) > 1e-9 {
		t.Errorf("kd metric %v, loss %v", met.Extra["kd"], met.Loss)
	}
	first := met.Loss
	for range 15 {
		if met, err = tr.Step(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("KD loss %.6g (host %.6g) → %.6g after 15 steps", first, want, met.Loss)
	if !(met.Loss < first/2) {
		t.Errorf("KD did not learn: loss %.6g → %.6g", first, met.Loss)
	}

	same, err := NewTrainer(m, Config{Loss: LossKD, Adapter: a, KD: loss.KDOptions{Divergence: loss.KDJSD, Beta: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if met, _, err := same.Gradients(ctx, b); err != nil || math.Abs(met.Loss) > 1e-6 {
		t.Errorf("student = teacher: loss %v, err %v; want 0", met.Loss, err)
	}
}

// adapterLogits are m's logits on ids with adapter a (the teacher of
// these tests); m is left without an adapter (the student's base).
func adapterLogits(t *testing.T, m *model.Model, a *lora.Adapter, ids [][]int32) [][][]float32 {
	t.Helper()
	if err := m.SetAdapter(a); err != nil {
		t.Fatal(err)
	}
	defer m.SetAdapter(nil)
	out, err := m.Logits(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// loraAll adapts every projection, so that KD on the tiny model has room
// to move.
func loraAll() lora.Config {
	return lora.Config{R: 4, TargetModules: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}
}

func TestKD_BatchErrors(t *testing.T) {
	m, _ := tinyModel(t, model.LoadOptions{})
	tr, err := NewTrainer(m, Config{Loss: LossKD})
	if err != nil {
		t.Fatal(err)
	}
	v := m.VocabSize()
	ok := [][]int32{{1, 2, 3}}
	okMask := [][]float32{{0, 1, 1}}
	logits := func(n, width int) [][]float32 {
		out := make([][]float32, n)
		for i := range out {
			out[i] = make([]float32, width)
		}
		return out
	}
	nan := logits(3, v)
	nan[1][2] = float32(math.NaN())
	for _, c := range []struct {
		name string
		b    Batch
		want string
	}{
		{"no teacher", Batch{IDs: ok, Mask: okMask}, "1 rows, 0 of teacher logits"},
		{"short row", Batch{IDs: ok, Mask: okMask, TeacherLogits: [][][]float32{logits(2, v)}}, "row 0 has 3 ids but 2 teacher logit vectors"},
		{"other vocabulary", Batch{IDs: ok, Mask: okMask, TeacherLogits: [][][]float32{logits(3, v+1)}}, "must share a tokenizer"},
		{"NaN", Batch{IDs: ok, Mask: okMask, TeacherLogits: [][][]float32{nan}}, "teacher logit NaN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := tr.Step(context.Background(), c.b)
			if !errors.Is(err, ErrBatch) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want ErrBatch with %q", err, c.want)
			}
		})
	}
	if _, err := NewTrainer(m, Config{Loss: LossKD, KD: loss.KDOptions{Divergence: "tvd"}}); !errors.Is(err, loss.ErrOptions) {
		t.Errorf("unknown divergence: %v", err)
	}
}

// TestKD_MicroBatches: the teacher's logits follow their rows into the
// micro-batches; accumulated, they give the large batch's loss and
// gradients.
func TestKD_MicroBatches(t *testing.T) {
	ctx := context.Background()
	m, a := tinyModel(t, model.LoadOptions{})
	b := randomBatch(11, 6, m.VocabSize())
	b.Advantages = nil
	b.TeacherLogits = adapterLogits(t, m, a, b.IDs)
	var losses []float64
	var grads [][][]float32
	for _, micro := range []int{0, 2} {
		tr, err := NewTrainer(m, Config{Loss: LossKD, MicroBatch: micro, LoRA: loraAll(), Seed: 3, KD: loss.KDOptions{Divergence: loss.KDReverse, Temperature: 2}})
		if err != nil {
			t.Fatal(err)
		}
		met, g, err := tr.Gradients(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		losses, grads = append(losses, met.Loss), append(grads, g)
	}
	if d := math.Abs(losses[0] - losses[1]); !(losses[0] > 0) || d > 1e-6*losses[0] {
		t.Errorf("loss %v in one batch, %v in micro-batches", losses[0], losses[1])
	}
	a0, a1 := slices.Concat(grads[0]...), slices.Concat(grads[1]...)
	gd, gs := 0.0, 0.0
	for j, x := range a0 {
		gd, gs = max(gd, math.Abs(float64(x-a1[j]))), max(gs, math.Abs(float64(x)))
	}
	if !(gs > 0) || gd > 1e-5*gs {
		t.Errorf("gradients differ by %.3g (largest %.3g)", gd, gs)
	}
}
