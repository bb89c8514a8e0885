package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/chattemplate"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/model"
	"github.com/toolbrain/toolbrain/core/tokenizer"
)

// modelFlags are the flags every command that loads a model shares.
type modelFlags struct {
	config, model, adapter, quant, backend string
	// precheck, when set, sees the checkpoint (its config) before any
	// weight is read: where input sizes are checked against the model.
	precheck func(*checkpoint.Checkpoint) error
}

func (f *modelFlags) register(fs interface {
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(&f.config, "config", "", "toolbrain.toml (default: ./toolbrain.toml, else the embedded default)")
	fs.StringVar(&f.model, "model", "", "checkpoint directory or Hugging Face id (default: [core] model)")
	fs.StringVar(&f.adapter, "adapter", "", "PEFT LoRA adapter directory (default: [core] adapter)")
	fs.StringVar(&f.quant, "quant", "", "quantize linear weights at load: int8 or nf4 (default: [core] quant)")
	fs.StringVar(&f.backend, "backend", "", "gomlx backend: cpu (ToolBrain's own), go (gomlx's pure Go) or xla[:plugin] (default: [core] backend)")
}

// loaded is a model ready to run, with what came with it.
type loaded struct {
	ckpt  *checkpoint.Checkpoint
	model *model.Model
}

// load resolves the flags over the configuration and loads the model.
func (f *modelFlags) load() (*loaded, error) {
	cfg, _, err := loadConfig(f.config)
	if err != nil {
		return nil, err
	}
	name := firstNonEmpty(f.model, cfg.Core.Model)
	if name == "" {
		return nil, fmt.Errorf("%w: --model is required (or set [core] model)", errUsage)
	}
	ck, err := checkpoint.Open(name, hub.ResolveOptions{CacheDir: cfg.Hub.CacheDir})
	if err != nil {
		return nil, err
	}
	if f.precheck != nil {
		if err := f.precheck(ck); err != nil {
			return nil, err
		}
	}
	b, err := backend.New(firstNonEmpty(f.backend, cfg.Core.Backend))
	if err != nil {
		return nil, err
	}
	// Adapters are named like models: a directory or a Hugging Face id.
	adapter := firstNonEmpty(f.adapter, cfg.Core.Adapter)
	m, err := ck.LoadModel(b, model.LoadOptions{Quant: firstNonEmpty(f.quant, cfg.Core.Quant)}, adapter)
	if err != nil {
		return nil, err
	}
	return &loaded{ckpt: ck, model: m}, nil
}

// chat returns the checkpoint's tokenizer and chat template.
func (l *loaded) chat() (*tokenizer.Tokenizer, *chattemplate.Template, error) {
	tok, err := l.ckpt.Tokenizer()
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := l.ckpt.ChatTemplate()
	return tok, tmpl, err
}

// checkOut refuses an output directory that is the source checkpoint: the
// write would replace the weights it was made from. --force allows it.
func checkOut(src, out string, force bool) error {
	if force || !sameDir(src, out) {
		return nil
	}
	return fmt.Errorf("%w: --out %s is the source checkpoint %s; writing there overwrites its weights (choose another --out, or pass --force)", errUsage, out, src)
}

// sameDir reports whether a and b name the same directory: the same file on
// disk, or the same absolute path when b does not exist yet.
func sameDir(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func modelInfo(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "model info", "DIR|ID")
	cache := fs.String("hub-cache", "", "Hugging Face cache directory (default: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one DIR or ID", errUsage)
	}
	ck, err := checkpoint.Open(pos[0], hub.ResolveOptions{CacheDir: *cache})
	if err != nil {
		return err
	}
	info, err := ck.Inspect()
	if err != nil {
		return err
	}
	return writeJSONIndent(o.stdout, info)
}

func modelInit(_ context.Context, o *cmdIO, args []string) error {
	const synopsis = "--arch llama|qwen2 --hidden N --layers N --heads N --kv-heads N --ffn N --vocab N --out DIR [--seed N] [--tie] [--max-pos N]"
	fs := newFlags(o, "model init", synopsis)
	arch := fs.String("arch", "llama", "architecture: llama or qwen2")
	hidden := fs.Int("hidden", 64, "hidden size")
	layers := fs.Int("layers", 2, "decoder layers")
	heads := fs.Int("heads", 4, "attention heads")
	kvHeads := fs.Int("kv-heads", 0, "key/value heads (grouped-query attention; 0 = heads)")
	ffn := fs.Int("ffn", 176, "MLP intermediate size")
	vocab := fs.Int("vocab", 512, "vocabulary size (at least 260: 256 bytes + special tokens)")
	maxPos := fs.Int("max-pos", 2048, "max_position_embeddings")
	tie := fs.Bool("tie", false, "tie the LM head to the embeddings")
	seed := fs.Int64("seed", 1, "seed of the random weights")
	tokDir := fs.String("tokenizer", "", "use the tokenizer in this directory (e.g. from `toolbrain tokenizer train`); --vocab 0 takes its size")
	out := fs.String("out", "", "output directory (required)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: --out is required", errUsage)
	}
	kv := *kvHeads
	if kv == 0 {
		kv = *heads
	}
	cfg := model.Config{
		Architecture: model.Architecture(*arch), HiddenSize: *hidden, IntermediateSize: *ffn,
		NumHiddenLayers: *layers, NumAttentionHeads: *heads, NumKeyValueHeads: kv,
		RopeTheta: 10000, RMSNormEps: 1e-6, VocabSize: *vocab, MaxPositionEmbeddings: *maxPos,
		TieWordEmbeddings: *tie, AttentionBias: model.Architecture(*arch) == model.Qwen2,
		TorchDType: "float32", HiddenAct: "silu",
	}
	if cfg.Architecture == model.Qwen2 {
		cfg.RopeTheta = 1e6
	}
	if *tokDir != "" {
		tok, err := tokenizer.Load(*tokDir)
		if err != nil {
			return err
		}
		if cfg.VocabSize == 0 {
			cfg.VocabSize = tok.VocabSize()
		}
		if err := checkpoint.InitWith(*out, cfg, *seed, tok); err != nil {
			return err
		}
	} else if err := checkpoint.Init(*out, cfg, *seed); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "wrote %s (%s, hidden %d, %d layers, vocab %d)\n", *out, cfg.Architecture, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.VocabSize)
	return nil
}

func modelLogits(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "model logits", "--model DIR [--adapter DIR] [--quant int8|nf4] --ids 1,2,3")
	var mf modelFlags
	mf.register(fs)
	idsFlag := fs.String("ids", "", "comma-separated token ids (required)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	ids, err := parseIDs(*idsFlag)
	if err != nil {
		return err
	}
	// One forward pass over all ids: its memory grows with their number,
	// so the count is checked against the model's context before loading.
	mf.precheck = func(ck *checkpoint.Checkpoint) error {
		if n := ck.Config.MaxPositionEmbeddings; n > 0 && len(ids) > n {
			return fmt.Errorf("%w: --ids has %d ids, more than the model's context of %d (max_position_embeddings in %s)", errUsage, len(ids), n, filepath.Join(ck.Dir, "config.json"))
		}
		return nil
	}
	l, err := mf.load()
	if err != nil {
		return err
	}
	defer l.model.Close()
	logits, err := l.model.Logits(context.Background(), [][]int32{ids})
	if err != nil {
		return err
	}
	return writeLogits(o.stdout, logits[0])
}

// writeLogits prints {"logits": [[...], ...]} with float32 precision
// (shortest repr that round-trips a float32), fast enough for 150k vocabs.
func writeLogits(w io.Writer, rows [][]float32) error {
	var b []byte
	b = append(b, `{"logits": [`...)
	for i, row := range rows {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '[')
		for j, v := range row {
			if j > 0 {
				b = append(b, ", "...)
			}
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("logit [%d][%d] is %v: not representable in JSON", i, j, v)
			}
			b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
		}
		b = append(b, ']')
	}
	b = append(b, "]}\n"...)
	_, err := w.Write(b)
	return err
}

func parseIDs(s string) ([]int32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: --ids is required (comma-separated token ids)", errUsage)
	}
	parts := strings.Split(s, ",")
	ids := make([]int32, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%w: --ids entry %d is %q, want a non-negative integer", errUsage, i+1, p)
		}
		ids[i] = int32(v)
	}
	return ids, nil
}

func modelQuantize(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "model quantize", "--model DIR --to int8|nf4 --out DIR [--force]")
	var mf modelFlags
	mf.register(fs)
	to := fs.String("to", "", "int8 or nf4 (required)")
	out := fs.String("out", "", "output directory (required)")
	force := fs.Bool("force", false, "allow --out to be the --model directory (overwrites its weights)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to != model.QuantInt8 && *to != model.QuantNF4 {
		return fmt.Errorf("%w: --to must be int8 or nf4, got %q", errUsage, *to)
	}
	if *out == "" {
		return fmt.Errorf("%w: --out is required", errUsage)
	}
	mf.quant, mf.adapter = *to, ""
	mf.precheck = func(ck *checkpoint.Checkpoint) error { return checkOut(ck.Dir, *out, *force) }
	l, err := mf.load()
	if err != nil {
		return err
	}
	defer l.model.Close()
	// Weights stored quantized load as they are: writing them again would
	// print one format and write another. Requantizing dequantized NF4 or
	// int8 codes would compound their rounding error, so it is refused.
	for _, f := range l.model.StoredQuant() {
		if f != *to {
			return fmt.Errorf("%s holds %s weights; quantizing them to %s would stack two roundings: quantize the float32 checkpoint instead", l.ckpt.Dir, f, *to)
		}
	}
	if err := l.model.Save(*out); err != nil {
		return err
	}
	if err := copyTokenizerFiles(l.ckpt.Dir, *out); err != nil {
		return err
	}
	linear, other := l.model.WeightBytes()
	return writeJSON(o.stdout, map[string]any{"out": *out, "quant": *to, "linear_bytes": linear, "other_bytes": other})
}

func modelPull(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "model pull", "ID[@REVISION] [--include GLOB,...]")
	include := fs.String("include", "", "comma-separated globs of files to fetch (default: all)")
	cfgPath := fs.String("config", "", "toolbrain.toml")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want exactly one ID", errUsage)
	}
	cfg, _, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	id, rev, err := hub.ParseID(pos[0])
	if err != nil {
		return err
	}
	c := hub.NewClient()
	if cfg.Hub.CacheDir != "" {
		c.CacheDir = cfg.Hub.CacheDir
	}
	if cfg.Hub.Endpoint != "" {
		c.Endpoint = cfg.Hub.Endpoint
	}
	bars := newDownloadBars(o.stderr)
	c.Progress = bars.update
	var allow []string
	if *include != "" {
		allow = strings.Split(*include, ",")
	}
	dir, err := c.Pull(ctx, id, rev, allow)
	bars.finish()
	if err != nil {
		return err
	}
	fmt.Fprintln(o.stdout, dir)
	return nil
}

// writeJSON prints v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// writeJSONIndent prints v as indented JSON, for people.
func writeJSONIndent(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func modelMerge(_ context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "model merge", "--model DIR --adapter DIR --out DIR [--force]")
	var mf modelFlags
	mf.register(fs)
	out := fs.String("out", "", "output directory (required)")
	force := fs.Bool("force", false, "allow --out to be the --model directory (overwrites its weights)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if mf.adapter == "" || *out == "" {
		return fmt.Errorf("%w: --adapter and --out are required", errUsage)
	}
	if mf.quant != "" {
		return fmt.Errorf("%w: merge into float32 weights; quantize the merged model afterwards", errUsage)
	}
	mf.precheck = func(ck *checkpoint.Checkpoint) error { return checkOut(ck.Dir, *out, *force) }
	l, err := mf.load()
	if err != nil {
		return err
	}
	defer l.model.Close()
	a := l.model.Adapter()
	if err := l.model.SetAdapter(nil); err != nil {
		return err
	}
	if err := l.model.MergeAdapter(a); err != nil {
		return err
	}
	if err := l.model.Save(*out); err != nil {
		return err
	}
	if err := copyTokenizerFiles(l.ckpt.Dir, *out); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "wrote %s (%s merged into %s)\n", *out, mf.adapter, l.ckpt.Dir)
	return nil
}
