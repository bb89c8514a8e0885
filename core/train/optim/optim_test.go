package optim

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"testing"
)

// TestAdamW_Hand is one scalar over two steps, worked by hand:
// p0 = 1, lr 0.1, β (0.9, 0.999), eps 1e-8, wd 0.01.
//
// Step 1, g = 0.5: decay p = 0.999; m = 0.05, v = 0.00025;
// m̂ = 0.05/0.1 = 0.5, v̂ = 0.00025/0.001 = 0.25, so p = 0.999 - 0.1·0.5/(0.5+1e-8).
// Step 2, g = -1: decay p·0.999; m = 0.045 - 0.1 = -0.055,
// v = 0.00024975 + 0.001 = 0.00124975; m̂ = -0.055/0.19, v̂ = 0.00124975/0.001999.
func TestAdamW_Hand(t *testing.T) {
	c := AdamW{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	p := [][]float32{{1}}
	st := NewState([]int{1})
	if err := c.Update(p, [][]float32{{0.5}}, st, c.LR); err != nil {
		t.Fatal(err)
	}
	p1 := 0.999 - 0.1*0.5/(0.5+1e-8)
	if math.Abs(float64(p[0][0])-p1) > 1e-7 {
		t.Fatalf("step 1: %v, want %v", p[0][0], p1)
	}
	if err := c.Update(p, [][]float32{{-1}}, st, c.LR); err != nil {
		t.Fatal(err)
	}
	mhat, vhat := -0.055/0.19, 0.00124975/0.001999
	p2 := float64(float32(p1))*0.999 - 0.1*mhat/(math.Sqrt(vhat)+1e-8)
	if math.Abs(float64(p[0][0])-p2) > 1e-6 {
		t.Fatalf("step 2: %v, want %v", p[0][0], p2)
	}
	if st.Step != 2 {
		t.Errorf("step count %d", st.Step)
	}
}

type torchRef struct {
	AdamW struct {
		Init        [][]float32 `json:"init"`
		LR          float64     `json:"lr"`
		Beta1       float64     `json:"beta1"`
		Beta2       float64     `json:"beta2"`
		Eps         float64     `json:"eps"`
		WeightDecay float64     `json:"weight_decay"`
		Steps       []struct {
			Grads  [][]float32 `json:"grads"`
			Params [][]float64 `json:"params"`
		} `json:"steps"`
	} `json:"adamw"`
	Clip struct {
		Grads   [][]float32 `json:"grads"`
		MaxNorm float64     `json:"max_norm"`
		Norm    float64     `json:"norm"`
		Clipped [][]float64 `json:"clipped"`
	} `json:"clip"`
}

func loadTorchRef(t *testing.T) torchRef {
	t.Helper()
	data, err := os.ReadFile("testdata/torch_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var r torchRef
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAdamW_Torch follows torch.optim.AdamW (testdata/make_torch_ref.py)
// over three steps on two tensors.
func TestAdamW_Torch(t *testing.T) {
	r := loadTorchRef(t).AdamW
	if r.WeightDecay == 0 {
		t.Fatal("weight decay not read")
	}
	c := AdamW{LR: r.LR, Beta1: r.Beta1, Beta2: r.Beta2, Eps: r.Eps, WeightDecay: r.WeightDecay}
	p := [][]float32{append([]float32(nil), r.Init[0]...), append([]float32(nil), r.Init[1]...)}
	st := NewState([]int{len(p[0]), len(p[1])})
	for k, s := range r.Steps {
		if err := c.Update(p, s.Grads, st, c.LR); err != nil {
			t.Fatal(err)
		}
		for i := range p {
			for j := range p[i] {
				if d := math.Abs(float64(p[i][j]) - s.Params[i][j]); d > 1e-6 {
					t.Errorf("step %d tensor %d [%d]: %v, torch %v", k+1, i, j, p[i][j], s.Params[i][j])
				}
			}
		}
	}
}

func TestClipGradNorm_Torch(t *testing.T) {
	r := loadTorchRef(t).Clip
	g := [][]float32{append([]float32(nil), r.Grads[0]...), append([]float32(nil), r.Grads[1]...)}
	if n := ClipGradNorm(g, r.MaxNorm); math.Abs(n-r.Norm) > 1e-9 {
		t.Errorf("norm %v, torch %v", n, r.Norm)
	}
	for i := range g {
		for j := range g[i] {
			if d := math.Abs(float64(g[i][j]) - r.Clipped[i][j]); d > 1e-6 {
				t.Errorf("clipped [%d][%d] %v, torch %v", i, j, g[i][j], r.Clipped[i][j])
			}
		}
	}
	// Below the bound nothing changes; 0 disables clipping.
	small := [][]float32{{0.3, 0.4}}
	if n := ClipGradNorm(small, 1); math.Abs(n-0.5) > 1e-7 || small[0][0] != 0.3 {
		t.Errorf("norm %v, grads %v", n, small)
	}
	big := [][]float32{{30, 40}}
	if ClipGradNorm(big, 0); big[0][1] != 40 {
		t.Errorf("clipping disabled changed %v", big)
	}
}

func TestAdamW_NonFinite(t *testing.T) {
	c := DefaultAdamW()
	p := [][]float32{{1, 2}}
	st := NewState([]int{2})
	err := c.Update(p, [][]float32{{float32(math.NaN()), 0}}, st, 0.1)
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("err %v", err)
	}
	if p[0][0] != 1 || st.Step != 0 || st.M[0][0] != 0 {
		t.Errorf("state changed: %v %+v", p, st)
	}
	if err := c.Update(p, [][]float32{{1}}, st, 0.1); !errors.Is(err, ErrState) {
		t.Errorf("shape mismatch: err %v", err)
	}
}

// TestSchedule follows transformers' lambdas: warmup 2 of 10 steps.
func TestSchedule(t *testing.T) {
	for _, c := range []struct {
		name string
		s    Schedule
		want []float64 // factors for steps 0..10
	}{
		{"constant", Schedule{}, []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"constant warmup", Schedule{Kind: Constant, WarmupSteps: 2}, []float64{0, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"linear", Schedule{Kind: Linear, WarmupSteps: 2, TotalSteps: 10},
			[]float64{0, 0.5, 1, 7.0 / 8, 6.0 / 8, 5.0 / 8, 4.0 / 8, 3.0 / 8, 2.0 / 8, 1.0 / 8, 0}},
		{"cosine", Schedule{Kind: Cosine, WarmupSteps: 2, TotalSteps: 10}, func() []float64 {
			out := []float64{0, 0.5}
			for s := 2; s <= 10; s++ {
				out = append(out, 0.5*(1+math.Cos(math.Pi*float64(s-2)/8)))
			}
			return out
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.s.Validate(); err != nil {
				t.Fatal(err)
			}
			for step, w := range c.want {
				if got := c.s.Factor(step); math.Abs(got-w) > 1e-12 {
					t.Errorf("step %d: %v, want %v", step, got, w)
				}
			}
		})
	}
	if f := (Schedule{Kind: Cosine, TotalSteps: 10}).Factor(5); math.Abs(f-0.5) > 1e-12 {
		t.Errorf("cosine half-way %v, want 0.5", f)
	}
}

func TestValidate_Errors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
	}{
		{"negative lr", AdamW{LR: -1}.Validate()},
		{"beta1 1", AdamW{LR: 1, Beta1: 1}.Validate()},
		{"nan eps", AdamW{LR: 1, Eps: math.NaN()}.Validate()},
		{"unknown schedule", Schedule{Kind: "step"}.Validate()},
		{"linear without total", Schedule{Kind: Linear}.Validate()},
		{"negative warmup", Schedule{WarmupSteps: -1}.Validate()},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !errors.Is(c.err, ErrConfig) {
				t.Errorf("err %v, want ErrConfig", c.err)
			}
		})
	}
}

func BenchmarkAdamW_Update(b *testing.B) {
	const n = 1 << 20
	p := [][]float32{make([]float32, n)}
	g := [][]float32{make([]float32, n)}
	for i := range g[0] {
		g[0][i] = float32(i%7) - 3
	}
	st := NewState([]int{n})
	c := DefaultAdamW()
	b.SetBytes(n * 4)
	for b.Loop() {
		_ = c.Update(p, g, st, 1e-3)
	}
}
