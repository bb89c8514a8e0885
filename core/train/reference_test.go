package train

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"

	"github.com/toolbrain/toolbrain/core/lora"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/train/loss"
)

const testdata = "../../testdata"

func testBackend(tb testing.TB) backends.Backend {
	tb.Helper()
	b, err := simplego.New("ops_sequential")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// lossRef mirrors losses/reference.json.
type lossRef struct {
	IDs        [][]int32   `json:"ids"`
	Mask       [][]float32 `json:"mask"`
	Advantages []float32   `json:"advantages"`
	MaxLen     int         `json:"max_completion_length"`
	OldLogp    [][]float64 `json:"old_logp"`
	PolicyLogp [][]float64 `json:"policy_logp"`
	RefLogp    [][]float64 `json:"ref_logp"`
	GRPO       []struct {
		Agg     string                 `json:"agg"`
		Beta    float64                `json:"beta"`
		EpsLow  float64                `json:"eps_low"`
		EpsHigh float64                `json:"eps_high"`
		Loss    float64                `json:"loss"`
		Grad    map[string][][]float64 `json:"grad"`
	} `json:"grpo"`
	SFT struct {
		Loss float64                `json:"loss"`
		Grad map[string][][]float64 `json:"grad"`
	} `json:"sft"`
	DPO []struct {
		Type             string                 `json:"loss_type"`
		Beta             float64                `json:"beta"`
		LabelSmoothing   float64                `json:"label_smoothing"`
		LengthNormalized bool                   `json:"length_normalized"`
		Loss             float64                `json:"loss"`
		Grad             map[string][][]float64 `json:"grad"`
	} `json:"dpo"`
}

func loadLossRef(tb testing.TB) lossRef {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, "losses", "reference.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var r lossRef
	if err := json.Unmarshal(data, &r); err != nil {
		tb.Fatal(err)
	}
	return r
}

func f32(x [][]float64) [][]float32 {
	out := make([][]float32, len(x))
	for i := range x {
		out[i] = make([]float32, len(x[i]))
		for j, v := range x[i] {
			out[i][j] = float32(v)
		}
	}
	return out
}

// tinyModel loads llama-tiny and its reference adapter.
func tinyModel(tb testing.TB, opts model.LoadOptions) (*model.Model, *lora.Adapter) {
	tb.Helper()
	m, err := model.Load(testBackend(tb), filepath.Join(testdata, "models", "llama-tiny"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	a, err := lora.Load(filepath.Join(testdata, "models", "llama-tiny-lora"))
	if err != nil {
		tb.Fatal(err)
	}
	return m, a
}

// Tolerances of a float32 pipeline against PyTorch float64: the logits
// agree within about 2e-4, so logprobs within a few 1e-4.
const (
	lossRelTol = 1e-5
	gradRelTol = 1e-4 // of the largest gradient entry of the tensor (measured: ≤ 3.2e-6)
)

// compareGrads checks every gradient tensor of the reference against ours.
func compareGrads(t *testing.T, tr *Trainer, got [][]float32, want map[string][][]float64) {
	t.Helper()
	if len(want) != len(tr.Params()) {
		t.Fatalf("reference has %d gradient tensors, trainer %d", len(want), len(tr.Params()))
	}
	overall := 0.0
	defer func() { t.Logf("gradients: worst |diff|/max|entry| over %d tensors %.3g", len(want), overall) }()
	for i, p := range tr.Params() {
		w, ok := want[p.Name]
		if !ok {
			t.Fatalf("no reference gradient for %s", p.Name)
		}
		scale, worst := 0.0, 0.0
		for r := range w {
			for c, x := range w[r] {
				scale = math.Max(scale, math.Abs(x))
				worst = math.Max(worst, math.Abs(float64(got[i][r*len(w[r])+c])-x))
			}
		}
		overall = math.Max(overall, worst/scale)
		if !(worst <= gradRelTol*scale) {
			t.Errorf("%s: max |diff| %.3g, largest entry %.3g", p.Name, worst, scale)
		}
	}
}

func checkLoss(t *testing.T, got, want float64) {
	t.Helper()
	if !(math.Abs(got-want) <= lossRelTol*math.Max(1, math.Abs(want))) {
		t.Errorf("loss %.8g, want %.8g (diff %.3g)", got, want, got-want)
	} else {
		t.Logf("loss %.8g, reference %.8g", got, want)
	}
}

// TestLogProbs_Reference: our policy (base + adapter) and reference (adapters
// off) logprobs equal the file's on every masked token.
func TestLogProbs_Reference(t *testing.T) {
	ref := loadLossRef(t)
	m, a := tinyModel(t, model.LoadOptions{})
	tr, err := NewTrainer(m, Config{Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		adapters bool
		want     [][]float64
	}{{"policy", true, ref.PolicyLogp}, {"reference", false, ref.RefLogp}} {
		t.Run(c.name, func(t *testing.T) {
			got, err := tr.LogProbs(context.Background(), ref.IDs, c.adapters)
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i := range ref.IDs {
				if got[i][0] != 0 {
					t.Errorf("row %d: logp[0] = %v", i, got[i][0])
				}
				for j := range ref.IDs[i] {
					if ref.Mask[i][j] == 1 {
						worst = math.Max(worst, math.Abs(float64(got[i][j])-c.want[i][j]))
					}
				}
			}
			if worst > 5e-4 {
				t.Errorf("max |diff| %.3g", worst)
			}
			t.Logf("max |diff| on masked tokens %.3g", worst)
		})
	}
}

func TestSFT_Reference(t *testing.T) {
	ref := loadLossRef(t)
	m, a := tinyModel(t, model.LoadOptions{})
	tr, err := NewTrainer(m, Config{Adapter: a, Loss: LossSFT})
	if err != nil {
		t.Fatal(err)
	}
	met, g, err := tr.Gradients(context.Background(), Batch{IDs: ref.IDs, Mask: ref.Mask})
	if err != nil {
		t.Fatal(err)
	}
	checkLoss(t, met.Loss, ref.SFT.Loss)
	compareGrads(t, tr, g, ref.SFT.Grad)
}

func TestGRPO_Reference(t *testing.T) {
	ref := loadLossRef(t)
	m, a := tinyModel(t, model.LoadOptions{})
	for _, c := range ref.GRPO {
		for _, refGiven := range []bool{true, false} {
			name := c.Agg + "/beta=" + ftoa(c.Beta) + "/eps_high=" + ftoa(c.EpsHigh)
			if refGiven {
				name += "/ref_given"
			}
			t.Run(name, func(t *testing.T) {
				tr, err := NewTrainer(m, Config{Adapter: a, Loss: LossGRPO, GRPO: loss.GRPOOptions{
					EpsLow: c.EpsLow, EpsHigh: c.EpsHigh, Beta: c.Beta, Aggregation: c.Agg, MaxCompletionLength: ref.MaxLen}})
				if err != nil {
					t.Fatal(err)
				}
				b := Batch{IDs: ref.IDs, Mask: ref.Mask, Advantages: ref.Advantages, OldLogProbs: f32(ref.OldLogp)}
				if refGiven {
					b.RefLogProbs = f32(ref.RefLogp)
				}
				met, g, err := tr.Gradients(context.Background(), b)
				if err != nil {
					t.Fatal(err)
				}
				checkLoss(t, met.Loss, c.Loss)
				if c.Grad != nil {
					compareGrads(t, tr, g, c.Grad)
				}
			})
		}
	}
}

func TestDPO_Reference(t *testing.T) {
	ref := loadLossRef(t)
	m, a := tinyModel(t, model.LoadOptions{})
	for _, c := range ref.DPO {
		for _, refGiven := range []bool{true, false} {
			name := c.Type + "/beta=" + ftoa(c.Beta) + "/ls=" + ftoa(c.LabelSmoothing)
			if c.LengthNormalized {
				name += "/normalized"
			}
			if refGiven {
				name += "/ref_given"
			}
			t.Run(name, func(t *testing.T) {
				tr, err := NewTrainer(m, Config{Adapter: a, Loss: LossDPO, DPO: loss.DPOOptions{
					Type: c.Type, Beta: c.Beta, LabelSmoothing: c.LabelSmoothing, LengthNormalized: c.LengthNormalized}})
				if err != nil {
					t.Fatal(err)
				}
				b := Batch{IDs: ref.IDs, Mask: ref.Mask}
				if refGiven {
					b.RefLogProbs = f32(ref.RefLogp)
				}
				met, g, err := tr.Gradients(context.Background(), b)
				if err != nil {
					t.Fatal(err)
				}
				checkLoss(t, met.Loss, c.Loss)
				if c.Grad != nil {
					compareGrads(t, tr, g, c.Grad)
				}
			})
		}
	}
}

func ftoa(x float64) string { return json.Number(fmtFloat(x)).String() }

func fmtFloat(x float64) string {
	b, _ := json.Marshal(x)
	return string(b)
}
