package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/sdk"
)

// tinyCheckpoint writes a random checkpoint with a ChatML tokenizer.
func tinyCheckpoint(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "judge")
	cfg := model.Config{
		Architecture: model.Llama, HiddenSize: 64, IntermediateSize: 176, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, RopeTheta: 10000, RMSNormEps: 1e-6,
		VocabSize: 512, MaxPositionEmbeddings: 256, TorchDType: "float32", HiddenAct: "silu",
	}
	if err := checkpoint.Init(dir, cfg, 1); err != nil {
		t.Fatal(err)
	}
	return dir
}

// reference decodes the rendered prompt of req with core/generate directly:
// what Local.Complete must reproduce.
type reference struct {
	ck    *checkpoint.Checkpoint
	m     *model.Model
	tok   *tokenizer.Tokenizer
	tmpl  *chattemplate.Template
	stops []int32
}

func newReference(t *testing.T, dir string) *reference {
	t.Helper()
	ck, err := checkpoint.Open(dir, hub.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ck.LoadModel(b, model.LoadOptions{}, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := ck.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := ck.ChatTemplate()
	if err != nil {
		t.Fatal(err)
	}
	r := &reference{ck: ck, m: m, tok: tok, tmpl: tmpl}
	for _, e := range ck.Config.EOSTokenIDs {
		r.stops = append(r.stops, int32(e))
	}
	if eos, ok := tok.EOS(); ok {
		r.stops = append(r.stops, eos)
	}
	return r
}

// greedy returns the generated ids for msgs with add_generation_prompt.
func (r *reference) greedy(t *testing.T, msgs []chattemplate.Message, n int) generate.Result {
	t.Helper()
	cfg := r.tok.Config()
	text, err := r.tmpl.Render(msgs, chattemplate.Options{AddGenerationPrompt: true, BOSToken: cfg.BOSToken, EOSToken: cfg.EOSToken})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(text, "<|im_start|>assistant\n") {
		t.Fatalf("rendered prompt %q lacks the generation prompt", text)
	}
	res, err := generate.Generate(context.Background(), r.m, [][]int32{r.tok.Encode(text)},
		generate.Options{MaxNewTokens: n, MaxLen: r.ck.Config.MaxPositionEmbeddings, StopTokenIDs: r.stops})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

func (r *reference) text(ids []int32) string {
	return r.tok.DecodeWith(ids, tokenizer.DecodeOptions{SkipSpecial: true})
}

// TestLocal_Complete checks Local against core/generate on the same
// rendered prompt, greedy: the text, max_tokens, and stop strings.
func TestLocal_Complete(t *testing.T) {
	dir := tinyCheckpoint(t)
	ref := newReference(t, dir)
	judge, err := llm.OpenLocal(llm.LocalConfig{Model: dir, Options: llm.LocalOptions{MaxTokens: 12}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { judge.Close() })

	sdkMsgs := []sdk.Message{{Role: "system", Content: "You judge answers."}, {Role: "user", Content: "Is 6*7 = 42?"}}
	tmplMsgs := []chattemplate.Message{{Role: "system", Content: "You judge answers."}, {Role: "user", Content: "Is 6*7 = 42?"}}
	const long = 24
	full := ref.greedy(t, tmplMsgs, long)
	if len(full.Tokens) != long || full.FinishReason != generate.FinishLength {
		t.Fatalf("the reference stopped after %d tokens (%s); the test needs %d: change the checkpoint seed", len(full.Tokens), full.FinishReason, long)
	}
	fullText := ref.text(full.Tokens)

	// A stop string: the text of one generated token from the middle on,
	// valid UTF-8 and not special, so both decodings contain it.
	var stop string
	for k := long / 2; k < long && stop == ""; k++ {
		if s := ref.tok.Decode(full.Tokens[k : k+1]); utf8.ValidString(s) && strings.TrimSpace(s) != "" && !ref.tok.IsSpecial(full.Tokens[k]) {
			stop = s
		}
	}
	if stop == "" {
		t.Fatal("no token fit for a stop string")
	}
	cut := fullText[:strings.Index(fullText, stop)]

	tests := []struct {
		name string
		req  sdk.LLMRequest
		want string
	}{
		{name: "explicit max tokens", req: sdk.LLMRequest{Messages: sdkMsgs, MaxTokens: long}, want: fullText},
		{name: "default max tokens", req: sdk.LLMRequest{Messages: sdkMsgs}, want: ref.text(full.Tokens[:12])},
		{name: "max tokens honoured", req: sdk.LLMRequest{Messages: sdkMsgs, MaxTokens: 5}, want: ref.text(full.Tokens[:5])},
		{name: "one token", req: sdk.LLMRequest{Messages: sdkMsgs, MaxTokens: 1}, want: ref.text(full.Tokens[:1])},
		{name: "stop string cuts", req: sdk.LLMRequest{Messages: sdkMsgs, MaxTokens: long, Stop: []string{stop}}, want: cut},
		{name: "stop string never met", req: sdk.LLMRequest{Messages: sdkMsgs, MaxTokens: long, Stop: []string{"\x00never\x00"}}, want: fullText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := judge.Complete(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text != tt.want {
				t.Errorf("text %q, want %q", resp.Text, tt.want)
			}
		})
	}
	if len(ref.text(full.Tokens[:5])) >= len(fullText) || len(cut) >= len(fullText) {
		t.Errorf("max_tokens 5 gives %q and the stop string %q gives %q: neither shorter than %q", ref.text(full.Tokens[:5]), stop, cut, fullText)
	}

	t.Run("prompt is the rendered template", func(t *testing.T) {
		ids, err := judge.Prompt(sdk.LLMRequest{Messages: sdkMsgs})
		if err != nil {
			t.Fatal(err)
		}
		want := "<|im_start|>system\nYou judge answers.<|im_end|>\n<|im_start|>user\nIs 6*7 = 42?<|im_end|>\n<|im_start|>assistant\n"
		if got := ref.tok.Decode(ids); got != want {
			t.Errorf("prompt %q, want %q", got, want)
		}
	})

	t.Run("sampling is reproducible", func(t *testing.T) {
		req := sdk.LLMRequest{Messages: sdkMsgs, MaxTokens: 8, Temperature: 1}
		a, err := judge.Complete(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := judge.Complete(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if a.Text != b.Text {
			t.Errorf("same request sampled %q then %q", a.Text, b.Text)
		}
	})

	t.Run("invalid request", func(t *testing.T) {
		_, err := judge.Complete(context.Background(), sdk.LLMRequest{Messages: []sdk.Message{{Content: "no role"}}})
		if !errors.Is(err, llm.ErrRequest) {
			t.Errorf("error %v, want ErrRequest", err)
		}
	})

	t.Run("prompt too long", func(t *testing.T) {
		_, err := judge.Complete(context.Background(), sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: strings.Repeat("zq ", 400)}}})
		if !errors.Is(err, generate.ErrPromptTooLong) {
			t.Errorf("error %v, want generate.ErrPromptTooLong", err)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := judge.Complete(ctx, sdk.LLMRequest{Messages: sdkMsgs})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})

	t.Run("closed", func(t *testing.T) {
		if err := judge.Close(); err != nil {
			t.Fatal(err)
		}
		if err := judge.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		_, err := judge.Complete(context.Background(), sdk.LLMRequest{Messages: sdkMsgs})
		if !errors.Is(err, llm.ErrClosed) {
			t.Errorf("error %v, want ErrClosed", err)
		}
	})
}

func TestOpenLocal_Errors(t *testing.T) {
	dir := tinyCheckpoint(t)
	noTemplate := filepath.Join(t.TempDir(), "base")
	if err := os.CopyFS(noTemplate, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(noTemplate, tokenizer.ConfigFileName)
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var tc map[string]any
	if err := json.Unmarshal(raw, &tc); err != nil {
		t.Fatal(err)
	}
	delete(tc, "chat_template")
	if raw, err = json.Marshal(tc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cfg    llm.LocalConfig
		wantIs error
		inErr  string
	}{
		{name: "no model", cfg: llm.LocalConfig{}, wantIs: llm.ErrConfig, inErr: "Model is empty"},
		{name: "missing dir", cfg: llm.LocalConfig{Model: filepath.Join(dir, "nope")}, inErr: "nope"},
		{name: "no chat template", cfg: llm.LocalConfig{Model: noTemplate}, wantIs: llm.ErrNoChatTemplate, inErr: noTemplate},
		{name: "bad backend", cfg: llm.LocalConfig{Model: dir, Backend: "tpu"}, wantIs: backend.ErrUnknown, inErr: "judge backend"},
		{name: "bad quant", cfg: llm.LocalConfig{Model: dir, Quant: "int3"}, inErr: "int3"},
		{name: "negative max tokens", cfg: llm.LocalConfig{Model: dir, Options: llm.LocalOptions{MaxTokens: -1}}, wantIs: llm.ErrConfig, inErr: "MaxTokens"},
		{name: "stop id outside vocab", cfg: llm.LocalConfig{Model: dir, Options: llm.LocalOptions{StopTokenIDs: []int32{512}}}, wantIs: llm.ErrConfig, inErr: "StopTokenIDs[0] is 512"},
		{name: "top p above 1", cfg: llm.LocalConfig{Model: dir, Options: llm.LocalOptions{TopP: 1.5}}, wantIs: llm.ErrConfig, inErr: "TopP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := llm.OpenLocal(tt.cfg)
			if err == nil {
				l.Close()
				t.Fatal("OpenLocal succeeded, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.inErr) {
				t.Errorf("error %q does not contain %q", err, tt.inErr)
			}
		})
	}
}

// blockingModel is a generate.Model whose every Append waits for release
// (or its context), then favours token 'y'.
type blockingModel struct {
	release chan struct{}
	started chan struct{}
}

func (m *blockingModel) VocabSize() int { return 512 }
func (m *blockingModel) NewCache(ctx context.Context, batch, maxLen int) (generate.Cache, error) {
	return &blockingCache{m: m, n: make([]int, batch)}, nil
}

type blockingCache struct {
	m *blockingModel
	n []int
}

func (c *blockingCache) Append(ctx context.Context, tokens [][]int32) ([][]float32, error) {
	select {
	case c.m.started <- struct{}{}:
	default:
	}
	select {
	case <-c.m.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := make([][]float32, len(tokens))
	for b, t := range tokens {
		c.n[b] += len(t)
		out[b] = make([]float32, 512)
		out[b]['y'] = 10
	}
	return out, nil
}
func (c *blockingCache) Len(b int) int { return c.n[b] }
func (c *blockingCache) Close() error  { return nil }

// TestNewLocal_Serialised checks that calls take turns by default: a second
// call waits while the first decodes, and gives up when its context ends.
func TestNewLocal_Serialised(t *testing.T) {
	tok, err := tokenizer.NewByteLevel(512, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := chattemplate.New(tokenizer.DefaultChatTemplate)
	if err != nil {
		t.Fatal(err)
	}
	m := &blockingModel{release: make(chan struct{}), started: make(chan struct{}, 1)}
	judge, err := llm.NewLocal(m, tok, tmpl, llm.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer judge.Close()
	req := sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: "ok?"}}, MaxTokens: 3}

	var wg sync.WaitGroup
	var first sdk.LLMResponse
	var firstErr error
	wg.Go(func() { first, firstErr = judge.Complete(context.Background(), req) })
	<-m.started // the first call holds the model

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = judge.Complete(ctx, req)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for the judge model") {
		t.Errorf("second call: %v, want a deadline while waiting for the judge model", err)
	}
	close(m.release)
	wg.Wait()
	if firstErr != nil || first.Text != "yyy" {
		t.Errorf("first call: %q, %v; want \"yyy\"", first.Text, firstErr)
	}
}

func TestNewLocal_Errors(t *testing.T) {
	tok, err := tokenizer.NewByteLevel(512, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := chattemplate.New(tokenizer.DefaultChatTemplate)
	if err != nil {
		t.Fatal(err)
	}
	m := &blockingModel{}
	tests := []struct {
		name  string
		m     generate.Model
		tok   *tokenizer.Tokenizer
		tmpl  *chattemplate.Template
		opts  llm.LocalOptions
		inErr string
	}{
		{name: "nil model", tok: tok, tmpl: tmpl, inErr: "nil model"},
		{name: "nil tokenizer", m: m, tmpl: tmpl, inErr: "nil tokenizer"},
		{name: "nil template", m: m, tok: tok, inErr: "nil chat template"},
		{name: "negative max len", m: m, tok: tok, tmpl: tmpl, opts: llm.LocalOptions{MaxLen: -1}, inErr: "MaxLen"},
		{name: "negative concurrency", m: m, tok: tok, tmpl: tmpl, opts: llm.LocalOptions{MaxConcurrent: -2}, inErr: "MaxConcurrent"},
		{name: "negative top k", m: m, tok: tok, tmpl: tmpl, opts: llm.LocalOptions{TopK: -2}, inErr: "TopK"},
		{name: "negative stop id", m: m, tok: tok, tmpl: tmpl, opts: llm.LocalOptions{StopTokenIDs: []int32{-1}}, inErr: "StopTokenIDs[0] is -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := llm.NewLocal(tt.m, tt.tok, tt.tmpl, tt.opts)
			if !errors.Is(err, llm.ErrConfig) || !strings.Contains(err.Error(), tt.inErr) {
				t.Errorf("error %v, want ErrConfig naming %q", err, tt.inErr)
			}
		})
	}
}

// TestLocal_Prompt checks how messages reach the chat template: tool calls
// with their arguments as an object, tool_call_id, and the generation prompt.
func TestLocal_Prompt(t *testing.T) {
	tok, err := tokenizer.NewByteLevel(512, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := chattemplate.New("{%- for m in messages %}{{ m.role }}:{{ m.content }}" +
		"{%- for c in m.tool_calls %}[{{ c.id }} {{ c.function.name }} {{ c.function.arguments | tojson }}]{% endfor %}" +
		"{%- if m.tool_call_id %}#{{ m.tool_call_id }}{% endif %}|{% endfor %}" +
		"{%- if add_generation_prompt %}A:{% endif %}")
	if err != nil {
		t.Fatal(err)
	}
	judge, err := llm.NewLocal(&blockingModel{}, tok, tmpl, llm.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msgs []sdk.Message
		want string
	}{
		{name: "plain", msgs: []sdk.Message{{Role: "user", Content: "hi"}}, want: "user:hi|A:"},
		{name: "tool turn", msgs: []sdk.Message{
			{Role: "user", Content: "6*7?"},
			{Role: "assistant", ToolCalls: []sdk.ToolCall{{ID: "c1", Name: "calc", Arguments: json.RawMessage(`{"x": 6}`)}, {Name: "now"}}},
			{Role: "tool", Content: "42", ToolCallID: "c1"},
		}, want: `user:6*7?|assistant:[c1 calc {"x": 6}][ now {}]|tool:42#c1|A:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, err := judge.Prompt(sdk.LLMRequest{Messages: tt.msgs})
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Decode(ids); got != tt.want {
				t.Errorf("prompt %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("template raises", func(t *testing.T) {
		bad, err := chattemplate.New("{{ raise_exception('roles must alternate') }}")
		if err != nil {
			t.Fatal(err)
		}
		j, err := llm.NewLocal(&blockingModel{}, tok, bad, llm.LocalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = j.Complete(context.Background(), sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: "x"}}})
		if !errors.Is(err, chattemplate.ErrRaised) || !strings.Contains(err.Error(), "roles must alternate") {
			t.Errorf("error %v, want the template's exception", err)
		}
	})
}
