package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/toolbrain/toolbrain/core/backend/cpu"
)

// BenchConfig is the benchmark shape of the reference figures in
// docs/PERFORMANCE.md (and of ../shared/bench/torch_bench.py): hidden 256,
// 2 layers, 4 heads, FFN 1024, vocab 512.
func BenchConfig() Config {
	return Config{
		Architecture: Llama, HiddenSize: 256, IntermediateSize: 1024, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 4, RopeTheta: 10000, RMSNormEps: 1e-6,
		VocabSize: 512, MaxPositionEmbeddings: 4096, BOSTokenID: 1, EOSTokenIDs: []int{2},
	}
}

// BenchResult is one benchmark's figures, ready to print as JSON.
type BenchResult struct {
	Kind  string `json:"kind"` // "forward" or "decode"
	Batch int    `json:"batch"`
	// Seq is the sequence length (forward) or the cache length (decode).
	Seq   int `json:"seq"`
	Iters int `json:"iters"`
	// FirstCallMS includes compiling the graph.
	FirstCallMS float64 `json:"first_call_ms"`
	// WarmCallMS is the mean of the later calls (forward) or decode steps.
	WarmCallMS   float64 `json:"warm_call_ms"`
	TokensPerSec float64 `json:"tokens_per_sec"`
	// StepMSAt20 and StepMSAt500 are mean decode-step times around those
	// positions (decode only, when the cache reaches them).
	StepMSAt20  float64 `json:"step_ms_at_20,omitempty"`
	StepMSAt500 float64 `json:"step_ms_at_500,omitempty"`
	// Quant is the LoadOptions.Quant of the model ("" = float32).
	Quant string `json:"quant,omitempty"`
	// LinearWeightBytes and OtherWeightBytes are Model.WeightBytes: the
	// resident bytes of the projections and of everything else.
	LinearWeightBytes int64 `json:"linear_weight_bytes"`
	OtherWeightBytes  int64 `json:"other_weight_bytes"`
	// AllocPerStep is what the backend allocated per warm call or decode
	// step (fresh storage, and buffers its free list served), when it is
	// the "cpu" backend.
	AllocPerStep *cpu.StepAlloc `json:"alloc_per_step,omitempty"`
}

// Qwen25HalfBConfig has the shapes of Qwen2.5-0.5B (hidden 896, 24
// layers, 14 heads over 2 KV heads, FFN 4864, vocab 151,936, tied
// embeddings), for memory and speed figures with random weights.
func Qwen25HalfBConfig() Config {
	return Config{
		Architecture: Qwen2, HiddenSize: 896, IntermediateSize: 4864, NumHiddenLayers: 24,
		NumAttentionHeads: 14, NumKeyValueHeads: 2, RopeTheta: 1e6, RMSNormEps: 1e-6,
		VocabSize: 151936, MaxPositionEmbeddings: 32768, TieWordEmbeddings: true, AttentionBias: true,
		BOSTokenID: 151643, EOSTokenIDs: []int{151645},
	}
}

func benchModel(backend backends.Backend, cfg Config, opts LoadOptions) (*Model, error) {
	return New(backend, cfg, MapSource(RandomWeights(cfg, 1)), opts)
}

// withBytes records the model's resident weight bytes in r.
func withBytes(r *BenchResult, m *Model, opts LoadOptions) {
	r.Quant = opts.Quant
	r.LinearWeightBytes, r.OtherWeightBytes = m.WeightBytes()
}

func randomIDs(rng *rand.Rand, batch, seq, vocab int) [][]int32 {
	ids := make([][]int32, batch)
	for b := range ids {
		ids[b] = make([]int32, seq)
		for t := range ids[b] {
			ids[b][t] = int32(rng.IntN(vocab))
		}
	}
	return ids
}

// BenchForward times Logits on batch × seq random tokens with random
// weights: one first call (compiling), then iters warm calls.
func BenchForward(ctx context.Context, backend backends.Backend, cfg Config, batch, seq, iters int, opts LoadOptions) (BenchResult, error) {
	if batch <= 0 || seq <= 0 || iters <= 0 {
		return BenchResult{}, fmt.Errorf("%w: bench forward needs positive batch, seq and iters", ErrInput)
	}
	m, err := benchModel(backend, cfg, opts)
	if err != nil {
		return BenchResult{}, err
	}
	defer m.Close()
	ids := randomIDs(rand.New(rand.NewPCG(1, 2)), batch, seq, cfg.VocabSize)
	r := BenchResult{Kind: "forward", Batch: batch, Seq: seq, Iters: iters}
	withBytes(&r, m, opts)
	t0 := time.Now()
	if _, err := m.Logits(ctx, ids); err != nil {
		return r, err
	}
	r.FirstCallMS = ms(time.Since(t0))
	meter := cpu.NewMeter(backend)
	t0 = time.Now()
	err = meter.Measure(func() error {
		for range iters {
			if _, err := m.Logits(ctx, ids); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	warm := time.Since(t0)
	r.AllocPerStep = meter.PerStep(iters)
	r.WarmCallMS = ms(warm) / float64(iters)
	r.TokensPerSec = float64(batch*seq*iters) / warm.Seconds()
	return r, nil
}

// BenchDecode decodes batch rows one token per step from a one-token
// prompt until each row holds maxLen tokens, and reports the mean step
// time, tokens per second (batch × steps / time) and the step times around
// positions 20 and 500.
func BenchDecode(ctx context.Context, backend backends.Backend, cfg Config, batch, maxLen int, opts LoadOptions) (BenchResult, error) {
	if batch <= 0 || maxLen < 2 {
		return BenchResult{}, fmt.Errorf("%w: bench decode needs batch > 0 and maxLen ≥ 2", ErrInput)
	}
	m, err := benchModel(backend, cfg, opts)
	if err != nil {
		return BenchResult{}, err
	}
	defer m.Close()
	c, err := m.newCache(ctx, batch, maxLen)
	if err != nil {
		return BenchResult{}, err
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	r := BenchResult{Kind: "decode", Batch: batch, Seq: maxLen, Iters: maxLen - 1}
	withBytes(&r, m, opts)
	meter := cpu.NewMeter(backend)
	step := func() (time.Duration, error) {
		toks := randomIDs(rng, batch, 1, cfg.VocabSize)
		t0 := time.Now()
		_, err := c.Append(ctx, toks)
		return time.Since(t0), err
	}
	d, err := step() // prompt of one token; compiles the graph
	if err != nil {
		return r, err
	}
	r.FirstCallMS = ms(d)
	var total, at20, at500 time.Duration
	var n20, n500 int
	for pos := 1; pos < maxLen; pos++ {
		var d time.Duration
		err := meter.Measure(func() (err error) {
			d, err = step()
			return err
		})
		if err != nil {
			return r, err
		}
		total += d
		if pos >= 16 && pos < 24 {
			at20 += d
			n20++
		}
		if pos >= 496 && pos < 504 {
			at500 += d
			n500++
		}
	}
	r.WarmCallMS = ms(total) / float64(maxLen-1)
	r.AllocPerStep = meter.PerStep(maxLen - 1)
	r.TokensPerSec = float64(batch*(maxLen-1)) / total.Seconds()
	if n20 > 0 {
		r.StepMSAt20 = ms(at20) / float64(n20)
	}
	if n500 > 0 {
		r.StepMSAt500 = ms(at500) / float64(n500)
	}
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
