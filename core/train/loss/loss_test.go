package loss

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func testBackend(tb testing.TB) backends.Backend {
	tb.Helper()
	b, err := simplego.New("ops_sequential")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// evalGrad runs lossFn in float64 on logp [B, T] and returns the loss
// value and d(loss)/d(logp).
func evalGrad(tb testing.TB, logp [][]float64, lossFn func(logp *graph.Node) Result) (float64, [][]float64) {
	tb.Helper()
	b, t := len(logp), len(logp[0])
	flat := make([]float64, 0, b*t)
	for _, r := range logp {
		flat = append(flat, r...)
	}
	e, err := graph.NewExec(testBackend(tb), func(lp *graph.Node) []*graph.Node {
		v := lossFn(lp).Loss.Value()
		return []*graph.Node{v, graph.Gradient(v, lp)[0]}
	})
	if err != nil {
		tb.Fatal(err)
	}
	out, err := e.Exec(tensors.FromFlatDataAndDimensions(flat, b, t))
	if err != nil {
		tb.Fatal(err)
	}
	val := tensors.ToScalar[float64](out[0])
	g := out[1].Value().([][]float64)
	return val, g
}

// numGrad is the central finite difference of f at x.
func numGrad(x [][]float64, f func([][]float64) float64) [][]float64 {
	const h = 1e-6
	g := make([][]float64, len(x))
	for i := range x {
		g[i] = make([]float64, len(x[i]))
		for j := range x[i] {
			old := x[i][j]
			x[i][j] = old + h
			p := f(x)
			x[i][j] = old - h
			m := f(x)
			x[i][j] = old
			g[i][j] = (p - m) / (2 * h)
		}
	}
	return g
}

func maxAbsDiff(a, b [][]float64) float64 {
	d := 0.0
	for i := range a {
		for j := range a[i] {
			d = math.Max(d, math.Abs(a[i][j]-b[i][j]))
		}
	}
	return d
}

func consts(g *graph.Graph, x any) *graph.Node { return graph.Const(g, x) }

// The independent implementations below follow the formulas of
// reference.json's conventions, written as plain loops.

func goSFT(lp, m [][]float64) float64 {
	s, n := 0.0, 0.0
	for i := range lp {
		for t := range lp[i] {
			s += -lp[i][t] * m[i][t]
			n += m[i][t]
		}
	}
	return s / n
}

func goGRPO(lp, old, ref, m [][]float64, adv []float64, o GRPOOptions) float64 {
	eh := o.EpsHigh
	if eh == 0 {
		eh = o.EpsLow
	}
	var total, tokens float64
	var rowMeans []float64
	for i := range lp {
		rs, rn := 0.0, 0.0
		for t := range lp[i] {
			if m[i][t] == 0 {
				continue
			}
			r := math.Exp(lp[i][t] - old[i][t])
			c := math.Min(math.Max(r, 1-o.EpsLow), 1+eh)
			per := -math.Min(r*adv[i], c*adv[i])
			if o.Beta != 0 {
				d := ref[i][t] - lp[i][t]
				per += o.Beta * (math.Exp(d) - d - 1)
			}
			rs += per * m[i][t]
			rn += m[i][t]
		}
		total += rs
		tokens += rn
		rowMeans = append(rowMeans, rs/math.Max(rn, 1))
	}
	switch o.Aggregation {
	case AggBNPO, AggDAPO:
		return total / tokens
	case AggDrGRPO:
		return total / float64(len(lp)*o.MaxCompletionLength)
	}
	s := 0.0
	for _, v := range rowMeans {
		s += v
	}
	return s / float64(len(rowMeans))
}

func logSigmoid(x float64) float64 { return -math.Log1p(math.Exp(-x)) }

func goDPO(lp, ref, m [][]float64, o DPOOptions) float64 {
	seq := func(x [][]float64, i int) float64 {
		s, n := 0.0, 0.0
		for t := range x[i] {
			s += x[i][t] * m[i][t]
			n += m[i][t]
		}
		if o.LengthNormalized {
			return s / n
		}
		return s
	}
	total := 0.0
	for k := 0; k < len(lp)/2; k++ {
		h := (seq(lp, 2*k) - seq(ref, 2*k)) - (seq(lp, 2*k+1) - seq(ref, 2*k+1))
		switch o.Type {
		case DPOIPO:
			total += (h - 1/(2*o.Beta)) * (h - 1/(2*o.Beta))
		case DPOHinge:
			total += math.Max(0, 1-o.Beta*h)
		default:
			ls := o.LabelSmoothing
			total += -(1-ls)*logSigmoid(o.Beta*h) - ls*logSigmoid(-o.Beta*h)
		}
	}
	return total / float64(len(lp)/2)
}

func randMatrix(rng *rand.Rand, b, t int, lo, hi float64) [][]float64 {
	x := make([][]float64, b)
	for i := range x {
		x[i] = make([]float64, t)
		for j := range x[i] {
			x[i][j] = lo + rng.Float64()*(hi-lo)
		}
	}
	return x
}

// TestSFT_Hand is a case small enough to do by hand: tokens 1 and 2 of a
// row with logp -2 and -3 are masked, so the loss is 2.5 and each masked
// token's gradient is -1/2.
func TestSFT_Hand(t *testing.T) {
	lp := [][]float64{{0, -2, -3, -7}}
	m := [][]float64{{0, 1, 1, 0}}
	v, g := evalGrad(t, lp, func(x *graph.Node) Result { return SFT(x, consts(x.Graph(), m), nil) })
	if v != 2.5 {
		t.Errorf("loss %v, want 2.5", v)
	}
	if want := [][]float64{{0, -0.5, -0.5, 0}}; maxAbsDiff(g, want) > 1e-15 {
		t.Errorf("grad %v, want %v", g, want)
	}
}

// TestGRPO_Hand: one row, two masked tokens, A = 1, eps 0.2, beta 0.
// Token 1 has ratio e^0.1 ≈ 1.105 (inside the clip range: loss -1.105,
// gradient -1.105); token 2 has ratio e^0.5 ≈ 1.649 > 1.2, so the clipped
// branch (1.2, no gradient) is the minimum. "grpo" aggregation averages:
// loss = -(e^0.1 + 1.2)/2, gradient (-e^0.1/2, 0).
func TestGRPO_Hand(t *testing.T) {
	lp := [][]float64{{0, -1.0, -1.0}}
	old := [][]float64{{0, -1.1, -1.5}}
	m := [][]float64{{0, 1, 1}}
	v, g := evalGrad(t, lp, func(x *graph.Node) Result {
		gr := x.Graph()
		return GRPO(x, consts(gr, old), nil, consts(gr, m), consts(gr, []float64{1}), nil, GRPOOptions{EpsLow: 0.2})
	})
	e := math.Exp(0.1)
	if want := -(e + 1.2) / 2; math.Abs(v-want) > 1e-12 {
		t.Errorf("loss %v, want %v", v, want)
	}
	if want := [][]float64{{0, -e / 2, 0}}; maxAbsDiff(g, want) > 1e-12 {
		t.Errorf("grad %v, want %v", g, want)
	}
}

// TestDPO_Hand: one pair, sums of masked logp: chosen -3 (ref -4), rejected
// -5 (ref -4), so h = 1 - (-1) = 2; sigmoid with beta 0.5 gives
// -logσ(1) = log(1+e^-1).
func TestDPO_Hand(t *testing.T) {
	lp := [][]float64{{0, -1, -2}, {0, -2, -3}}
	ref := [][]float64{{0, -2, -2}, {0, -1, -3}}
	m := [][]float64{{0, 1, 1}, {0, 1, 1}}
	v, _ := evalGrad(t, lp, func(x *graph.Node) Result {
		gr := x.Graph()
		return DPO(x, consts(gr, ref), consts(gr, m), nil, DPOOptions{Beta: 0.5})
	})
	if want := math.Log1p(math.Exp(-1)); math.Abs(v-want) > 1e-12 {
		t.Errorf("loss %v, want %v", v, want)
	}
}

// TestLosses_Independent compares values and gradients with respect to
// logp with the plain-loop implementations and their finite differences,
// over every option.
func TestLosses_Independent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const b, tt = 4, 7
	lp := randMatrix(rng, b, tt, -3, -0.1)
	old := randMatrix(rng, b, tt, -3, -0.1)
	for i := range old { // ratios near 1 and beyond both clip bounds
		for j := range old[i] {
			old[i][j] = lp[i][j] + (rng.Float64()-0.5)*0.8
		}
	}
	ref := randMatrix(rng, b, tt, -3, -0.1)
	m := make([][]float64, b)
	for i := range m {
		m[i] = make([]float64, tt)
		for j := 1 + i%3; j < tt; j++ {
			if (i+j)%4 != 0 { // a few holes
				m[i][j] = 1
			}
		}
	}
	adv := []float64{0.7, -1.1, 0.3, -0.2}
	type tc struct {
		name  string
		graph func(x *graph.Node) Result
		plain func(x [][]float64) float64
	}
	var cases []tc
	cases = append(cases, tc{"sft", func(x *graph.Node) Result { return SFT(x, consts(x.Graph(), m), nil) },
		func(x [][]float64) float64 { return goSFT(x, m) }})
	for _, agg := range []string{AggGRPO, AggDrGRPO, AggBNPO, AggDAPO} {
		for _, o := range []GRPOOptions{{EpsLow: 0.2, Beta: 0.04}, {EpsLow: 0.2, EpsHigh: 0.28}} {
			o.Aggregation, o.MaxCompletionLength = agg, 9
			cases = append(cases, tc{"grpo/" + agg, func(x *graph.Node) Result {
				g := x.Graph()
				return GRPO(x, consts(g, old), consts(g, ref), consts(g, m), consts(g, adv), nil, o)
			}, func(x [][]float64) float64 { return goGRPO(x, old, ref, m, adv, o) }})
		}
	}
	for _, typ := range []string{DPOSigmoid, DPOIPO, DPOHinge} {
		for _, ln := range []bool{false, true} {
			o := DPOOptions{Type: typ, Beta: 0.3, LengthNormalized: ln}
			if typ == DPOSigmoid {
				o.LabelSmoothing = 0.1
			}
			cases = append(cases, tc{"dpo/" + typ, func(x *graph.Node) Result {
				g := x.Graph()
				return DPO(x, consts(g, ref), consts(g, m), nil, o)
			}, func(x [][]float64) float64 { return goDPO(x, ref, m, o) }})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, g := evalGrad(t, lp, c.graph)
			if want := c.plain(lp); math.Abs(v-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Errorf("loss %.15g, want %.15g", v, want)
			}
			if d := maxAbsDiff(g, numGrad(lp, c.plain)); d > 1e-7 {
				t.Errorf("gradient differs from finite differences by %.3g", d)
			}
		})
	}
}

// TestGRPO_OffMaskGarbage: values off the mask (here huge logprob gaps
// that overflow exp) must not reach the loss or its gradient.
func TestGRPO_OffMaskGarbage(t *testing.T) {
	lp := [][]float64{{-800, -1, -1}}
	old := [][]float64{{0, -1.1, 900}}
	ref := [][]float64{{800, -1.2, 0}}
	m := [][]float64{{0, 1, 0}}
	v, g := evalGrad(t, lp, func(x *graph.Node) Result {
		gr := x.Graph()
		return GRPO(x, consts(gr, old), consts(gr, ref), consts(gr, m), consts(gr, []float64{1}), nil,
			GRPOOptions{EpsLow: 0.2, Beta: 0.1, Aggregation: AggBNPO})
	})
	if math.IsNaN(v) || math.IsInf(v, 0) {
		t.Fatalf("loss %v", v)
	}
	for _, x := range g[0] {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("gradient %v", g)
		}
	}
	if g[0][0] != 0 || g[0][2] != 0 {
		t.Errorf("gradient off the mask: %v", g)
	}
}

// TestTokenLogProbs checks the shift and the log-softmax against a plain
// loop.
func TestTokenLogProbs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const b, tt, v = 2, 5, 11
	logits := make([]float64, b*tt*v)
	for i := range logits {
		logits[i] = rng.NormFloat64() * 3
	}
	ids := []int32{1, 4, 10, 0, 3, 2, 2, 9, 5, 7}
	out, err := graph.ExecOnce(testBackend(t), func(l, i *graph.Node) *graph.Node { return TokenLogProbs(l, i) },
		tensors.FromFlatDataAndDimensions(logits, b, tt, v), tensors.FromFlatDataAndDimensions(ids, b, tt))
	if err != nil {
		t.Fatal(err)
	}
	got := out.Value().([][]float64)
	for i := 0; i < b; i++ {
		if got[i][0] != 0 {
			t.Errorf("row %d: logp[0] = %v, want 0", i, got[i][0])
		}
		for s := 1; s < tt; s++ {
			row := logits[(i*tt+s-1)*v : (i*tt+s)*v]
			z := 0.0
			for _, x := range row {
				z += math.Exp(x)
			}
			want := row[ids[i*tt+s]] - math.Log(z)
			if math.Abs(got[i][s]-want) > 1e-12 {
				t.Errorf("row %d position %d: %v, want %v", i, s, got[i][s], want)
			}
		}
	}
}

func TestOptions_Validate(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
	}{
		{"grpo ok", GRPOOptions{EpsLow: 0.2}.Validate()},
		{"dpo ok", DPOOptions{Beta: 0.1}.Validate()},
	} {
		if c.err != nil {
			t.Errorf("%s: %v", c.name, c.err)
		}
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"eps 0", GRPOOptions{}.Validate()},
		{"negative beta", GRPOOptions{EpsLow: 0.2, Beta: -1}.Validate()},
		{"unknown agg", GRPOOptions{EpsLow: 0.2, Aggregation: "mean"}.Validate()},
		{"dr_grpo without length", GRPOOptions{EpsLow: 0.2, Aggregation: AggDrGRPO}.Validate()},
		{"dpo beta 0", DPOOptions{}.Validate()},
		{"dpo type", DPOOptions{Beta: 0.1, Type: "robust"}.Validate()},
		{"dpo smoothing", DPOOptions{Beta: 0.1, LabelSmoothing: 0.5}.Validate()},
		{"dpo smoothing ipo", DPOOptions{Beta: 0.1, Type: DPOIPO, LabelSmoothing: 0.1}.Validate()},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Error("no error")
			}
		})
	}
}
