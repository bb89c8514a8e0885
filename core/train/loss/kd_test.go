package loss

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// goKD is KD from its definition, in float64 loops: for every masked
// token t ≥ 1, the divergence of the softmaxes of the logits at t-1.
func goKD(student, teacher [][][]float64, m [][]float64, o KDOptions) float64 {
	tau := o.Temperature
	if tau == 0 {
		tau = 1
	}
	softmax := func(z []float64) []float64 {
		mx := math.Inf(-1)
		for _, x := range z {
			mx = math.Max(mx, x/tau)
		}
		p, s := make([]float64, len(z)), 0.0
		for i, x := range z {
			p[i] = math.Exp(x/tau - mx)
			s += p[i]
		}
		for i := range p {
			p[i] /= s
		}
		return p
	}
	kl := func(p, q []float64) float64 {
		d := 0.0
		for i := range p {
			d += p[i] * math.Log(p[i]/q[i])
		}
		return d
	}
	var sum, n float64
	for i := range m {
		for t := 1; t < len(m[i]); t++ {
			if m[i][t] == 0 {
				continue
			}
			ps, pt := softmax(student[i][t-1]), softmax(teacher[i][t-1])
			var d float64
			switch o.Divergence {
			case KDReverse:
				d = kl(ps, pt)
			case KDJSD:
				mix := make([]float64, len(ps))
				for v := range mix {
					mix[v] = o.Beta*pt[v] + (1-o.Beta)*ps[v]
				}
				d = o.Beta*kl(pt, mix) + (1-o.Beta)*kl(ps, mix)
			default:
				d = kl(pt, ps)
			}
			sum += d * m[i][t]
			n += m[i][t]
		}
	}
	return sum / n
}

// evalKD runs KD in float64 and returns its value and d(loss)/d(student).
func evalKD(tb testing.TB, student, teacher [][][]float64, m [][]float64, o KDOptions) (float64, [][][]float64) {
	tb.Helper()
	b, t, v := len(student), len(student[0]), len(student[0][0])
	flat := func(x [][][]float64) []float64 {
		var out []float64
		for _, r := range x {
			for _, p := range r {
				out = append(out, p...)
			}
		}
		return out
	}
	e, err := graph.NewExec(testBackend(tb), func(s, te *graph.Node) []*graph.Node {
		val := KD(s, te, consts(s.Graph(), m), nil, o).Loss.Value()
		return []*graph.Node{val, graph.Gradient(val, s)[0]}
	})
	if err != nil {
		tb.Fatal(err)
	}
	out, err := e.Exec(tensors.FromFlatDataAndDimensions(flat(student), b, t, v), tensors.FromFlatDataAndDimensions(flat(teacher), b, t, v))
	if err != nil {
		tb.Fatal(err)
	}
	return tensors.ToScalar[float64](out[0]), out[1].Value().([][][]float64)
}

func randLogits(rng *rand.Rand, b, t, v int) [][][]float64 {
	x := make([][][]float64, b)
	for i := range x {
		x[i] = randMatrix(rng, t, v, -3, 3)
	}
	return x
}

// TestKD_Hand: two-token vocabulary, one masked token. Student logits
// (0, 0) give p_s = (½, ½); teacher logits (ln 3, 0) give p_t = (¾, ¼).
// KL(p_t‖p_s) = ¾ln(3/2) + ¼ln(1/2); KL(p_s‖p_t) = ½ln(2/3) + ½ln(2);
// with β = ½, m = (5/8, 3/8) and JSD = ½KL(p_t‖m) + ½KL(p_s‖m). At
// temperature 2 the teacher's logits halve: p_t = (√3, 1)/(√3 + 1).
func TestKD_Hand(t *testing.T) {
	student := [][][]float64{{{0, 0}, {5, -5}}}
	teacher := [][][]float64{{{math.Log(3), 0}, {-5, 5}}}
	m := [][]float64{{0, 1}} // token 1: the logits at position 0
	r3 := math.Sqrt(3)
	pt2 := []float64{r3 / (r3 + 1), 1 / (r3 + 1)}
	for _, c := range []struct {
		name string
		o    KDOptions
		want float64
	}{
		{"forward", KDOptions{}, 0.75*math.Log(1.5) + 0.25*math.Log(0.5)},
		{"reverse", KDOptions{Divergence: KDReverse}, 0.5*math.Log(2.0/3) + 0.5*math.Log(2)},
		{"jsd half", KDOptions{Divergence: KDJSD, Beta: 0.5}, 0.5*(0.75*math.Log(0.75/0.625)+0.25*math.Log(0.25/0.375)) +
			0.5*(0.5*math.Log(0.5/0.625)+0.5*math.Log(0.5/0.375))},
		{"forward at temperature 2", KDOptions{Temperature: 2}, pt2[0]*math.Log(2*pt2[0]) + pt2[1]*math.Log(2*pt2[1])},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, _ := evalKD(t, student, teacher, m, c.o)
			if math.Abs(v-c.want) > 1e-12 {
				t.Errorf("loss %.15g, want %.15g", v, c.want)
			}
		})
	}
}

// TestKD_Reference compares KD with goKD on random logits and masks
// (weights included), and its gradient with central differences of goKD.
func TestKD_Reference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 17))
	const b, tt, v = 2, 4, 5
	student, teacher := randLogits(rng, b, tt, v), randLogits(rng, b, tt, v)
	m := [][]float64{{0, 1, 1, 0}, {0, 0, 0.5, 1}}
	for _, o := range []KDOptions{
		{},
		{Divergence: KDReverse},
		{Divergence: KDJSD, Beta: 0.1},
		{Divergence: KDJSD, Beta: 0.5},
		{Divergence: KDJSD, Beta: 0.9, Temperature: 0.7},
		{Divergence: KDReverse, Temperature: 3},
	} {
		t.Run(fmt.Sprintf("%s/beta=%v/T=%v", o.Divergence, o.Beta, o.Temperature), func(t *testing.T) {
			got, g := evalKD(t, student, teacher, m, o)
			want := goKD(student, teacher, m, o)
			if math.Abs(got-want) > 1e-12 {
				t.Errorf("loss %.15g, want %.15g", got, want)
			}
			for i := range student {
				num := numGrad(student[i], func(x [][]float64) float64 { return goKD(student, teacher, m, o) })
				if d := maxAbsDiff(g[i], num); d > 1e-7 {
					t.Errorf("row %d: gradient differs from central differences by %g:\n got %v\nwant %v", i, d, g[i], num)
				}
			}
			// The last position predicts nothing: no gradient reaches it.
			for i := range g {
				for _, x := range g[i][tt-1] {
					if x != 0 {
						t.Fatalf("row %d: gradient %v at the last position", i, g[i][tt-1])
					}
				}
			}
		})
	}
}

// TestKD_Identical: a student equal to its teacher has loss 0 and
// gradient 0 under every divergence.
func TestKD_Identical(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := randLogits(rng, 1, 3, 4)
	m := [][]float64{{0, 1, 1}}
	for _, o := range []KDOptions{{}, {Divergence: KDReverse}, {Divergence: KDJSD, Beta: 0.3}} {
		v, g := evalKD(t, x, x, m, o)
		if math.Abs(v) > 1e-14 {
			t.Errorf("%s: loss %g", o.Divergence, v)
		}
		for _, p := range g[0] {
			for _, d := range p {
				if math.Abs(d) > 1e-14 {
					t.Fatalf("%s: gradient %v", o.Divergence, g)
				}
			}
		}
	}
}

func TestKDOptions_Validate(t *testing.T) {
	for _, c := range []struct {
		name string
		o    KDOptions
		ok   bool
	}{
		{"zero value", KDOptions{}, true},
		{"reverse", KDOptions{Divergence: KDReverse, Temperature: 2}, true},
		{"jsd", KDOptions{Divergence: KDJSD, Beta: 0.5}, true},
		{"jsd beta 0", KDOptions{Divergence: KDJSD}, false},
		{"jsd beta 1", KDOptions{Divergence: KDJSD, Beta: 1}, false},
		{"unknown", KDOptions{Divergence: "tvd"}, false},
		{"negative temperature", KDOptions{Temperature: -1}, false},
		{"NaN temperature", KDOptions{Temperature: math.NaN()}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.o.Validate()
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrOptions)) {
				t.Errorf("Validate() = %v, want ok %v", err, c.ok)
			}
		})
	}
}
