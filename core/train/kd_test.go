package train

import (
	"context"
	"errors"
	"math"
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
	if err := m.SetAdapter(a); err != nil {
		t.Fatal(err)
	}
	teacher, err := m.Logits(ctx, b.IDs)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetAdapter(nil); err != nil {
		t.Fatal(err)
	}
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
