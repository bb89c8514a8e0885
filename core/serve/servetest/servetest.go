// Package servetest has what tests of the OpenAI-compatible server need: a
// scripted model whose reply depends on its prompt, so that a test (or a
// real client driving a test server) can get a tool call, a given text or a
// long answer from it.
package servetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/tokenizer"
)

// Scripted is a generate.Model that writes Reply(prompt) and then Stop,
// greedily: the reply's next token gets logit 40, every other token 0 (so that sampling at any temperature up to 2 writes it too). The
// prompt is the text of a row's first tokens since the cache was made or
// the row was reset. Its caches also implement Reset, as core/model's do.
type Scripted struct {
	// Tokenizer decodes prompts and encodes replies; required.
	Tokenizer *tokenizer.Tokenizer
	// Reply is the text written for a prompt; required.
	Reply func(prompt string) string
	// Stop is the token written after the reply (an EOS id).
	Stop int32
	// Step, when set, is called at the start of every Append (a test slows
	// decoding down, or watches it start).
	Step func()
}

var _ generate.Model = (*Scripted)(nil)

// VocabSize is the tokenizer's.
func (s *Scripted) VocabSize() int { return s.Tokenizer.VocabSize() }

// NewCache makes a cache of batch rows; maxLen is not enforced.
func (s *Scripted) NewCache(ctx context.Context, batch, _ int) (generate.Cache, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &cache{s: s, rows: make([]row, batch)}, nil
}

type row struct {
	n     int     // tokens held
	reply []int32 // the script, Stop included; nil before the prompt
	next  int     // index in reply of the token to write next
}

type cache struct {
	mu   sync.Mutex
	s    *Scripted
	rows []row
}

// Append returns the logits that write the script of each row.
func (c *cache) Append(_ context.Context, tokens [][]int32) ([][]float32, error) {
	if c.s.Step != nil {
		c.s.Step()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(tokens) != len(c.rows) {
		return nil, fmt.Errorf("servetest: %d rows of tokens for a cache of %d", len(tokens), len(c.rows))
	}
	out := make([][]float32, len(tokens))
	for b, ts := range tokens {
		if len(ts) == 0 {
			continue
		}
		r := &c.rows[b]
		if r.reply == nil {
			text := c.s.Reply(c.s.Tokenizer.Decode(ts))
			r.reply = append(c.s.Tokenizer.Encode(text), c.s.Stop)
		} else {
			r.next++
		}
		r.n += len(ts)
		logits := make([]float32, c.s.VocabSize())
		logits[r.reply[min(r.next, len(r.reply)-1)]] = 40
		out[b] = logits
	}
	return out, nil
}

// Reset empties rows: their next tokens are a new prompt.
func (c *cache) Reset(_ context.Context, rows []int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range rows {
		if b < 0 || b >= len(c.rows) {
			return fmt.Errorf("servetest: reset row %d of %d", b, len(c.rows))
		}
		c.rows[b] = row{}
	}
	return nil
}

// Len reports how many tokens row b holds.
func (c *cache) Len(b int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows[b].n
}

// Close does nothing.
func (c *cache) Close() error { return nil }

// OpenChat opens the checkpoint dir with its tokenizer and chat template,
// failing tb on any error.
func OpenChat(tb testing.TB, dir string) (*checkpoint.Checkpoint, *tokenizer.Tokenizer, *chattemplate.Template) {
	tb.Helper()
	ck, err := checkpoint.Open(dir, hub.ResolveOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := ck.Tokenizer()
	if err != nil {
		tb.Fatal(err)
	}
	tmpl, err := ck.ChatTemplate()
	if err != nil {
		tb.Fatal(err)
	}
	return ck, tok, tmpl
}
