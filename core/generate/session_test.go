package generate

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

// TestSession_OneTurnEqualsGenerate: a session fed the prompts and decoded
// once gives exactly what Generate gives, greedy and sampled.
func TestSession_OneTurnEqualsGenerate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{name: "greedy", opts: Options{MaxNewTokens: 20, StopTokenIDs: []int32{3}}},
		{name: "sampled", opts: Options{MaxNewTokens: 20, Temperature: 0.8, TopK: 12, TopP: 0.9, Seed: 5, RepetitionPenalty: 1.2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			want, err := Generate(ctx, &fakeModel{vocab: 40}, testPrompts, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewSession(ctx, &fakeModel{vocab: 40}, len(testPrompts), 64, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rows := make([]int, len(testPrompts))
			for b, p := range testPrompts {
				if err := s.Feed(b, p); err != nil {
					t.Fatal(err)
				}
				rows[b] = b
			}
			got, err := s.Generate(ctx, rows)
			if err != nil {
				t.Fatal(err)
			}
			for b := range want {
				if !equalResult(got[b], want[b]) {
					t.Errorf("row %d: session %+v, Generate %+v", b, got[b], want[b])
				}
			}
		})
	}
}

// TestSession_MultiTurn feeds observations between turns and decodes a
// subset of rows each turn. The fake's logits hash the row's whole history,
// so every raw logprob equals the log-softmax of the logits recomputed on
// the full concatenation (fed and generated ids in order) only if the cache
// holds exactly that sequence; and the fake's own record of each row must
// be that sequence.
func TestSession_MultiTurn(t *testing.T) {
	ctx := context.Background()
	m := &fakeModel{vocab: 40}
	opts := Options{MaxNewTokens: 6, Temperature: 1, Seed: 9}
	s, err := NewSession(ctx, m, 3, 200, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	history := make([][]int32, 3) // what each row should hold
	feed := func(row int, ids []int32) {
		t.Helper()
		if err := s.Feed(row, ids); err != nil {
			t.Fatal(err)
		}
		history[row] = append(history[row], ids...)
	}
	feed(0, []int32{1, 2, 3})
	feed(1, []int32{7})
	feed(2, []int32{9, 9, 4})
	turns := []struct {
		rows []int
		obs  [][]int32 // fed after the turn, per row (nil: nothing)
	}{
		{rows: []int{0, 1, 2}, obs: [][]int32{{11, 12}, nil, {5}}},
		{rows: []int{2, 0}, obs: [][]int32{{13}, nil, {6, 6, 6, 6}}},
		{rows: []int{1}, obs: [][]int32{nil, {1}, nil}},
		{rows: []int{0, 1, 2}},
	}
	for ti, turn := range turns {
		res, err := s.Generate(ctx, turn.rows)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range turn.rows {
			r := res[i]
			if len(r.Tokens) != 6 {
				t.Fatalf("turn %d row %d: %d tokens", ti, b, len(r.Tokens))
			}
			for j, tok := range r.Tokens {
				want := refLogSoftmax(fakeLogits(history[b], 40))[tok]
				if math.Abs(float64(r.RawLogprobs[j])-want) > 1e-5 {
					t.Fatalf("turn %d row %d token %d: raw logprob %v, full history gives %v", ti, b, j, r.RawLogprobs[j], want)
				}
				history[b] = append(history[b], tok)
			}
		}
		for b, o := range turn.obs {
			if o != nil {
				feed(b, o)
			}
		}
	}
	cache := m.caches[0]
	for b := range history {
		// The last generated token of each row is queued, not yet appended.
		if got, want := cache.rows[b], history[b][:len(history[b])-1]; !slices.Equal(got, want) {
			t.Errorf("row %d: cache holds %v, want %v", b, got, want)
		}
		if s.Len(b) != len(history[b]) || s.Room(b) != 200-len(history[b]) {
			t.Errorf("row %d: Len %d Room %d, history %d", b, s.Len(b), s.Room(b), len(history[b]))
		}
	}
}

// TestSession_StreamContinues: two turns of n tokens with nothing fed
// between them equal one turn of 2n: the row's random stream and history go
// on instead of restarting.
func TestSession_StreamContinues(t *testing.T) {
	ctx := context.Background()
	opts := Options{MaxNewTokens: 16, Temperature: 0.9, TopP: 0.95, Seed: 3, Streams: []uint64{4, 8}}
	long := opts
	long.MaxNewTokens = 32
	want, err := Generate(ctx, &fakeModel{vocab: 50}, testPrompts[:2], long)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(ctx, &fakeModel{vocab: 50}, 2, 64, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for b := range 2 {
		if err := s.Feed(b, testPrompts[b]); err != nil {
			t.Fatal(err)
		}
	}
	got := make([][]int32, 2)
	for range 2 {
		res, err := s.Generate(ctx, []int{0, 1})
		if err != nil {
			t.Fatal(err)
		}
		for b := range res {
			got[b] = append(got[b], res[b].Tokens...)
		}
	}
	for b := range got {
		if !slices.Equal(got[b], want[b].Tokens) {
			t.Errorf("row %d: two turns %v, one turn %v", b, got[b], want[b].Tokens)
		}
	}
}

func TestSession_Errors(t *testing.T) {
	ctx := context.Background()
	newSession := func(t *testing.T, m *fakeModel) *Session {
		t.Helper()
		s, err := NewSession(ctx, m, 2, 8, Options{MaxNewTokens: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	boom := errors.New("boom")
	tests := []struct {
		name string
		run  func(t *testing.T) error
		want error
	}{
		{name: "no rows", want: ErrBadOptions, run: func(t *testing.T) error {
			_, err := NewSession(ctx, &fakeModel{vocab: 10}, 0, 8, Options{MaxNewTokens: 1})
			return err
		}},
		{name: "bad streams", want: ErrBadOptions, run: func(t *testing.T) error {
			_, err := NewSession(ctx, &fakeModel{vocab: 10}, 2, 8, Options{MaxNewTokens: 1, Streams: []uint64{1}})
			return err
		}},
		{name: "feed bad token", want: ErrBadToken, run: func(t *testing.T) error {
			return newSession(t, &fakeModel{vocab: 10}).Feed(0, []int32{1, 10})
		}},
		{name: "feed bad row", want: ErrBadOptions, run: func(t *testing.T) error {
			return newSession(t, &fakeModel{vocab: 10}).Feed(2, []int32{1})
		}},
		{name: "feed overflow", want: ErrPromptTooLong, run: func(t *testing.T) error {
			return newSession(t, &fakeModel{vocab: 10}).Feed(0, make([]int32, 9))
		}},
		{name: "generate nothing queued", want: ErrEmptyPrompt, run: func(t *testing.T) error {
			_, err := newSession(t, &fakeModel{vocab: 10}).Generate(ctx, []int{0})
			return err
		}},
		{name: "generate full row", want: ErrPromptTooLong, run: func(t *testing.T) error {
			s := newSession(t, &fakeModel{vocab: 10})
			if err := s.Feed(0, make([]int32, 8)); err != nil {
				return err
			}
			_, err := s.Generate(ctx, []int{0})
			return err
		}},
		{name: "row twice", want: ErrBadOptions, run: func(t *testing.T) error {
			s := newSession(t, &fakeModel{vocab: 10})
			s.Feed(0, []int32{1})
			_, err := s.Generate(ctx, []int{0, 0})
			return err
		}},
		{name: "broken after model error", want: ErrSessionBroken, run: func(t *testing.T) error {
			s := newSession(t, &fakeModel{vocab: 10, onAppend: func(int, [][]float32) ([][]float32, error) { return nil, boom }})
			s.Feed(0, []int32{1})
			if _, err := s.Generate(ctx, []int{0}); !errors.Is(err, boom) {
				t.Errorf("first error %v, want boom", err)
			}
			return s.Feed(0, []int32{1})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(t); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// TestSession_LengthCap: a row stops at its maximum length, and the
// length-capped row can take no more.
func TestSession_LengthCap(t *testing.T) {
	ctx := context.Background()
	s, err := NewSession(ctx, &fakeModel{vocab: 10}, 1, 6, Options{MaxNewTokens: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Feed(0, []int32{1, 2})
	res, err := s.Generate(ctx, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0].Tokens) != 4 || res[0].FinishReason != FinishLength || s.Room(0) != 0 {
		t.Fatalf("got %d tokens (%s), room %d; want 4, length, 0", len(res[0].Tokens), res[0].FinishReason, s.Room(0))
	}
	if err := s.Feed(0, []int32{1}); !errors.Is(err, ErrPromptTooLong) {
		t.Fatalf("feeding a full row: %v", err)
	}
}

// BenchmarkSession is an agent's loop at Qwen's vocabulary with a model that
// costs nothing: 8 rows, 4 turns of 16 tokens with a 12-token observation
// fed between turns; ns/token is the session's overhead per generated token.
func BenchmarkSession(b *testing.B) {
	m := &tableModel{}
	for i := range 16 {
		m.table = append(m.table, fakeLogits([]int32{int32(i)}, qwenVocab))
	}
	obs := make([]int32, 12)
	rows := []int{0, 1, 2, 3, 4, 5, 6, 7}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s, err := NewSession(ctx, m, 8, 256, Options{MaxNewTokens: 16, Temperature: 1, TopP: 0.9})
		if err != nil {
			b.Fatal(err)
		}
		for r := range rows {
			s.Feed(r, []int32{1, 2, 3, 4})
		}
		for range 4 {
			if _, err := s.Generate(ctx, rows); err != nil {
				b.Fatal(err)
			}
			for r := range rows {
				s.Feed(r, obs)
			}
		}
		s.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*8*4*16), "ns/token")
}
