package generate

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ErrSessionBroken means an earlier call of the Session failed part way
// (a model error, a cancelled context) and its cache no longer matches what
// the rows were fed: the session must be closed.
var ErrSessionBroken = errors.New("generate: session broken by an earlier error")

// Session is a multi-turn batched decoding: one KV cache of a fixed number
// of rows that lives across calls, so that an agent appends each turn's new
// tokens (an observation, a tool result) instead of re-encoding its history.
//
// Feed queues tokens for a row; Generate appends the queued tokens of the
// rows it is given in one prefill and decodes those rows in lockstep until
// each stops. The last token a row generated is not in the cache yet when
// Generate returns (nothing has been conditioned on it); it is queued ahead
// of whatever the row is fed next, so the cache always holds exactly the
// row's sequence: fed and generated tokens in order.
//
// Each row keeps its sampler for the whole session: its random stream
// (Options.Seed and Options.Streams, as in Generate) continues from turn to
// turn instead of restarting, and the repetition penalty sees everything the
// row holds.
//
// A Session is not safe for concurrent use. Close releases the cache.
type Session struct {
	m       Model
	cache   Cache
	opts    Options
	pol     policy
	vocab   int
	maxLen  int // positions per row of the cache
	limit   int // positions per row: maxLen, capped by Options.MaxLen
	stop    map[int32]bool
	samp    []*sampler
	pending [][]int32 // per row: queued tokens, not yet in the cache
	held    []int     // per row: tokens in the cache
	err     error     // set when a call failed part way
	closed  bool

	// scratch reused by Generate
	active []bool
	draws  []draw
	errs   []error
	feed   [][]int32
	next   []int32
}

// NewSession starts a session of rows rows with room for maxLen tokens per
// row (everything fed and generated over all turns); Options.MaxLen, when
// set and smaller, lowers that cap. opts is checked as Generate checks it;
// Options.MaxNewTokens caps each Generate call, and Options.Streams, when
// set, has one entry per row.
func NewSession(ctx context.Context, m Model, rows, maxLen int, opts Options) (*Session, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil model", ErrBadOptions)
	}
	pol, err := opts.policy()
	if err != nil {
		return nil, err
	}
	if rows <= 0 || maxLen <= 0 {
		return nil, fmt.Errorf("%w: session of %d rows, max length %d", ErrBadOptions, rows, maxLen)
	}
	if opts.Streams != nil && len(opts.Streams) != rows {
		return nil, fmt.Errorf("%w: %d streams for %d rows", ErrBadOptions, len(opts.Streams), rows)
	}
	vocab := m.VocabSize()
	if vocab <= 0 {
		return nil, fmt.Errorf("%w: model vocabulary size %d", ErrBadOptions, vocab)
	}
	stop := make(map[int32]bool, len(opts.StopTokenIDs))
	for _, id := range opts.StopTokenIDs {
		if id < 0 || int(id) >= vocab {
			return nil, fmt.Errorf("%w: stop token %d, vocabulary is %d", ErrBadOptions, id, vocab)
		}
		stop[id] = true
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := maxLen
	if opts.MaxLen > 0 {
		limit = min(limit, opts.MaxLen)
	}
	cache, err := m.NewCache(ctx, rows, maxLen)
	if err != nil {
		return nil, fmt.Errorf("generate: new cache (batch %d, max length %d): %w", rows, maxLen, err)
	}
	s := &Session{
		m: m, cache: cache, opts: opts, pol: pol, vocab: vocab, maxLen: maxLen, limit: limit, stop: stop,
		samp:    make([]*sampler, rows),
		pending: make([][]int32, rows),
		held:    make([]int, rows),
		active:  make([]bool, rows),
		draws:   make([]draw, rows),
		errs:    make([]error, rows),
		feed:    make([][]int32, rows),
		next:    make([]int32, rows),
	}
	for b := range s.samp {
		stream := uint64(b)
		if opts.Streams != nil {
			stream = opts.Streams[b]
		}
		s.samp[b] = newSampler(pol, vocab, opts.Seed, stream)
	}
	return s, nil
}

// Rows is the number of rows of the session.
func (s *Session) Rows() int { return len(s.samp) }

// Len reports how many tokens row holds: in the cache plus queued.
func (s *Session) Len(row int) int { return s.held[row] + len(s.pending[row]) }

// Room reports how many more tokens row can take (fed or generated) before
// it is full. A row needs Room >= 1 to generate.
func (s *Session) Room(row int) int { return s.limit - s.Len(row) }

// Feed queues ids (a prompt, an observation, chat-template glue) for row;
// they reach the model with the row's next Generate. The ids are copied.
// It fails with ErrBadToken for an id outside the vocabulary and with
// ErrPromptTooLong when the row would hold more than its maximum length;
// nothing is queued then.
func (s *Session) Feed(row int, ids []int32) error {
	if err := s.usable(); err != nil {
		return err
	}
	if row < 0 || row >= len(s.samp) {
		return fmt.Errorf("%w: row %d of a session of %d", ErrBadOptions, row, len(s.samp))
	}
	for i, id := range ids {
		if id < 0 || int(id) >= s.vocab {
			return fmt.Errorf("%w: row %d, fed position %d holds %d, vocabulary is %d", ErrBadToken, row, i, id, s.vocab)
		}
	}
	if n := s.Len(row) + len(ids); n > s.limit {
		return fmt.Errorf("%w: row %d would hold %d tokens, max length is %d", ErrPromptTooLong, row, n, s.limit)
	}
	s.pending[row] = append(s.pending[row], ids...)
	s.samp[row].observe(ids...)
	return nil
}

// Generate decodes the given rows together until each stops, and returns
// one Result per entry of rows, in that order.
//
// The queued tokens of those rows go to the model in one Append (rows
// not listed keep theirs queued), except that rows holding nothing yet
// and queued the same tokens (a group of episodes of one prompt) share
// one prefill when the cache is a RowAdopter (see [Session.prefill]).
// Then each unfinished row is fed its sampled token, one per step, and a
// row that stops (stop id, stop string, Options.MaxNewTokens new tokens,
// or its maximum length) leaves the batch.
// Stop strings are searched in this call's generated text only.
//
// Every listed row must have queued tokens (a row that generated before has
// its last token queued) and Room >= 1: otherwise Generate fails with
// ErrEmptyPrompt or ErrPromptTooLong before touching the model. A repeated
// row is ErrBadOptions.
//
// Cancelling ctx stops generation between steps (and within the model if it
// honours ctx); Generate then returns ctx.Err(), and the session is broken
// (ErrSessionBroken from then on), as after any error of the model.
func (s *Session) Generate(ctx context.Context, rows []int) ([]Result, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	B := len(s.samp)
	limit := make([]int, B) // new tokens each listed row may generate
	for b := range s.active {
		s.active[b] = false
	}
	for _, b := range rows {
		switch {
		case b < 0 || b >= B:
			return nil, fmt.Errorf("%w: row %d of a session of %d", ErrBadOptions, b, B)
		case s.active[b]:
			return nil, fmt.Errorf("%w: row %d listed twice", ErrBadOptions, b)
		case len(s.pending[b]) == 0:
			return nil, fmt.Errorf("%w: row %d has no queued tokens", ErrEmptyPrompt, b)
		case s.Room(b) < 1:
			return nil, fmt.Errorf("%w: row %d holds %d tokens, max length is %d", ErrPromptTooLong, b, s.Len(b), s.limit)
		}
		s.active[b] = true
		limit[b] = min(s.opts.MaxNewTokens, s.Room(b))
	}
	res := make([]Result, B)
	for _, b := range rows {
		c := min(limit[b], 256) // a guess; MaxNewTokens may be far above what rows use
		res[b] = Result{Tokens: make([]int32, 0, c), Logprobs: make([]float32, 0, c), RawLogprobs: make([]float32, 0, c)}
	}
	if len(rows) == 0 {
		return []Result{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// From the first Append on, a failure leaves the cache out of step with
	// the queues: the session is broken.
	fail := func(err error) ([]Result, error) {
		s.err = err
		return nil, err
	}
	for b := range s.feed {
		s.feed[b] = nil
		if s.active[b] {
			s.feed[b] = s.pending[b]
		}
	}
	logits, err := s.prefill(ctx)
	for _, b := range rows {
		s.held[b] += len(s.pending[b])
		s.pending[b] = s.pending[b][:0]
	}
	nActive := len(rows)
	for step := 0; ; step++ {
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return fail(cerr)
			}
			return fail(fmt.Errorf("generate: step %d: %w", step, err))
		}
		if len(logits) != B {
			return fail(fmt.Errorf("%w: step %d: %d rows of logits for batch %d", ErrBadLogits, step, len(logits), B))
		}
		sampleRows(s.samp, logits, s.active, nActive, s.draws, s.errs)
		for b := range B {
			if !s.active[b] {
				continue
			}
			if s.errs[b] != nil {
				return fail(fmt.Errorf("generate: step %d, row %d: %w", step, b, s.errs[b]))
			}
			d := s.draws[b]
			r := &res[b]
			r.Tokens = append(r.Tokens, d.token)
			r.Logprobs = append(r.Logprobs, d.logprob)
			r.RawLogprobs = append(r.RawLogprobs, d.raw)
			s.samp[b].observe(d.token)
			switch {
			case s.stop[d.token]:
				r.FinishReason = FinishStop
			case len(s.opts.StopStrings) > 0 && r.matchStop(s.opts.StopStrings, s.opts.Decode):
				r.FinishReason = FinishStop
			case len(r.Tokens) >= limit[b]:
				r.FinishReason = FinishLength
			default:
				s.next[b] = d.token
				continue
			}
			// The row's last token waits in its queue: the next turn's
			// prefill conditions on it.
			s.pending[b] = append(s.pending[b], d.token)
			s.active[b] = false
			nActive--
		}
		if nActive == 0 {
			out := make([]Result, len(rows))
			for i, b := range rows {
				out[i] = res[b]
			}
			return out, nil
		}
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		for b := range s.feed {
			s.feed[b] = nil
			if s.active[b] {
				s.feed[b] = s.next[b : b+1 : b+1]
				s.held[b]++
			}
		}
		logits, err = s.cache.Append(ctx, s.feed)
	}
}

// prefill appends s.feed (the active rows' queued tokens) and returns the
// logits after each fed row's last token, nil for the others.
//
// # Why a shared prefill
//
// The G episodes of a GRPO group start from the same prompt, and a batched
// step costs every row the longest row's tokens: G copies of a long system
// prompt cost G prefills. When the cache is a RowAdopter, each set of at
// least two empty rows fed identical tokens is prefilled once, in a
// one-row cache of the same length, whose row every member then adopts
// (a copy of its keys and values); the members share that prefill's
// logits. What the rows hold, and so every later step, matches a prefill
// of each row up to float rounding (the products have other row counts).
// The other rows go through one Append as before.
func (s *Session) prefill(ctx context.Context) ([][]float32, error) {
	ad, ok := s.cache.(RowAdopter)
	if !ok {
		return s.cache.Append(ctx, s.feed)
	}
	var groups [][]int // rows that hold nothing and are fed the same tokens
	for b, f := range s.feed {
		if len(f) == 0 || s.held[b] != 0 {
			continue
		}
		i := slices.IndexFunc(groups, func(g []int) bool { return slices.Equal(s.feed[g[0]], f) })
		if i < 0 {
			groups = append(groups, []int{b})
			continue
		}
		groups[i] = append(groups[i], b)
	}
	logits := make([][]float32, len(s.feed))
	shared := false
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		row, err := s.prefillOnce(ctx, s.feed[g[0]], ad, g)
		if err != nil {
			return nil, err
		}
		for _, b := range g {
			logits[b] = row
			s.feed[b] = nil
		}
		shared = true
	}
	if !shared {
		return s.cache.Append(ctx, s.feed)
	}
	if !slices.ContainsFunc(s.feed, func(f []int32) bool { return len(f) > 0 }) {
		return logits, nil
	}
	rest, err := s.cache.Append(ctx, s.feed)
	if err != nil {
		return nil, err
	}
	if len(rest) != len(logits) {
		return rest, nil // Generate reports the wrong number of rows
	}
	for b, f := range s.feed {
		if len(f) > 0 {
			logits[b] = rest[b]
		}
	}
	return logits, nil
}

// prefillOnce feeds ids to a one-row cache of the session's length, has
// every row of dst adopt that row, and returns the logits after the last
// id (a copy: the one-row cache is closed before return).
func (s *Session) prefillOnce(ctx context.Context, ids []int32, ad RowAdopter, dst []int) ([]float32, error) {
	one, err := s.m.NewCache(ctx, 1, s.maxLen)
	if err != nil {
		return nil, fmt.Errorf("shared prefill: new one-row cache (max length %d): %w", s.maxLen, err)
	}
	defer one.Close()
	lg, err := one.Append(ctx, [][]int32{ids})
	if err != nil {
		return nil, fmt.Errorf("shared prefill of %d tokens: %w", len(ids), err)
	}
	if len(lg) != 1 {
		return nil, fmt.Errorf("%w: shared prefill: %d rows of logits for 1", ErrBadLogits, len(lg))
	}
	row := slices.Clone(lg[0])
	for _, b := range dst {
		if err := ad.Adopt(ctx, b, one, 0); err != nil {
			return nil, fmt.Errorf("shared prefill: row %d adopts the prompt: %w", b, err)
		}
	}
	return row, nil
}

// Close releases the cache. It is safe to call twice.
func (s *Session) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.cache.Close(); err != nil {
		return fmt.Errorf("generate: close cache: %w", err)
	}
	return nil
}

func (s *Session) usable() error {
	switch {
	case s.closed:
		return fmt.Errorf("%w: session closed", ErrBadOptions)
	case s.err != nil:
		return fmt.Errorf("%w: %w", ErrSessionBroken, s.err)
	}
	return nil
}
