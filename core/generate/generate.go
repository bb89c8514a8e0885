package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
)

// Errors returned by Generate, wrapped with the details (which row, which
// step, which value). Test with errors.Is.
var (
	// ErrBadOptions means an Options field is out of range.
	ErrBadOptions = errors.New("generate: invalid options")
	// ErrEmptyPrompt means a prompt has no tokens: there is nothing to
	// condition the first token on.
	ErrEmptyPrompt = errors.New("generate: empty prompt")
	// ErrPromptTooLong means a prompt leaves no room for a new token within
	// Options.MaxLen.
	ErrPromptTooLong = errors.New("generate: prompt too long")
	// ErrBadToken means a prompt holds an id outside [0, VocabSize).
	ErrBadToken = errors.New("generate: token id outside the vocabulary")
	// ErrBadLogits means the model returned logits no distribution can be
	// made of: the wrong number of rows or of entries, NaN, +Inf, or all -Inf.
	ErrBadLogits = errors.New("generate: model returned malformed logits")
)

// Finish reasons, the values of Result.FinishReason.
const (
	FinishStop   = "stop"   // a stop token id or a stop string
	FinishLength = "length" // MaxNewTokens (or MaxLen) reached
)

// Options configure Generate. The zero value of every field but MaxNewTokens
// means "off", so Options{MaxNewTokens: n} is greedy decoding of n tokens.
type Options struct {
	// MaxNewTokens is how many tokens each row may generate; it must be > 0.
	MaxNewTokens int
	// MaxLen, when > 0, caps prompt plus generated tokens per row (the
	// model's context window): a row stops with FinishLength when it is full,
	// and a prompt of MaxLen tokens or more is ErrPromptTooLong.
	MaxLen int

	// Temperature divides the logits before sampling; 0 means greedy
	// (argmax, the lowest id on ties), which ignores TopK, TopP, MinP and Seed.
	Temperature float64
	// TopK, when > 0, keeps the TopK highest logits (and any tied with the
	// TopK-th, as Hugging Face does).
	TopK int
	// TopP, when in (0, 1), keeps the smallest set of most likely tokens whose
	// probability sums to at least TopP (nucleus sampling). 0 and 1 mean off.
	TopP float64
	// MinP, when in (0, 1], drops tokens less likely than MinP times the most
	// likely one. 0 means off.
	MinP float64
	// RepetitionPenalty, when not 0 or 1, divides the positive logits (and
	// multiplies the negative ones) of every token the row already holds,
	// prompt included, before anything else, as Hugging Face's
	// RepetitionPenaltyLogitsProcessor does. It applies to greedy decoding too.
	RepetitionPenalty float64

	// Seed fixes the random draws: the same seed, prompts and options give
	// the same tokens. The zero seed is a seed like any other, so runs are
	// reproducible by default; vary it to get different samples. Every call
	// starts its streams afresh, so a caller that calls Generate once per
	// agent turn should give each call its own Seed (say, a hash of the
	// training step and the turn), or every turn reuses the same random
	// numbers.
	Seed int64
	// Streams, when set (one per prompt), names each row's random stream:
	// row b draws from the stream of (Seed, Streams[b]). When nil row b uses
	// stream b. A row's draws depend only on its own stream, so decoding a
	// prompt alone with Streams: []uint64{i} reproduces row i of a batch.
	Streams []uint64

	// StopTokenIDs end a row when generated (an end-of-sequence id). The
	// stop token is included in Result.Tokens: the model generated it, and
	// training on the trace must see it.
	StopTokenIDs []int32
	// StopStrings end a row as soon as the decoded text of its generated
	// tokens (the prompt is not searched) contains one of them. The token
	// that completed the string is included in Result.Tokens, and the text
	// it decodes to may run past the stop string; Result.StopString says
	// which one matched. Requires Decode.
	StopStrings []string
	// Decode turns generated ids into text, for StopStrings. It is called
	// once per step on all of each active row's generated ids (decoding only
	// the new token would split multi-byte characters and miss strings that
	// span tokens), and the whole text is searched: O(n²) in the generated
	// length n, which is small next to the model's own cost for n in the
	// thousands. It is not called when StopStrings is empty.
	Decode func(ids []int32) string
}

// Result is one row's generation. Tokens, Logprobs and RawLogprobs have the
// same length; entry i describes the i-th generated token.
type Result struct {
	// Tokens are the generated ids, the prompt excluded, the stop token or
	// the token completing the stop string included.
	Tokens []int32
	// Logprobs are log p(token) under the policy actually sampled from: the
	// model's logits after the repetition penalty, temperature, top-k, top-p
	// and min-p, renormalised. This is the behaviour policy's logprob that
	// importance ratios in RL need. Greedy decoding is a point mass, so its
	// Logprobs are all 0.
	Logprobs []float32
	// RawLogprobs are log p(token) under the model itself: log-softmax of the
	// unmodified logits at temperature 1, nothing filtered. This is what a
	// training forward pass of the same weights recomputes, so it is the one
	// to compare against π_old or the reference model.
	RawLogprobs []float32
	// FinishReason is FinishStop or FinishLength.
	FinishReason string
	// StopString is the stop string that ended the row, "" otherwise.
	StopString string
}

// parallelMinWork is the vocab × active rows below which rows are sampled
// on one goroutine: under it, starting goroutines costs more than it saves.
const parallelMinWork = 1 << 16

// Generate decodes every prompt together with one KV cache and returns one
// Result per prompt, in order.
//
// It makes one cache of batch len(prompts) and room for the longest prompt
// plus MaxNewTokens, feeds every prompt in one Append (prefill), then feeds
// each unfinished row its sampled token, one per step. A row that finishes
// (stop id, stop string, length) gets empty slices from then on; Generate
// returns when every row has finished. The cache is closed before return.
//
// Cancelling ctx stops generation between steps (and within the model if it
// honours ctx); Generate then returns ctx.Err() and no results.
//
// Zero prompts give zero results without touching the model.
func Generate(ctx context.Context, m Model, prompts [][]int32, opts Options) (res []Result, err error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil model", ErrBadOptions)
	}
	if _, err := opts.policy(); err != nil {
		return nil, err
	}
	if len(prompts) == 0 {
		return []Result{}, nil
	}
	if opts.Streams != nil && len(opts.Streams) != len(prompts) {
		return nil, fmt.Errorf("%w: %d streams for %d prompts", ErrBadOptions, len(opts.Streams), len(prompts))
	}
	vocab := m.VocabSize()
	if vocab <= 0 {
		return nil, fmt.Errorf("%w: model vocabulary size %d", ErrBadOptions, vocab)
	}
	for _, id := range opts.StopTokenIDs {
		if id < 0 || int(id) >= vocab {
			return nil, fmt.Errorf("%w: stop token %d, vocabulary is %d", ErrBadOptions, id, vocab)
		}
	}

	B := len(prompts)
	maxLen := 0
	for b, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("%w: prompt %d", ErrEmptyPrompt, b)
		}
		if opts.MaxLen > 0 && len(p) >= opts.MaxLen {
			return nil, fmt.Errorf("%w: prompt %d has %d tokens, MaxLen is %d", ErrPromptTooLong, b, len(p), opts.MaxLen)
		}
		for i, id := range p {
			if id < 0 || int(id) >= vocab {
				return nil, fmt.Errorf("%w: prompt %d position %d holds %d, vocabulary is %d", ErrBadToken, b, i, id, vocab)
			}
		}
		limit := opts.MaxNewTokens // new tokens row b may generate
		if opts.MaxLen > 0 {
			limit = min(limit, opts.MaxLen-len(p))
		}
		maxLen = max(maxLen, len(p)+limit)
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := NewSession(ctx, m, B, maxLen, opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			res, err = nil, cerr
		}
	}()
	rows := make([]int, B)
	for b, p := range prompts {
		if err := s.Feed(b, p); err != nil {
			return nil, err
		}
		rows[b] = b
	}
	return s.Generate(ctx, rows)
}

// matchStop reports whether the decoded generated text contains a stop
// string and records the one that occurs first (ending earliest; the longer
// one when two end at the same byte).
func (r *Result) matchStop(stops []string, decode func([]int32) string) bool {
	text := decode(r.Tokens)
	bestEnd, best := math.MaxInt, ""
	for _, s := range stops {
		if i := strings.Index(text, s); i >= 0 {
			if end := i + len(s); end < bestEnd || (end == bestEnd && len(s) > len(best)) {
				bestEnd, best = end, s
			}
		}
	}
	if best == "" {
		return false
	}
	r.StopString = best
	return true
}

// sampleRows draws the next token of every active row, concurrently when
// the work is large enough. Each row has its own sampler and stream, so the
// result does not depend on scheduling.
func sampleRows(samplers []*sampler, logits [][]float32, active []bool, nActive int, draws []draw, errs []error) {
	one := func(b int) { draws[b], errs[b] = samplers[b].sample(logits[b]) }
	workers := min(runtime.GOMAXPROCS(0), nActive)
	if workers <= 1 || nActive*samplers[0].vocab < parallelMinWork {
		for b, a := range active {
			if a {
				one(b)
			}
		}
		return
	}
	rows := make(chan int, nActive)
	for b, a := range active {
		if a {
			rows <- b
		}
	}
	close(rows)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range rows {
				one(b)
			}
		})
	}
	wg.Wait()
}

// policy validates the sampling fields and fills in the "off" values.
func (o Options) policy() (policy, error) {
	bad := func(format string, args ...any) (policy, error) {
		return policy{}, fmt.Errorf("%w: "+format, append([]any{ErrBadOptions}, args...)...)
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case o.MaxNewTokens <= 0:
		return bad("MaxNewTokens is %d, want > 0", o.MaxNewTokens)
	case o.MaxLen < 0:
		return bad("MaxLen is %d, want >= 0", o.MaxLen)
	case !finite(o.Temperature) || o.Temperature < 0:
		return bad("Temperature is %v, want >= 0", o.Temperature)
	case o.TopK < 0:
		return bad("TopK is %d, want >= 0", o.TopK)
	case !finite(o.TopP) || o.TopP < 0 || o.TopP > 1:
		return bad("TopP is %v, want in [0, 1]", o.TopP)
	case !finite(o.MinP) || o.MinP < 0 || o.MinP > 1:
		return bad("MinP is %v, want in [0, 1]", o.MinP)
	case !finite(o.RepetitionPenalty) || o.RepetitionPenalty < 0:
		return bad("RepetitionPenalty is %v, want > 0 (or 0 for off)", o.RepetitionPenalty)
	case len(o.StopStrings) > 0 && o.Decode == nil:
		return bad("StopStrings need Decode")
	}
	for _, s := range o.StopStrings {
		if s == "" {
			return bad("empty stop string")
		}
	}
	p := policy{temperature: o.Temperature, topK: o.TopK, topP: o.TopP, minP: o.MinP, penalty: o.RepetitionPenalty}
	if p.topP == 0 {
		p.topP = 1
	}
	if p.penalty == 0 {
		p.penalty = 1
	}
	return p, nil
}
