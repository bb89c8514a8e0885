package generate

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/toolbrain/toolbrain/internal/cputime"
)

// qwenVocab is the vocabulary of the Qwen2/Qwen3 families.
const qwenVocab = 151936

// lmLogits imitates a language model's logits: a broad normal floor and a
// few dozen tokens well above it, so the nucleus holds tens of tokens.
func lmLogits(r *rand.Rand, vocab int) []float32 {
	out := make([]float32, vocab)
	for i := range out {
		out[i] = float32(r.NormFloat64() * 2.5)
	}
	for range 30 {
		out[r.IntN(vocab)] += 8 + float32(r.Float64()*6)
	}
	return out
}

var benchPolicies = []struct {
	name string
	opts Options
}{
	{name: "greedy", opts: Options{MaxNewTokens: 1}},
	{name: "T=1", opts: Options{MaxNewTokens: 1, Temperature: 1}},
	{name: "T=0.7", opts: Options{MaxNewTokens: 1, Temperature: 0.7}},
	{name: "T=0.7,top-k=20,top-p=0.8", opts: Options{MaxNewTokens: 1, Temperature: 0.7, TopK: 20, TopP: 0.8}},
	{name: "T=1,top-p=0.9", opts: Options{MaxNewTokens: 1, Temperature: 1, TopP: 0.9}},
	{name: "T=1,top-p=0.999", opts: Options{MaxNewTokens: 1, Temperature: 1, TopP: 0.999}},
	{name: "T=1,min-p=0.05", opts: Options{MaxNewTokens: 1, Temperature: 1, MinP: 0.05}},
	{name: "T=0.7,penalty=1.1", opts: Options{MaxNewTokens: 1, Temperature: 0.7, RepetitionPenalty: 1.1}},
}

// BenchmarkSample is the per-token sampling cost of one row at Qwen's vocabulary.
func BenchmarkSample(b *testing.B) {
	logits := lmLogits(rand.New(rand.NewPCG(1, 1)), qwenVocab)
	for _, bp := range benchPolicies {
		b.Run(bp.name, func(b *testing.B) {
			pol, err := bp.opts.policy()
			if err != nil {
				b.Fatal(err)
			}
			s := newSampler(pol, qwenVocab, 1, 0)
			for i := range 500 {
				s.observe(int32(i * 97))
			}
			b.ReportAllocs()
			cpu := cputime.Process()
			for b.Loop() {
				if _, err := s.sample(logits); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// tableModel serves logits from a fixed table, picked by a hash of the row's
// history, so Generate's own cost is what a benchmark measures.
type tableModel struct{ table [][]float32 }

func (m *tableModel) VocabSize() int { return len(m.table[0]) }

func (m *tableModel) NewCache(_ context.Context, batch, _ int) (Cache, error) {
	return &tableCache{m: m, h: make([]uint64, batch), n: make([]int, batch)}, nil
}

type tableCache struct {
	m *tableModel
	h []uint64
	n []int
}

func (c *tableCache) Append(_ context.Context, tokens [][]int32) ([][]float32, error) {
	out := make([][]float32, len(tokens))
	for b, t := range tokens {
		for _, id := range t {
			c.h[b] = splitmix(c.h[b] ^ uint64(id))
			c.n[b]++
		}
		if len(t) > 0 {
			out[b] = c.m.table[c.h[b]%uint64(len(c.m.table))]
		}
	}
	return out, nil
}

func (c *tableCache) Len(b int) int { return c.n[b] }
func (c *tableCache) Close() error  { return nil }

// BenchmarkGenerate decodes 8 rows of 64 tokens at Qwen's vocabulary with a
// model that costs nothing, so ns/op ÷ 512 is the generator's overhead per
// token (sampling, bookkeeping, stop checks).
func BenchmarkGenerate(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	m := &tableModel{}
	for range 16 {
		m.table = append(m.table, lmLogits(r, qwenVocab))
	}
	prompts := make([][]int32, 8)
	for i := range prompts {
		for j := range 10 + 7*i {
			prompts[i] = append(prompts[i], int32((i*1000+j*31)%qwenVocab))
		}
	}
	for _, bp := range []struct {
		name string
		opts Options
	}{
		{name: "B=8,greedy", opts: Options{MaxNewTokens: 64}},
		{name: "B=8,T=0.7,top-k=20,top-p=0.8", opts: Options{MaxNewTokens: 64, Temperature: 0.7, TopK: 20, TopP: 0.8}},
		{name: "B=8,T=1,top-p=0.9,stop-strings", opts: Options{MaxNewTokens: 64, Temperature: 1, TopP: 0.9,
			StopStrings: []string{"</tool_call>", "\n\nObservation:"}, Decode: letters}},
	} {
		b.Run(bp.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cputime.Process()
			for b.Loop() {
				res, err := Generate(context.Background(), m, prompts, bp.opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(res[0].Tokens) != 64 {
					b.Fatalf("row 0 generated %d tokens", len(res[0].Tokens))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*8*64), "ns/token")
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N*8*64), "cpu-ns/token")
		})
	}
}
