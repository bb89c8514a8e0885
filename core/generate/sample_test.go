package generate

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refDist is the distribution a policy samples from, computed the plain way
// (float64, full sorts), following Hugging Face's processors in order:
// repetition penalty is left out (tested through Generate), then
// TemperatureLogitsWarper, TopKLogitsWarper (ties with the k-th kept),
// TopPLogitsWarper (a token is kept while the mass ranked above it is < p),
// MinPLogitsWarper (p >= minP · max p kept).
func refDist(logits []float32, pol policy) []float64 {
	n := len(logits)
	x := make([]float64, n)
	for i, v := range logits {
		x[i] = float64(v) / pol.temperature
	}
	if pol.topK > 0 && pol.topK < n {
		s := slices.Clone(logits)
		slices.SortFunc(s, func(a, b float32) int {
			switch {
			case a > b:
				return -1
			case a < b:
				return 1
			}
			return 0
		})
		kth := s[pol.topK-1]
		for i, v := range logits {
			if v < kth {
				x[i] = math.Inf(-1)
			}
		}
	}
	p := softmax64(x)
	if pol.topP < 1 {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case p[a] > p[b]:
				return -1
			case p[a] < p[b]:
				return 1
			}
			return 0
		})
		above := 0.0
		for _, i := range order {
			if above >= pol.topP {
				p[i] = 0
			}
			above += p[i]
		}
		normalise(p)
	}
	if pol.minP > 0 {
		top := slices.Max(p)
		for i := range p {
			if p[i] < pol.minP*top {
				p[i] = 0
			}
		}
		normalise(p)
	}
	return p
}

func softmax64(x []float64) []float64 {
	m := slices.Max(x)
	p := make([]float64, len(x))
	for i, v := range x {
		p[i] = math.Exp(v - m)
	}
	normalise(p)
	return p
}

func normalise(p []float64) {
	s := 0.0
	for _, v := range p {
		s += v
	}
	for i := range p {
		p[i] /= s
	}
}

func logitsOf(probs ...float64) []float32 {
	out := make([]float32, len(probs))
	for i, p := range probs {
		out[i] = float32(math.Log(p))
	}
	return out
}

// TestSampler_Support checks the filtered support and the policy logprob on
// distributions worked out by hand.
func TestSampler_Support(t *testing.T) {
	base := logitsOf(0.5, 0.3, 0.15, 0.05)
	tests := []struct {
		name   string
		logits []float32
		pol    policy
		want   map[int32]float64 // token → probability under the policy
	}{
		{name: "no filter", logits: base, pol: policy{temperature: 1, topP: 1}, want: map[int32]float64{0: 0.5, 1: 0.3, 2: 0.15, 3: 0.05}},
		{name: "top-k 2", logits: base, pol: policy{temperature: 1, topK: 2, topP: 1}, want: map[int32]float64{0: 0.5 / 0.8, 1: 0.3 / 0.8}},
		{name: "top-p 0.75", logits: base, pol: policy{temperature: 1, topP: 0.75}, want: map[int32]float64{0: 0.5 / 0.8, 1: 0.3 / 0.8}},
		{name: "top-p 0.85", logits: base, pol: policy{temperature: 1, topP: 0.85}, want: map[int32]float64{0: 0.5 / 0.95, 1: 0.3 / 0.95, 2: 0.15 / 0.95}},
		{name: "top-p 0.4 keeps the top token", logits: base, pol: policy{temperature: 1, topP: 0.4}, want: map[int32]float64{0: 1}},
		{name: "top-k 3 then top-p 0.82 of the renormalised", logits: base, pol: policy{temperature: 1, topK: 3, topP: 0.82}, want: map[int32]float64{0: 0.5 / 0.8, 1: 0.3 / 0.8}},
		{name: "top-k 3 then top-p 0.85 of the renormalised", logits: base, pol: policy{temperature: 1, topK: 3, topP: 0.85}, want: map[int32]float64{0: 0.5 / 0.95, 1: 0.3 / 0.95, 2: 0.15 / 0.95}},
		{name: "min-p 0.35", logits: base, pol: policy{temperature: 1, topP: 1, minP: 0.35}, want: map[int32]float64{0: 0.5 / 0.8, 1: 0.3 / 0.8}},
		// Temperature 0.5 squares the probabilities: 0.25, 0.09, 0.0225, 0.0025.
		{name: "temperature 0.5", logits: base, pol: policy{temperature: 0.5, topP: 1}, want: map[int32]float64{0: 0.25 / 0.365, 1: 0.09 / 0.365, 2: 0.0225 / 0.365, 3: 0.0025 / 0.365}},
		// Temperature before top-p: 0.25/0.365 = 0.685 < 0.7 <= (0.25+0.09)/0.365.
		{name: "temperature 0.5 then top-p 0.7", logits: base, pol: policy{temperature: 0.5, topP: 0.7}, want: map[int32]float64{0: 0.25 / 0.34, 1: 0.09 / 0.34}},
		{name: "top-k ties kept", logits: logitsOf(0.4, 0.2, 0.2, 0.2), pol: policy{temperature: 1, topK: 2, topP: 1}, want: map[int32]float64{0: 0.4, 1: 0.2, 2: 0.2, 3: 0.2}},
		{name: "masked tokens never drawn", logits: []float32{0, float32(math.Inf(-1)), 0, float32(math.Inf(-1))}, pol: policy{temperature: 1, topP: 1}, want: map[int32]float64{0: 0.5, 2: 0.5}},
		{name: "masked tokens with top-k", logits: []float32{0, float32(math.Inf(-1)), float32(math.Inf(-1))}, pol: policy{temperature: 2, topK: 2, topP: 0.99}, want: map[int32]float64{0: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.pol.penalty = 1
			s := newSampler(tc.pol, len(tc.logits), 1, 0)
			seen := map[int32]int{}
			for range 4000 {
				d, err := s.sample(tc.logits)
				if err != nil {
					t.Fatal(err)
				}
				p, ok := tc.want[d.token]
				if !ok {
					t.Fatalf("drew token %d, outside the support %v", d.token, tc.want)
				}
				if math.Abs(float64(d.logprob)-math.Log(p)) > 1e-5 {
					t.Fatalf("token %d policy logprob %v, want log %v = %v", d.token, d.logprob, p, math.Log(p))
				}
				if raw := float64(tc.logits[d.token]) - logSumExp(tc.logits); math.Abs(float64(d.raw)-raw) > 1e-5 {
					t.Fatalf("token %d raw logprob %v, want %v", d.token, d.raw, raw)
				}
				seen[d.token]++
			}
			for tok := range tc.want {
				if seen[tok] == 0 {
					t.Errorf("token %d of the support never drawn in 4000 draws", tok)
				}
			}
		})
	}
}

// randomLogits makes n logits with ties and masked entries mixed in.
func randomLogits(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		switch r.IntN(10) {
		case 0:
			out[i] = float32(math.Inf(-1))
		case 1:
			out[i] = 1.5 // a repeated value, for ties
		default:
			out[i] = float32(r.NormFloat64() * 3)
		}
	}
	out[r.IntN(n)] = 4 // at least one finite logit
	return out
}

// TestSampler_MatchesReference is a property test: on random logits and
// random policies, every draw must lie in the reference support and carry the
// reference logprob.
func TestSampler_MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		n := 2 + r.IntN(300)
		logits := randomLogits(r, n)
		if trial%20 == 0 {
			// A language-model-sized vocabulary: a broad floor and a few peaks.
			n = 20000
			logits = lmLogits(r, n)
		}
		pol := policy{temperature: 0.2 + 2*r.Float64(), topP: 1, penalty: 1}
		if trial%7 == 0 {
			pol.temperature = 1 // the path sharing the raw exp pass
		}
		if r.IntN(2) == 0 {
			pol.topK = 1 + r.IntN(n)
		}
		if r.IntN(2) == 0 {
			pol.topP = 0.05 + 0.9*r.Float64()
		}
		if r.IntN(3) == 0 {
			pol.minP = 0.3 * r.Float64()
		}
		ref := refDist(logits, pol)
		s := newSampler(pol, n, int64(trial), uint64(trial))
		for range 50 {
			d, err := s.sample(logits)
			if err != nil {
				t.Fatal(err)
			}
			p := ref[d.token]
			if p == 0 {
				t.Fatalf("trial %d %+v: drew %d, outside the reference support", trial, pol, d.token)
			}
			if math.Abs(float64(d.logprob)-math.Log(p)) > 1e-4 {
				t.Fatalf("trial %d %+v: token %d logprob %v, reference %v", trial, pol, d.token, d.logprob, math.Log(p))
			}
			if pol.topK > 0 {
				// The support never exceeds k unless ties with the k-th logit.
				above := 0
				for _, v := range logits {
					if v > logits[d.token] {
						above++
					}
				}
				if above >= pol.topK {
					t.Fatalf("trial %d: token %d has %d logits above it, top-k %d", trial, d.token, above, pol.topK)
				}
			}
		}
	}
}

// TestSampler_Frequencies draws 20,000 tokens per policy from a fixed
// distribution and compares the counts with the reference probabilities by
// Pearson's chi-square at the 0.1% level (the seed is fixed, so the test is
// deterministic; the level only says how unlucky a correct sampler would be).
func TestSampler_Frequencies(t *testing.T) {
	logits := logitsOf(0.22, 0.18, 0.15, 0.12, 0.1, 0.08, 0.06, 0.05, 0.03, 0.01)
	// Upper 0.1% points of chi-square with df = 1..9.
	crit := []float64{0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88}
	tests := []struct {
		name string
		pol  policy
	}{
		{name: "T=1", pol: policy{temperature: 1, topP: 1}},
		{name: "T=0.7", pol: policy{temperature: 0.7, topP: 1}},
		{name: "T=1.5", pol: policy{temperature: 1.5, topP: 1}},
		{name: "top-k 4", pol: policy{temperature: 1, topK: 4, topP: 1}},
		{name: "top-p 0.6", pol: policy{temperature: 1, topP: 0.6}},
		{name: "T=0.8 top-k 6 top-p 0.9", pol: policy{temperature: 0.8, topK: 6, topP: 0.9}},
		{name: "min-p 0.3", pol: policy{temperature: 1, topP: 1, minP: 0.3}},
	}
	const draws = 20000
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.pol.penalty = 1
			ref := refDist(logits, tc.pol)
			s := newSampler(tc.pol, len(logits), 99, 3)
			counts := make([]int, len(logits))
			for range draws {
				d, err := s.sample(logits)
				if err != nil {
					t.Fatal(err)
				}
				counts[d.token]++
			}
			chi2, df := 0.0, -1
			for i, p := range ref {
				if p == 0 {
					if counts[i] != 0 {
						t.Fatalf("token %d drawn %d times, reference probability 0", i, counts[i])
					}
					continue
				}
				e := p * draws
				chi2 += (float64(counts[i]) - e) * (float64(counts[i]) - e) / e
				df++
			}
			if df > 0 && chi2 > crit[df] {
				t.Errorf("chi-square %.2f with %d df exceeds %.2f; counts %v, reference %v", chi2, df, crit[df], counts, ref)
			}
		})
	}
}

func TestTopPCount(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 500 {
		n := 1 + r.IntN(2000)
		w := make([]float64, n)
		for i := range w {
			// Few distinct values, so many ties, which the id order must break.
			w[i] = float64(r.IntN(8)) / 7
			if r.IntN(4) == 0 {
				w[i] = r.Float64()
			}
		}
		w[r.IntN(n)] = 1
		total := 0.0
		for _, v := range w {
			total += v
		}
		p := r.Float64()
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(i)
		}
		r.Shuffle(n, func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		got := topPCount(ids, w, p*total)

		order := make([]int32, n)
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortStableFunc(order, func(a, b int32) int {
			switch {
			case w[a] > w[b]:
				return -1
			case w[a] < w[b]:
				return 1
			}
			return 0
		})
		want, acc := 0, 0.0
		for acc < p*total && want < n {
			acc += w[order[want]]
			want++
		}
		if got != want {
			t.Fatalf("trial %d: kept %d, want %d", trial, got, want)
		}
		kept := slices.Clone(ids[:got])
		slices.Sort(kept)
		wantSet := slices.Clone(order[:want])
		slices.Sort(wantSet)
		if !slices.Equal(kept, wantSet) {
			t.Fatalf("trial %d: kept set differs from the reference", trial)
		}
	}
}

func TestKthLargest(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 300 {
		n := 1 + r.IntN(3000)
		z := randomLogits(r, n)
		if trial%3 == 0 {
			for i := range z {
				z[i] = float32(r.IntN(3)) // mostly ties
			}
		}
		k := 1 + r.IntN(n)
		sorted := slices.Clone(z)
		slices.Sort(sorted)
		want := sorted[n-k]
		s := &sampler{vocab: n}
		if got := s.kthLargestHeap(z, k); got != want {
			t.Fatalf("trial %d: heap: k=%d of %d: %v, want %v", trial, k, n, got, want)
		}
		if got := s.kthLargestSelect(z, k); got != want {
			t.Fatalf("trial %d: quickselect: k=%d of %d: %v, want %v", trial, k, n, got, want)
		}
	}
}

func TestSampler_GreedyTies(t *testing.T) {
	s := newSampler(policy{topP: 1, penalty: 1}, 5, 0, 0)
	d, err := s.sample([]float32{1, 3, 2, 3, 3})
	if err != nil {
		t.Fatal(err)
	}
	if d.token != 1 {
		t.Errorf("argmax with ties picked %d, want the lowest id 1", d.token)
	}
}

// FuzzSample checks the sampler never panics and, on any logits it accepts,
// returns a token it could have drawn, with logprobs that are probabilities.
func FuzzSample(f *testing.F) {
	f.Add([]byte{10, 20, 30, 40}, 1.0, 0, 1.0, 0.0, 1.0, int64(0))
	f.Add([]byte{0, 0, 0, 0, 0, 0}, 0.0, 2, 0.5, 0.1, 1.3, int64(1))
	f.Add([]byte{255, 128, 3}, 1e-9, 1, 0.9, 0.0, 0.5, int64(2))
	f.Add([]byte{254, 254, 1}, 7.0, 0, 0.01, 1.0, 1.0, int64(3))
	f.Fuzz(func(t *testing.T, raw []byte, temp float64, topK int, topP, minP, penalty float64, seed int64) {
		if len(raw) == 0 || len(raw) > 4096 {
			return
		}
		pol, err := Options{MaxNewTokens: 1, Temperature: temp, TopK: topK, TopP: topP, MinP: minP, RepetitionPenalty: penalty}.policy()
		if err != nil {
			return
		}
		// Byte 255 is NaN, 254 is -Inf; others spread over [-16, 16).
		logits := make([]float32, len(raw))
		valid, finite := true, false
		for i, b := range raw {
			switch b {
			case 255:
				logits[i] = float32(math.NaN())
				valid = false
			case 254:
				logits[i] = float32(math.Inf(-1))
			default:
				logits[i] = float32(b)/8 - 16
				finite = true
			}
		}
		s := newSampler(pol, len(logits), seed, 0)
		s.observe(int32(seed & 3 % int64(len(logits))))
		for range 3 {
			d, err := s.sample(logits)
			if (err == nil) != (valid && finite) {
				t.Fatalf("err %v for logits %v", err, logits)
			}
			if err != nil {
				return
			}
			if d.token < 0 || int(d.token) >= len(logits) || math.IsInf(float64(logits[d.token]), -1) {
				t.Fatalf("drew %d from %v", d.token, logits)
			}
			if !(d.logprob <= 1e-5) || !(d.raw <= 1e-5) {
				t.Fatalf("logprobs %v, %v above 0", d.logprob, d.raw)
			}
			s.observe(d.token)
		}
	})
}
