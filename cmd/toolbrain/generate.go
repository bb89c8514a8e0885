package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/core/generate"
	"github.com/toolbrain/toolbrain/core/tokenizer"
)

// completion is one prompt's result, as `generate --json` prints it.
type completion struct {
	Prompt       string    `json:"prompt"`
	PromptIDs    []int32   `json:"prompt_ids"`
	Text         string    `json:"text"`
	IDs          []int32   `json:"ids"`
	Logprobs     []float32 `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

// generateStats are the timings of one generateText call.
type generateStats struct {
	Tokens   int
	Elapsed  time.Duration
	Prompted int
}

// generateText completes prompts with l's model. With chat, each prompt is
// a user message rendered through the checkpoint's chat template.
func generateText(ctx context.Context, l *loaded, prompts []string, chat bool, g config.Generate) ([]completion, generateStats, error) {
	tok, err := l.ckpt.Tokenizer()
	if err != nil {
		return nil, generateStats{}, err
	}
	var tmpl *chattemplate.Template
	if chat {
		if tmpl, err = l.ckpt.ChatTemplate(); err != nil {
			return nil, generateStats{}, err
		}
	}
	ids := make([][]int32, len(prompts))
	var st generateStats
	for i, p := range prompts {
		if ids[i], err = promptIDs(tok, tmpl, p); err != nil {
			return nil, st, err
		}
		st.Prompted += len(ids[i])
	}
	opts := generate.Options{
		MaxNewTokens: g.MaxNewTokens,
		MaxLen:       l.ckpt.Config.MaxPositionEmbeddings,
		Temperature:  g.Temperature,
		TopP:         g.TopP,
		TopK:         g.TopK,
		Seed:         g.Seed,
		StopTokenIDs: l.ckpt.StopTokenIDs(tok),
		StopStrings:  g.Stop,
		Decode:       tok.Decode,
	}
	start := time.Now()
	res, err := generate.Generate(ctx, l.model, ids, opts)
	st.Elapsed = time.Since(start)
	if err != nil {
		return nil, st, err
	}
	out := make([]completion, len(res))
	for i, r := range res {
		st.Tokens += len(r.Tokens)
		out[i] = completion{
			Prompt: prompts[i], PromptIDs: ids[i], IDs: r.Tokens, Logprobs: r.Logprobs,
			Text: tok.DecodeWith(r.Tokens, tokenizer.DecodeOptions{SkipSpecial: true}), FinishReason: r.FinishReason,
		}
	}
	return out, st, nil
}

// promptIDs tokenizes a prompt: rendered by the chat template when tmpl is
// set (the template writes the special tokens itself), else as plain text
// after the BOS token when the tokenizer asks for one.
func promptIDs(tok *tokenizer.Tokenizer, tmpl *chattemplate.Template, prompt string) ([]int32, error) {
	if tmpl != nil {
		return checkpoint.EncodeChat(tok, tmpl, []chattemplate.Message{{Role: "user", Content: prompt}})
	}
	var ids []int32
	if bos, ok := tok.BOS(); ok && tok.Config().AddBOS {
		ids = append(ids, bos)
	}
	ids = tok.AppendEncode(ids, prompt)
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: the prompt is empty", errUsage)
	}
	return ids, nil
}

// generateFlagOf names the flag of generate that sets a [generate] key.
var generateFlagOf = map[string]string{
	"generate.max_new_tokens": "max-new", "generate.temperature": "temperature",
	"generate.top_p": "top-p", "generate.top_k": "top-k",
}

func generateCmd(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "generate", "--model DIR [--adapter DIR] [--quant int8|nf4] --prompt TEXT [--chat] [--max-new N] [--seed N]")
	var mf modelFlags
	mf.register(fs)
	prompt := fs.String("prompt", "", "prompt text (repeat the flag for a batch)")
	chat := fs.Bool("chat", false, "render the prompt as a user message with the chat template")
	maxNew := fs.Int("max-new", 0, "max new tokens, 1..1048576 (default: [generate] max_new_tokens)")
	seed := fs.Int64("seed", -1, "sampling seed (default: [generate] seed)")
	temp := fs.Float64("temperature", -1, "sampling temperature, 0 = greedy (default: [generate] temperature)")
	topP := fs.Float64("top-p", -1, "nucleus sampling threshold (default: [generate] top_p)")
	topK := fs.Int("top-k", -1, "top-k filter, 0 = off (default: [generate] top_k)")
	asJSON := fs.Bool("json", false, "print a JSON object with ids and logprobs")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *prompt == "" {
		return fmt.Errorf("%w: --prompt is required", errUsage)
	}
	cfg, _, err := loadConfig(mf.config)
	if err != nil {
		return err
	}
	// A flag given on the command line overrides the configuration
	// whatever its value, and is then checked like the configuration's: a
	// NaN temperature or --max-new 0 is an error, never a silent default.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	g := cfg.Generate
	if set["max-new"] {
		g.MaxNewTokens = *maxNew
	}
	if set["seed"] {
		g.Seed = *seed
	}
	if set["temperature"] {
		g.Temperature = *temp
	}
	if set["top-p"] {
		g.TopP = *topP
	}
	if set["top-k"] {
		g.TopK = *topK
	}
	cfg.Generate = g
	if err := cfg.Validate(); err != nil {
		var fe *config.FieldError
		if errors.As(err, &fe) && set[generateFlagOf[fe.Key]] {
			return fmt.Errorf("%w: --%s: %s", errUsage, generateFlagOf[fe.Key], fe.Msg)
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	l, err := mf.load()
	if err != nil {
		return err
	}
	defer l.model.Close()
	out, st, err := generateText(ctx, l, []string{*prompt}, *chat, g)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(o.stdout, out[0])
	}
	fmt.Fprintln(o.stdout, out[0].Text)
	fmt.Fprintf(o.stderr, "%d tokens in %v (%.1f tokens/s), finish: %s\n", st.Tokens, st.Elapsed.Round(time.Millisecond), float64(st.Tokens)/st.Elapsed.Seconds(), out[0].FinishReason)
	return nil
}
