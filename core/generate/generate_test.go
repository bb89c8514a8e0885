package generate

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

var testPrompts = [][]int32{
	{1, 2, 3},
	{7},
	{4, 4, 4, 4, 4, 4, 9},
	{30, 12},
	{0, 39, 5, 6, 11},
}

func TestGenerate_GreedyMatchesReference(t *testing.T) {
	tests := []struct {
		name    string
		maxNew  int
		stopIDs []int32
		penalty float32
	}{
		{name: "length only", maxNew: 24},
		{name: "with stop ids", maxNew: 40, stopIDs: []int32{3, 17, 25}},
		{name: "repetition penalty", maxNew: 30, penalty: 1.3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &fakeModel{vocab: 40}
			opts := Options{MaxNewTokens: tc.maxNew, StopTokenIDs: tc.stopIDs, RepetitionPenalty: float64(tc.penalty)}
			res, err := Generate(context.Background(), m, testPrompts, opts)
			if err != nil {
				t.Fatal(err)
			}
			penalty := tc.penalty
			if penalty == 0 {
				penalty = 1
			}
			longest := 0
			for b, p := range testPrompts {
				wantToks, wantRaw := refGreedy(p, 40, tc.maxNew, tc.stopIDs, penalty)
				r := res[b]
				if !slices.Equal(r.Tokens, wantToks) {
					t.Fatalf("row %d tokens\n got %v\nwant %v", b, r.Tokens, wantToks)
				}
				for i := range wantRaw {
					if math.Abs(float64(r.RawLogprobs[i])-wantRaw[i]) > 1e-5 {
						t.Errorf("row %d raw logprob %d = %v, want %v", b, i, r.RawLogprobs[i], wantRaw[i])
					}
					if r.Logprobs[i] != 0 {
						t.Errorf("row %d greedy logprob %d = %v, want 0", b, i, r.Logprobs[i])
					}
				}
				wantReason := FinishLength
				if len(wantToks) < tc.maxNew || slices.Contains(tc.stopIDs, wantToks[len(wantToks)-1]) {
					wantReason = FinishStop
				}
				if r.FinishReason != wantReason {
					t.Errorf("row %d finish %q, want %q", b, r.FinishReason, wantReason)
				}
				longest = max(longest, len(r.Tokens))
			}
			checkCallPattern(t, m, res, tc.maxNew, longest)
		})
	}
}

// checkCallPattern checks the generator used one cache sized for the longest
// prompt plus maxNew, prefilled every prompt in one Append, then fed exactly
// one token to each unfinished row per step and nothing to finished rows.
func checkCallPattern(t *testing.T, m *fakeModel, res []Result, maxNew, longest int) {
	t.Helper()
	if len(m.caches) != 1 {
		t.Fatalf("%d caches, want 1", len(m.caches))
	}
	c := m.caches[0]
	maxPrompt := 0
	for _, p := range testPrompts {
		maxPrompt = max(maxPrompt, len(p))
	}
	if m.maxLens[0] != maxPrompt+maxNew {
		t.Errorf("cache maxLen %d, want %d", m.maxLens[0], maxPrompt+maxNew)
	}
	if !c.closed {
		t.Error("cache not closed")
	}
	// Prefill, then one Append per step after the first token while any row runs.
	if len(c.fed) != longest {
		t.Fatalf("%d Appends, want %d", len(c.fed), longest)
	}
	for b, p := range testPrompts {
		if c.fed[0][b] != len(p) {
			t.Errorf("prefill fed row %d %d tokens, want %d", b, c.fed[0][b], len(p))
		}
		for call := 1; call < len(c.fed); call++ {
			want := 0
			if call < len(res[b].Tokens) {
				want = 1
			}
			if c.fed[call][b] != want {
				t.Errorf("Append %d fed row %d %d tokens, want %d", call, b, c.fed[call][b], want)
			}
		}
		if !slices.Equal(c.rows[b][len(p):], res[b].Tokens[:len(res[b].Tokens)-1]) {
			t.Errorf("row %d cache holds %v after the prompt, want %v", b, c.rows[b][len(p):], res[b].Tokens[:len(res[b].Tokens)-1])
		}
	}
}

var samplingCases = []struct {
	name  string
	opts  Options
	vocab int // 40 when 0
}{
	{name: "greedy", opts: Options{MaxNewTokens: 20, StopTokenIDs: []int32{5}}},
	{name: "temperature", opts: Options{MaxNewTokens: 20, Temperature: 1, Seed: 1}},
	{name: "temperature 0.7 top-k top-p", opts: Options{MaxNewTokens: 25, Temperature: 0.7, TopK: 12, TopP: 0.9, Seed: 42, StopTokenIDs: []int32{0, 1}}},
	{name: "top-p only", opts: Options{MaxNewTokens: 25, Temperature: 1.2, TopP: 0.5, Seed: -9}},
	{name: "min-p and penalty", opts: Options{MaxNewTokens: 25, Temperature: 0.9, MinP: 0.2, RepetitionPenalty: 1.5, Seed: 7}},
	// Large enough that the batch is sampled on several goroutines, while a
	// single row is not.
	{name: "parallel rows", vocab: 20000, opts: Options{MaxNewTokens: 12, Temperature: 0.8, TopP: 0.95, Seed: 3}},
	{name: "parallel rows greedy", vocab: 20000, opts: Options{MaxNewTokens: 12}},
}

func TestGenerate_BatchedEqualsSingle(t *testing.T) {
	for _, tc := range samplingCases {
		t.Run(tc.name, func(t *testing.T) {
			m := &fakeModel{vocab: 40}
			if tc.vocab > 0 {
				m.vocab = tc.vocab
			}
			batched, err := Generate(context.Background(), m, testPrompts, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for b, p := range testPrompts {
				o := tc.opts
				o.Streams = []uint64{uint64(b)}
				single, err := Generate(context.Background(), m, [][]int32{p}, o)
				if err != nil {
					t.Fatal(err)
				}
				if !equalResult(single[0], batched[b]) {
					t.Errorf("row %d alone\n got %+v\nwant %+v", b, single[0], batched[b])
				}
			}
		})
	}
}

func equalResult(a, b Result) bool {
	return slices.Equal(a.Tokens, b.Tokens) && slices.Equal(a.Logprobs, b.Logprobs) &&
		slices.Equal(a.RawLogprobs, b.RawLogprobs) && a.FinishReason == b.FinishReason && a.StopString == b.StopString
}

func TestGenerate_Seed(t *testing.T) {
	m := &fakeModel{vocab: 40}
	opts := Options{MaxNewTokens: 30, Temperature: 1, Seed: 123}
	a, err := Generate(context.Background(), m, testPrompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(context.Background(), m, testPrompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Seed = 124
	c, err := Generate(context.Background(), m, testPrompts, opts)
	if err != nil {
		t.Fatal(err)
	}
	differ := 0
	for i := range a {
		if !equalResult(a[i], b[i]) {
			t.Errorf("row %d differs between runs with the same seed", i)
		}
		if !slices.Equal(a[i].Tokens, c[i].Tokens) {
			differ++
		}
		// Rows of one batch use different streams, so two rows with the same
		// prompt would still differ; here the prompts differ anyway.
	}
	if differ == 0 {
		t.Error("seeds 123 and 124 gave the same tokens on every row")
	}
	// The same prompt on two rows draws from two streams.
	same := [][]int32{{3, 3}, {3, 3}}
	r, err := Generate(context.Background(), m, same, Options{MaxNewTokens: 30, Temperature: 1})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(r[0].Tokens, r[1].Tokens) {
		t.Error("two rows with the same prompt sampled the same 30 tokens")
	}
}

// TestGenerate_Logprobs checks both logprob slices against values computed
// here from the fake's logits: the raw one is log-softmax at temperature 1,
// the policy one is log-softmax of logits/T over the top-k set.
func TestGenerate_Logprobs(t *testing.T) {
	m := &fakeModel{vocab: 40}
	const temp, k = 0.6, 7
	res, err := Generate(context.Background(), m, testPrompts, Options{MaxNewTokens: 15, Temperature: temp, TopK: k, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	for b, p := range testPrompts {
		hist := slices.Clone(p)
		for i, tok := range res[b].Tokens {
			logits := fakeLogits(hist, 40)
			raw := refLogSoftmax(logits)[tok]
			if math.Abs(float64(res[b].RawLogprobs[i])-raw) > 1e-5 {
				t.Errorf("row %d token %d raw %v, want %v", b, i, res[b].RawLogprobs[i], raw)
			}
			sorted := slices.Clone(logits)
			slices.Sort(sorted)
			kth := sorted[len(sorted)-k]
			if logits[tok] < kth {
				t.Fatalf("row %d token %d outside the top %d", b, i, k)
			}
			var scaled []float32
			for _, v := range logits {
				if v >= kth {
					scaled = append(scaled, float32(float64(v)/temp))
				}
			}
			want := float64(logits[tok])/temp - logSumExp(scaled)
			if math.Abs(float64(res[b].Logprobs[i])-want) > 1e-4 {
				t.Errorf("row %d token %d policy logprob %v, want %v", b, i, res[b].Logprobs[i], want)
			}
			hist = append(hist, tok)
		}
	}
}

func logSumExp(x []float32) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

func TestGenerate_TemperatureLimit(t *testing.T) {
	m := &fakeModel{vocab: 40}
	greedy, err := Generate(context.Background(), m, testPrompts, Options{MaxNewTokens: 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range []int64{0, 1, 2} {
		cold, err := Generate(context.Background(), m, testPrompts, Options{MaxNewTokens: 30, Temperature: 1e-7, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		for b := range greedy {
			if !slices.Equal(cold[b].Tokens, greedy[b].Tokens) {
				t.Errorf("seed %d row %d: T→0 gave %v, greedy %v", seed, b, cold[b].Tokens, greedy[b].Tokens)
			}
			if !slices.Equal(cold[b].RawLogprobs, greedy[b].RawLogprobs) {
				t.Errorf("seed %d row %d: raw logprobs differ", seed, b)
			}
			for i, lp := range cold[b].Logprobs {
				if lp < -1e-6 || lp > 0 {
					t.Errorf("seed %d row %d: policy logprob %d = %v at T→0, want ≈0", seed, b, i, lp)
				}
			}
		}
	}
}

// letters decodes id v as the letter 'a'+v%26, so a stop string can span tokens.
func letters(ids []int32) string {
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteByte(byte('a' + id%26))
	}
	return sb.String()
}

func TestGenerate_Stop(t *testing.T) {
	m := &fakeModel{vocab: 40}
	free, err := Generate(context.Background(), m, testPrompts[:1], Options{MaxNewTokens: 30})
	if err != nil {
		t.Fatal(err)
	}
	path := free[0].Tokens // the unconstrained greedy path of row 0
	text := letters(path)
	// Stop strings taken from the path itself: the one spanning tokens 5..7
	// and a later one; the earlier must win whatever the list order.
	early, late := text[5:8], text[20:23]
	if strings.Contains(text[:7], early) || strings.Contains(text[:22], late) {
		t.Skip("fake path repeats the stop string early; pick other positions")
	}
	// A stop id and a stop string together: whichever completes first ends the row.
	bothLen, bothString := slices.Index(path, path[20])+1, ""
	if bothLen >= 8 {
		bothLen, bothString = 8, early
	}
	tests := []struct {
		name       string
		opts       Options
		wantLen    int
		wantReason string
		wantString string
	}{
		{name: "stop id", opts: Options{MaxNewTokens: 30, StopTokenIDs: []int32{path[9]}}, wantLen: slices.Index(path, path[9]) + 1, wantReason: FinishStop},
		{name: "stop string spanning tokens", opts: Options{MaxNewTokens: 30, StopStrings: []string{late, early}, Decode: letters}, wantLen: 8, wantReason: FinishStop, wantString: early},
		{name: "stop string and id: first wins", opts: Options{MaxNewTokens: 30, StopTokenIDs: []int32{path[20]}, StopStrings: []string{early}, Decode: letters}, wantLen: bothLen, wantReason: FinishStop, wantString: bothString},
		{name: "length", opts: Options{MaxNewTokens: 4, StopStrings: []string{late}, Decode: letters}, wantLen: 4, wantReason: FinishLength},
		{name: "max len", opts: Options{MaxNewTokens: 30, MaxLen: 9}, wantLen: 9 - len(testPrompts[0]), wantReason: FinishLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Generate(context.Background(), m, testPrompts[:1], tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if !slices.Equal(r.Tokens, path[:tc.wantLen]) {
				t.Errorf("tokens %v, want %v", r.Tokens, path[:tc.wantLen])
			}
			if r.FinishReason != tc.wantReason {
				t.Errorf("finish %q, want %q", r.FinishReason, tc.wantReason)
			}
			if r.StopString != tc.wantString {
				t.Errorf("stop string %q, want %q", r.StopString, tc.wantString)
			}
			if len(r.Logprobs) != len(r.Tokens) || len(r.RawLogprobs) != len(r.Tokens) {
				t.Errorf("lengths %d tokens, %d logprobs, %d raw", len(r.Tokens), len(r.Logprobs), len(r.RawLogprobs))
			}
		})
	}
}

func TestGenerate_Cancel(t *testing.T) {
	t.Run("during decoding", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		m := &fakeModel{vocab: 40}
		m.onAppend = func(call int, l [][]float32) ([][]float32, error) {
			if call == 3 {
				cancel()
			}
			return l, nil
		}
		_, err := Generate(ctx, m, testPrompts, Options{MaxNewTokens: 1000})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if n := len(m.caches[0].fed); n != 3 {
			t.Errorf("%d Appends after cancelling in the 3rd, want 3", n)
		}
		if !m.caches[0].closed {
			t.Error("cache not closed after cancel")
		}
	})
	t.Run("model reports the cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		m := &fakeModel{vocab: 40}
		m.onAppend = func(call int, l [][]float32) ([][]float32, error) {
			if call == 2 {
				cancel()
				return nil, errors.New("interrupted")
			}
			return l, nil
		}
		_, err := Generate(ctx, m, testPrompts, Options{MaxNewTokens: 1000})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
	t.Run("before start", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m := &fakeModel{vocab: 40}
		_, err := Generate(ctx, m, testPrompts, Options{MaxNewTokens: 10})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if len(m.caches) != 0 {
			t.Error("made a cache with a cancelled context")
		}
	})
}

func TestGenerate_Errors(t *testing.T) {
	good := Options{MaxNewTokens: 5}
	with := func(f func(*Options)) Options { o := good; f(&o); return o }
	badRows := func(_ int, l [][]float32) ([][]float32, error) { return l[:1], nil }
	shortRow := func(_ int, l [][]float32) ([][]float32, error) { l[0] = l[0][:3]; return l, nil }
	nanRow := func(_ int, l [][]float32) ([][]float32, error) { l[1][2] = float32(math.NaN()); return l, nil }
	infRow := func(_ int, l [][]float32) ([][]float32, error) { l[0][2] = float32(math.Inf(1)); return l, nil }
	maskedRow := func(_ int, l [][]float32) ([][]float32, error) {
		for i := range l[0] {
			l[0][i] = float32(math.Inf(-1))
		}
		return l, nil
	}
	failAppend := func(call int, l [][]float32) ([][]float32, error) {
		if call == 2 {
			return nil, errors.New("device lost")
		}
		return l, nil
	}
	tests := []struct {
		name     string
		model    *fakeModel
		prompts  [][]int32
		opts     Options
		want     error
		contains string
	}{
		{name: "max new tokens 0", opts: with(func(o *Options) { o.MaxNewTokens = 0 }), want: ErrBadOptions},
		{name: "top-p above 1", opts: with(func(o *Options) { o.TopP = 1.5 }), want: ErrBadOptions},
		{name: "top-p negative", opts: with(func(o *Options) { o.TopP = -0.1 }), want: ErrBadOptions},
		{name: "top-p NaN", opts: with(func(o *Options) { o.TopP = math.NaN() }), want: ErrBadOptions},
		{name: "negative temperature", opts: with(func(o *Options) { o.Temperature = -1 }), want: ErrBadOptions},
		{name: "infinite temperature", opts: with(func(o *Options) { o.Temperature = math.Inf(1) }), want: ErrBadOptions},
		{name: "negative top-k", opts: with(func(o *Options) { o.TopK = -1 }), want: ErrBadOptions},
		{name: "min-p above 1", opts: with(func(o *Options) { o.MinP = 2 }), want: ErrBadOptions},
		{name: "negative penalty", opts: with(func(o *Options) { o.RepetitionPenalty = -1 }), want: ErrBadOptions},
		{name: "stop strings without decode", opts: with(func(o *Options) { o.StopStrings = []string{"x"} }), want: ErrBadOptions},
		{name: "empty stop string", opts: with(func(o *Options) { o.StopStrings = []string{""}; o.Decode = letters }), want: ErrBadOptions},
		{name: "stop id outside vocabulary", opts: with(func(o *Options) { o.StopTokenIDs = []int32{40} }), want: ErrBadOptions},
		{name: "streams length", opts: with(func(o *Options) { o.Streams = []uint64{1} }), want: ErrBadOptions},
		{name: "empty prompt", prompts: [][]int32{{1}, {}}, opts: good, want: ErrEmptyPrompt, contains: "prompt 1"},
		{name: "prompt too long", prompts: [][]int32{{1, 2, 3}}, opts: with(func(o *Options) { o.MaxLen = 3 }), want: ErrPromptTooLong},
		{name: "token outside vocabulary", prompts: [][]int32{{1, 40}}, opts: good, want: ErrBadToken, contains: "position 1"},
		{name: "negative token", prompts: [][]int32{{-1}}, opts: good, want: ErrBadToken},
		{name: "wrong number of rows", model: &fakeModel{vocab: 40, onAppend: badRows}, opts: good, want: ErrBadLogits},
		{name: "wrong number of logits", model: &fakeModel{vocab: 40, onAppend: shortRow}, opts: good, want: ErrBadLogits, contains: "3 logits"},
		{name: "NaN logit", model: &fakeModel{vocab: 40, onAppend: nanRow}, opts: good, want: ErrBadLogits, contains: "row 1"},
		{name: "+Inf logit", model: &fakeModel{vocab: 40, onAppend: infRow}, opts: good, want: ErrBadLogits},
		{name: "all -Inf", model: &fakeModel{vocab: 40, onAppend: maskedRow}, opts: with(func(o *Options) { o.Temperature = 1 }), want: ErrBadLogits},
		{name: "append fails", model: &fakeModel{vocab: 40, onAppend: failAppend}, opts: good, contains: "device lost"},
		{name: "new cache fails", model: &fakeModel{vocab: 40, newCacheErr: errors.New("out of memory")}, opts: good, contains: "out of memory"},
		{name: "close fails", model: &fakeModel{vocab: 40, closeErr: errors.New("double free")}, opts: good, contains: "double free"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.model
			if m == nil {
				m = &fakeModel{vocab: 40}
			}
			prompts := tc.prompts
			if prompts == nil {
				prompts = testPrompts[:2]
			}
			res, err := Generate(context.Background(), m, prompts, tc.opts)
			if err == nil {
				t.Fatalf("no error, results %v", res)
			}
			if res != nil {
				t.Errorf("results %v alongside error", res)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("err %q does not say %q", err, tc.contains)
			}
			for _, c := range m.caches {
				if !c.closed {
					t.Error("cache left open")
				}
			}
		})
	}
	t.Run("nil model", func(t *testing.T) {
		if _, err := Generate(context.Background(), nil, testPrompts, good); !errors.Is(err, ErrBadOptions) {
			t.Errorf("err %v, want ErrBadOptions", err)
		}
	})
}

func TestGenerate_NoPrompts(t *testing.T) {
	m := &fakeModel{vocab: 40}
	res, err := Generate(context.Background(), m, nil, Options{MaxNewTokens: 3})
	if err != nil || len(res) != 0 {
		t.Fatalf("got %v, %v; want no results and no error", res, err)
	}
	if len(m.caches) != 0 {
		t.Error("made a cache for zero prompts")
	}
}
