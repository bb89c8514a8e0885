package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
)

// ErrBatcherClosed means a Batcher was closed before or while it decoded a
// request.
var ErrBatcherClosed = errors.New("generate: batcher closed")

// RowResetter is a Cache whose rows can be emptied one at a time, so that a
// new sequence starts in a row while the others go on (core/model's Cache
// is one). A [Batcher] needs it.
type RowResetter interface {
	// Reset empties rows: they hold no tokens afterwards, and what they held
	// has no effect on what they are fed next.
	Reset(ctx context.Context, rows []int) error
}

// RowAdopter is a Cache that can take over a row of another cache of the
// same model and length (core/model's Cache is one). With it a [Batcher]
// prefills a joining prompt alone in a one-row cache and copies that row
// in, instead of padding every row of the batch to the prompt's length for
// one step; with it a [Session] prefills a prompt that several empty rows
// are fed once, and each of those rows adopts it.
type RowAdopter interface {
	// Adopt replaces row dst with row src of from: what it holds and its
	// length.
	Adopt(ctx context.Context, dst int, from Cache, src int) error
}

// TopToken is one of the most likely tokens at a position, with its logprob
// under the model (temperature 1, nothing filtered).
type TopToken struct {
	ID      int32
	Logprob float32
}

// Token is a generated token as a [Batcher] reports it while decoding.
type Token struct {
	ID int32
	// Logprob and RawLogprob are as in Result.
	Logprob, RawLogprob float32
	// Top are the TopLogprobs most likely tokens, most likely first (nil
	// when none were asked for).
	Top []TopToken
}

// BatchRequest is one sequence for a [Batcher].
type BatchRequest struct {
	// Prompt is the sequence to continue; it must not be empty.
	Prompt []int32
	// Options are the sampling and stop options of this sequence, as
	// Generate reads them. Options.MaxLen, when set, lowers the batcher's
	// row length for it; Options.Streams is ignored (the row draws from
	// stream 0 of Options.Seed, so the same request with the same seed gets
	// the same tokens whatever else is decoding).
	Options Options
	// TopLogprobs is how many most likely tokens each Token lists.
	TopLogprobs int
	// OnToken, when set, sees each token as soon as it is sampled, on the
	// batcher's goroutine: it must return quickly. An error from it ends the
	// request with that error.
	OnToken func(Token) error
}

// Batcher decodes requests that arrive at different times in one KV cache
// of a fixed number of rows (continuous batching). A request takes a free
// row between two decode steps: its prompt is prefilled alone and its row
// copied into the batch when the cache is a RowAdopter (else the prompt is
// fed in the same Append as the next token of the rows already decoding),
// and it leaves its row when it stops (or its context ends), freeing the
// row for the next request. Each
// row has its own sampler and options, so a request decodes the same tokens
// alone or next to others (up to the arithmetic of a batched step).
//
// Create one with [NewBatcher]; it is safe for concurrent use. Close stops
// it.
type Batcher struct {
	m      Model
	cache  Cache
	rows   int
	maxLen int
	vocab  int
	jobs   chan *batchJob
	// prefill is the one-row cache where a joining prompt is read when the
	// main cache can adopt rows; prefillLogits are its last logits.
	prefill       Cache
	prefillLogits []float32
	quit          chan struct{}
	done          chan struct{}
	once          sync.Once
}

// batchJob is a request inside the batcher.
type batchJob struct {
	ctx   context.Context
	req   BatchRequest
	stop  map[int32]bool
	limit int // new tokens it may generate
	samp  *sampler
	res   Result
	next  []int32 // what its row is fed at the next step
	err   error
	done  chan struct{}
}

// NewBatcher makes a Batcher of rows rows with room for maxLen tokens per
// row (prompt plus generated tokens) on m, whose caches must implement
// RowResetter. The cache is made now; Close releases it.
func NewBatcher(ctx context.Context, m Model, rows, maxLen int) (*Batcher, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil model", ErrBadOptions)
	}
	if rows <= 0 || maxLen <= 1 {
		return nil, fmt.Errorf("%w: batcher of %d rows, max length %d", ErrBadOptions, rows, maxLen)
	}
	vocab := m.VocabSize()
	if vocab <= 0 {
		return nil, fmt.Errorf("%w: model vocabulary size %d", ErrBadOptions, vocab)
	}
	cache, err := m.NewCache(ctx, rows, maxLen)
	if err != nil {
		return nil, fmt.Errorf("generate: batcher cache (%d rows, max length %d): %w", rows, maxLen, err)
	}
	if _, ok := cache.(RowResetter); !ok {
		cache.Close()
		return nil, fmt.Errorf("%w: the model's cache (%T) cannot reset a row", ErrBadOptions, cache)
	}
	b := &Batcher{m: m, cache: cache, rows: rows, maxLen: maxLen, vocab: vocab,
		jobs: make(chan *batchJob), quit: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b, nil
}

// Rows is how many requests decode at a time.
func (b *Batcher) Rows() int { return b.rows }

// MaxLen is the longest sequence a row holds, prompt included.
func (b *Batcher) MaxLen() int { return b.maxLen }

// Generate decodes req in the next free row and returns its result. It
// checks req as Generate checks a prompt and its options (ErrPromptTooLong
// for a prompt that leaves no room within MaxLen). It waits for a row as
// long as ctx allows; cancelling ctx while it decodes frees its row at the
// next step. The error then wraps ctx.Err().
func (b *Batcher) Generate(ctx context.Context, req BatchRequest) (Result, error) {
	j, err := b.newJob(ctx, req)
	if err != nil {
		return Result{}, err
	}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-b.done:
		return Result{}, ErrBatcherClosed
	}
	<-j.done
	return j.res, j.err
}

func (b *Batcher) newJob(ctx context.Context, req BatchRequest) (*batchJob, error) {
	pol, err := req.Options.policy()
	if err != nil {
		return nil, err
	}
	if req.TopLogprobs < 0 || req.TopLogprobs > b.vocab {
		return nil, fmt.Errorf("%w: TopLogprobs is %d", ErrBadOptions, req.TopLogprobs)
	}
	if len(req.Prompt) == 0 {
		return nil, ErrEmptyPrompt
	}
	maxLen := b.maxLen
	if req.Options.MaxLen > 0 {
		maxLen = min(maxLen, req.Options.MaxLen)
	}
	if len(req.Prompt) >= maxLen {
		return nil, fmt.Errorf("%w: the prompt has %d tokens, the row holds %d", ErrPromptTooLong, len(req.Prompt), maxLen)
	}
	for i, id := range req.Prompt {
		if id < 0 || int(id) >= b.vocab {
			return nil, fmt.Errorf("%w: prompt position %d holds %d, vocabulary is %d", ErrBadToken, i, id, b.vocab)
		}
	}
	stop := make(map[int32]bool, len(req.Options.StopTokenIDs))
	for _, id := range req.Options.StopTokenIDs {
		if id < 0 || int(id) >= b.vocab {
			return nil, fmt.Errorf("%w: stop token %d, vocabulary is %d", ErrBadOptions, id, b.vocab)
		}
		stop[id] = true
	}
	samp := newSampler(pol, b.vocab, req.Options.Seed, 0)
	samp.observe(req.Prompt...)
	limit := min(req.Options.MaxNewTokens, maxLen-len(req.Prompt))
	return &batchJob{ctx: ctx, req: req, stop: stop, limit: limit, samp: samp,
		next: req.Prompt, done: make(chan struct{})}, nil
}

// Close stops the batcher: requests decoding or waiting fail with
// ErrBatcherClosed, and the cache is released. It is safe to call twice.
func (b *Batcher) Close() error {
	b.once.Do(func() { close(b.quit) })
	<-b.done
	return nil
}

// finish ends a job with err (nil: its result is complete).
func (j *batchJob) finish(err error) {
	j.err = err
	if err != nil {
		j.res = Result{}
	}
	close(j.done)
}

// loop is the batcher's goroutine: admit requests into free rows, step,
// sample, retire finished rows, until Close.
func (b *Batcher) loop() {
	slots := make([]*batchJob, b.rows)
	feed := make([][]int32, b.rows)
	var fresh []int
	defer func() {
		for _, j := range slots {
			if j != nil {
				j.finish(ErrBatcherClosed)
			}
		}
		b.cache.Close()
		if b.prefill != nil {
			b.prefill.Close()
		}
		close(b.done)
	}()
	ctx := context.Background()
	for {
		// Admit: wait for a request when idle, else take those already
		// waiting, one per free row.
		fresh = fresh[:0]
		active := 0
		for _, j := range slots {
			if j != nil {
				active++
			}
		}
		for r := range slots {
			if slots[r] != nil {
				continue
			}
			var j *batchJob
			if active == 0 && len(fresh) == 0 {
				select {
				case j = <-b.jobs:
				case <-b.quit:
					return
				}
			} else {
				select {
				case j = <-b.jobs:
				case <-b.quit:
					return
				default:
				}
			}
			if j == nil {
				break
			}
			if err := j.ctx.Err(); err != nil {
				j.finish(err)
				continue
			}
			slots[r] = j
			fresh = append(fresh, r)
		}
		if len(fresh) > 0 {
			if err := b.join(slots, fresh); err != nil {
				b.failAll(slots, err)
				continue
			}
		}
		for r, j := range slots {
			feed[r] = nil
			if j != nil {
				feed[r] = j.next
			}
		}
		logits, err := b.cache.Append(ctx, feed)
		if err == nil && len(logits) != b.rows {
			err = fmt.Errorf("%w: %d rows of logits for batch %d", ErrBadLogits, len(logits), b.rows)
		}
		if err != nil {
			b.failAll(slots, fmt.Errorf("generate: batcher step: %w", err))
			continue
		}
		for r, j := range slots {
			if j != nil && b.advance(j, logits[r]) {
				slots[r] = nil
			}
		}
	}
}

// join starts the jobs just placed in rows fresh. Where the cache can adopt
// a row, each prompt is prefilled alone in a one-row cache, its first
// token sampled, and the row copied in; otherwise the rows are reset and
// the prompts go with the next batch step. An error breaks the cache.
func (b *Batcher) join(slots []*batchJob, fresh []int) error {
	ctx := context.Background()
	ad, ok := b.cache.(RowAdopter)
	if !ok {
		if err := b.cache.(RowResetter).Reset(ctx, fresh); err != nil {
			return fmt.Errorf("generate: batcher reset: %w", err)
		}
		return nil
	}
	for _, r := range fresh {
		j := slots[r]
		if err := b.prefillRow(ctx, j); err != nil {
			j.finish(err)
			slots[r] = nil
			continue
		}
		if err := ad.Adopt(ctx, r, b.prefill, 0); err != nil {
			return fmt.Errorf("generate: batcher adopt: %w", err)
		}
		if b.advance(j, b.prefillLogits) {
			slots[r] = nil
		}
	}
	return nil
}

// prefillRow feeds j's prompt to the one-row prefill cache, made on first
// use and emptied after each prompt.
func (b *Batcher) prefillRow(ctx context.Context, j *batchJob) error {
	if b.prefill == nil {
		c, err := b.m.NewCache(ctx, 1, b.maxLen)
		if err != nil {
			return fmt.Errorf("generate: batcher prefill cache: %w", err)
		}
		if _, ok := c.(RowResetter); !ok {
			c.Close()
			return fmt.Errorf("%w: the model's cache (%T) cannot reset a row", ErrBadOptions, c)
		}
		b.prefill = c
	} else if err := b.prefill.(RowResetter).Reset(ctx, []int{0}); err != nil {
		b.prefill.Close()
		b.prefill = nil
		return fmt.Errorf("generate: batcher prefill reset: %w", err)
	}
	logits, err := b.prefill.Append(ctx, [][]int32{j.req.Prompt})
	if err == nil && (len(logits) != 1 || logits[0] == nil) {
		err = fmt.Errorf("%w: prefill returned %d rows of logits", ErrBadLogits, len(logits))
	}
	if err != nil {
		b.prefill.Close()
		b.prefill = nil
		return fmt.Errorf("generate: batcher prefill: %w", err)
	}
	b.prefillLogits = logits[0]
	return nil
}

// advance samples a job's next token from its row's logits and reports
// whether the job is over (finished, failed or cancelled).
func (b *Batcher) advance(j *batchJob, logits []float32) bool {
	if err := j.ctx.Err(); err != nil {
		j.finish(err)
		return true
	}
	d, err := j.samp.sample(logits)
	if err != nil {
		j.finish(err)
		return true
	}
	r := &j.res
	r.Tokens = append(r.Tokens, d.token)
	r.Logprobs = append(r.Logprobs, d.logprob)
	r.RawLogprobs = append(r.RawLogprobs, d.raw)
	j.samp.observe(d.token)
	if j.req.OnToken != nil {
		t := Token{ID: d.token, Logprob: d.logprob, RawLogprob: d.raw}
		if j.req.TopLogprobs > 0 {
			t.Top = topLogprobs(logits, j.req.TopLogprobs)
		}
		if err := j.req.OnToken(t); err != nil {
			j.finish(err)
			return true
		}
	}
	o := &j.req.Options
	switch {
	case j.stop[d.token]:
		r.FinishReason = FinishStop
	case len(o.StopStrings) > 0 && r.matchStop(o.StopStrings, o.Decode):
		r.FinishReason = FinishStop
	case len(r.Tokens) >= j.limit:
		r.FinishReason = FinishLength
	default:
		j.next = []int32{d.token}
		return false
	}
	j.finish(nil)
	return true
}

// failAll ends every job in slots with err and replaces the cache, whose
// rows no longer match what they were fed. When no new cache can be made,
// the batcher stops.
func (b *Batcher) failAll(slots []*batchJob, err error) {
	for r, j := range slots {
		if j != nil {
			j.finish(err)
			slots[r] = nil
		}
	}
	b.cache.Close()
	c, cerr := b.m.NewCache(context.Background(), b.rows, b.maxLen)
	if cerr != nil {
		b.cache = closedCache{err: cerr}
		return
	}
	b.cache = c
}

// closedCache stands for a cache that could not be remade: every call
// fails with the error that stopped it.
type closedCache struct{ err error }

func (c closedCache) Append(context.Context, [][]int32) ([][]float32, error) { return nil, c.err }
func (c closedCache) Reset(context.Context, []int) error                     { return c.err }
func (c closedCache) Len(int) int                                            { return 0 }
func (c closedCache) Close() error                                           { return nil }

// topLogprobs returns the n most likely tokens of logits with their
// log-softmax, most likely first (the lower id first on ties).
func topLogprobs(logits []float32, n int) []TopToken {
	top := make([]TopToken, 0, n+1)
	m := float32(math.Inf(-1))
	for _, v := range logits {
		m = max(m, v)
	}
	sum := 0.0
	for i, v := range logits {
		sum += math.Exp(float64(v - m))
		if len(top) == n && v <= top[n-1].Logprob {
			continue
		}
		// Insert by value, keeping the n largest (raw logits for now).
		k := len(top)
		top = append(top, TopToken{})
		for k > 0 && top[k-1].Logprob < v {
			top[k] = top[k-1]
			k--
		}
		top[k] = TopToken{ID: int32(i), Logprob: v}
		if len(top) > n {
			top = top[:n]
		}
	}
	lse := float64(m) + math.Log(sum)
	for i := range top {
		top[i].Logprob = float32(float64(top[i].Logprob) - lse)
	}
	return top
}
