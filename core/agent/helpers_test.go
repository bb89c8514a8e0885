package agent_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/internal/pluginbuild"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/runtime/sandbox"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// forceLogit is the logit of the token a scripted model writes; every other
// token gets 0, so at temperature 1 the written token has probability
// 1/(1+(V-1)e^-30) and a logprob of about -V·1e-13.
const forceLogit = 30

// scriptModel is a generate.Model that writes given replies: row b's logits
// force the tokens of script[b] one after another (then its end id forever).
// It advances when the generator feeds back the token it forced, so fed
// prompts and observations do not move it. It records every Append, which
// is what the tests compare traces against.
type scriptModel struct {
	vocab  int
	end    int32
	script [][]int32

	mu    sync.Mutex
	calls [][]int // rows that got tokens, per Append call, over all caches
	rows  []*rowLog
}

// rowLog is what one row of the cache was fed.
type rowLog struct {
	ids     []int32   // every id appended, in order
	gen     []bool    // gen[i]: ids[i] is the token the model forced at that point
	appends [][]int32 // the Append calls' slices
	forced  []int32   // the token forced after each Append, in order
	lp      []float64 // log-softmax (T=1) of each forced token
	ptr     int
	pending int32 // the forced token awaiting feedback, -1 for none
}

func newScriptModel(vocab int, end int32, script [][]int32) *scriptModel {
	return &scriptModel{vocab: vocab, end: end, script: script}
}

func (m *scriptModel) VocabSize() int { return m.vocab }

func (m *scriptModel) NewCache(_ context.Context, batch, maxLen int) (generate.Cache, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if batch != len(m.script) {
		return nil, fmt.Errorf("script: batch %d, %d scripts", batch, len(m.script))
	}
	m.rows = make([]*rowLog, batch)
	for b := range m.rows {
		m.rows[b] = &rowLog{pending: -1}
	}
	return &scriptCache{m: m, maxLen: maxLen}, nil
}

type scriptCache struct {
	m      *scriptModel
	maxLen int
}

func (c *scriptCache) Append(_ context.Context, tokens [][]int32) ([][]float32, error) {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]float32, len(tokens))
	var got []int
	for b, t := range tokens {
		if len(t) == 0 {
			continue
		}
		got = append(got, b)
		r := m.rows[b]
		if len(r.ids)+len(t) > c.maxLen {
			return nil, fmt.Errorf("script: row %d over maxLen %d", b, c.maxLen)
		}
		for i, id := range t {
			r.gen = append(r.gen, i == 0 && r.pending >= 0)
			if i == 0 && r.pending >= 0 {
				if id != r.pending {
					return nil, fmt.Errorf("script: row %d fed %d where the model wrote %d", b, id, r.pending)
				}
				r.ptr++
			}
		}
		r.ids = append(r.ids, t...)
		r.appends = append(r.appends, append([]int32(nil), t...))
		next := m.end
		if r.ptr < len(m.script[b]) {
			next = m.script[b][r.ptr]
		}
		r.pending = next
		r.forced = append(r.forced, next)
		r.lp = append(r.lp, -math.Log1p(float64(m.vocab-1)*math.Exp(-forceLogit)))
		l := make([]float32, m.vocab)
		l[next] = forceLogit
		out[b] = l
	}
	m.calls = append(m.calls, got)
	return out, nil
}

func (c *scriptCache) Len(b int) int { return len(c.m.rows[b].ids) }
func (c *scriptCache) Close() error  { return nil }

// chatml is the ChatML tokenizer and template that checkpoint.Init writes.
var chatml = sync.OnceValues(func() (*tokenizer.Tokenizer, error) {
	return tokenizer.NewByteLevel(512, nil)
})

func chatmlKit(t testing.TB) (*tokenizer.Tokenizer, *chattemplate.Template, int32) {
	t.Helper()
	tok, err := chatml()
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := chattemplate.New(tokenizer.DefaultChatTemplate)
	if err != nil {
		t.Fatal(err)
	}
	end, ok := tok.TokenID("<|im_end|>")
	if !ok {
		t.Fatal("no <|im_end|>")
	}
	return tok, tpl, end
}

// replies turns each row's reply texts into its script: the ids of each
// reply followed by the end-of-turn id.
func replies(tok *tokenizer.Tokenizer, end int32, rows ...[]string) [][]int32 {
	out := make([][]int32, len(rows))
	for b, texts := range rows {
		for _, s := range texts {
			out[b] = append(out[b], tok.EncodeOrdinary(s)...)
			out[b] = append(out[b], end)
		}
	}
	return out
}

// calculator opens the calculator tool pack (built from source by
// plugins/build.sh) and returns its tools and specs.
func calculator(t testing.TB) (*pack.Tools, []sdk.ToolSpec) {
	t.Helper()
	dir := t.TempDir()
	for src, dst := range map[string]string{
		filepath.Join("..", "..", "plugins", "packs", "calculator", pack.ManifestName): pack.ManifestName,
		pluginbuild.Path(t, "calculator.wasm"):                                         "calculator.wasm",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pack.Build(dir, t.TempDir()); err != nil { // fills in the sha256
		t.Fatal(err)
	}
	p, err := pack.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := wasmhost.NewHost(ctx, wasmhost.HostConfig{CacheDir: cacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	tools, err := pack.Open(ctx, p, pack.Openers{pack.ModuleWASM: pack.WASM(h)}, contract.PluginConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tools.Close(ctx) })
	return tools, tools.Specs()
}

// newSandbox starts a sandbox on the Starlark interpreter built from source,
// with the calculator's tools.
func newSandbox(t testing.TB, tools sdk.Tool, specs []sdk.ToolSpec) *sandbox.Sandbox {
	t.Helper()
	wasm, err := os.ReadFile(pluginbuild.Path(t, "interpreter-starlark.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sandbox.New(context.Background(), sandbox.Options{
		Interpreter: wasm, CacheDir: cacheDir(), ToolSpecs: specs, Tools: tools,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func cacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "toolbrain-test", "wasm")
	}
	return filepath.Join(os.TempDir(), "toolbrain-test-wasm")
}

// checkExactTokens checks a trace against what the model was fed, turn by
// turn: the first Append is the prompt; each turn's generated ids are the
// tokens the model forced, fed back one per Append (the last one ahead of
// the observation); each later prefill is exactly the previous turn's last
// generated id and its observation ids; and the loss mask of
// Trace.Sequence is 1 exactly where the model fed back its own token.
func checkExactTokens(t *testing.T, tr sdk.Trace, r *rowLog) {
	t.Helper()
	ai := 0 // next Append of the row
	for k, turn := range tr.Turns {
		tk := turn.Tokens
		if k == 0 {
			if !equal(r.appends[0], tk.PromptIDs) {
				t.Fatalf("turn 1: first Append %v, prompt ids %v", r.appends[0], tk.PromptIDs)
			}
		} else if len(tk.PromptIDs) != 0 {
			t.Fatalf("turn %d records %d prompt ids; only turn 1 has a prompt", k+1, len(tk.PromptIDs))
		}
		if len(tk.GeneratedIDs) == 0 || len(tk.Logprobs) != len(tk.GeneratedIDs) {
			t.Fatalf("turn %d: %d generated ids, %d logprobs", k+1, len(tk.GeneratedIDs), len(tk.Logprobs))
		}
		for i, id := range tk.GeneratedIDs {
			if r.forced[ai] != id {
				t.Fatalf("turn %d generated %d: trace %d, model wrote %d", k+1, i, id, r.forced[ai])
			}
			if d := math.Abs(float64(tk.Logprobs[i]) - r.lp[ai]); d > 1e-6 {
				t.Fatalf("turn %d generated %d: logprob %g, model's %g", k+1, i, tk.Logprobs[i], r.lp[ai])
			}
			ai++
			last := i == len(tk.GeneratedIDs)-1
			if last && k == len(tr.Turns)-1 {
				break // never fed back: the episode ended
			}
			want := []int32{id}
			if last {
				want = append(want, tk.ObservationIDs...)
			}
			if !equal(r.appends[ai], want) {
				t.Fatalf("turn %d: Append %d is %v, want %v", k+1, ai, r.appends[ai], want)
			}
		}
	}
	if ai != len(r.appends) {
		t.Fatalf("the model got %d Appends, the trace accounts for %d", len(r.appends), ai)
	}
	seq, err := tr.Sequence()
	if err != nil {
		t.Fatal(err)
	}
	if !equal(seq.IDs[:len(seq.IDs)-1], r.ids) {
		t.Fatalf("sequence %v\nfed      %v", seq.IDs, r.ids)
	}
	for i, g := range r.gen {
		if (seq.Mask[i] == 1) != g {
			t.Fatalf("position %d (id %d): mask %d, generated by the model %v", i, seq.IDs[i], seq.Mask[i], g)
		}
	}
	if seq.Mask[len(seq.Mask)-1] != 1 {
		t.Fatal("the last id is generated but masked out")
	}
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// nopTool answers every call with "ok".
type nopTool struct{}

func (nopTool) CallTool(context.Context, sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	return sdk.ToolCallResponse{Content: "ok"}, nil
}
