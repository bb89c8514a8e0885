package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/core/llm"
	"github.com/toolbrain/toolbrain/core/scoring"
	"github.com/toolbrain/toolbrain/core/taskgen"
	"github.com/toolbrain/toolbrain/core/taskgen/emailtasks"
	"github.com/toolbrain/toolbrain/plugins/packs/email"
	"github.com/toolbrain/toolbrain/plugins/packs/email/corpus"
	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	"github.com/toolbrain/toolbrain/runtime/mcp"
	"github.com/toolbrain/toolbrain/runtime/pack"
	"github.com/toolbrain/toolbrain/sdk"
)

const tasksGenerateSynopsis = "--pack PACK|--mcp NAME --n N --out FILE [--config FILE] [--generator scripted|endpoint|local] [--endpoint URL] [--model NAME] [--sample DIR|FILE] [--seed S]"

// tasksGenerateResult is what `toolbrain tasks generate` prints.
type tasksGenerateResult struct {
	Out       string `json:"out"`
	Source    string `json:"source"`
	Generator string `json:"generator"`
	taskgen.Summary
}

// toolSource is the tools tasks are written for, open.
type toolSource struct {
	name  string
	specs []sdk.ToolSpec
	tools sdk.Tool
	// msgs is the email pack's inbox sample (nil for other sources).
	msgs []corpus.Message
	// scope is taskgen.Options.Scope.
	scope []string
	close func()
}

func tasksGenerate(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "tasks generate", tasksGenerateSynopsis)
	packArg := fs.String("pack", "", `tool pack: a pack directory or archive, or "email" for the first-party email tools over --sample (a corpus directory of `+"`toolbrain data email`"+`)`)
	mcpName := fs.String("mcp", "", "the [[mcp]] server NAME of the config: its granted tools")
	cfgPath := fs.String("config", "", "toolbrain.toml ([[mcp]] servers, [train] pack_config, [plugins]; default: ./toolbrain.toml, else the embedded default)")
	n := fs.Int("n", 0, "tasks to keep (required)")
	out := fs.String("out", "", "task file to write, JSONL that `toolbrain train`/`eval` read (required)")
	gen := fs.String("generator", "scripted", "scripted: offline, no model — questions from templates, gold answers from the real tools' output (the email pack: facts read from the --sample inbox); endpoint: an OpenAI-compatible API (--endpoint, --model); local: a local checkpoint (--model)")
	endpoint := fs.String("endpoint", "", "OpenAI-compatible API root for --generator endpoint, such as http://localhost:8000/v1")
	model := fs.String("model", "", "model name the endpoint serves, or a checkpoint directory/Hugging Face id for --generator local")
	keyEnv := fs.String("api-key-env", "", "environment variable holding the endpoint's API key")
	sample := fs.String("sample", "", "sample data the tasks are about: a file or directory (shown to a model generator; for the email pack, the corpus directory whose inboxes the tools search)")
	seed := fs.Uint64("seed", 0, "seed of the scripted generator")
	near := fs.Float64("near-duplicate", taskgen.DefaultNearDuplicate, "token-set Jaccard similarity at or above which a question is a near-duplicate (above 1: off)")
	rounds := fs.Int("rounds", taskgen.DefaultMaxRounds, "generator calls at most, while checks leave fewer than N tasks")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case (*packArg == "") == (*mcpName == ""):
		return fmt.Errorf("%w: give one of --pack and --mcp", errUsage)
	case *n <= 0:
		return fmt.Errorf("%w: --n must be > 0", errUsage)
	case *out == "":
		return fmt.Errorf("%w: --out is required", errUsage)
	case *rounds <= 0:
		return fmt.Errorf("%w: --rounds must be > 0", errUsage)
	case *near <= 0:
		return fmt.Errorf("%w: --near-duplicate must be > 0", errUsage)
	}
	cfg, _, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	src, err := openToolSource(ctx, o, cfg, *packArg, *mcpName, *sample)
	if err != nil {
		return err
	}
	defer src.close()

	opts := taskgen.Options{Specs: src.specs, Tools: src.tools, N: *n, Seed: *seed, NearDuplicate: *near, MaxRounds: *rounds, Scope: src.scope, IDPrefix: src.name}
	switch {
	case src.msgs != nil:
		opts.Sample = emailtasks.Sample(src.msgs, 0)
	case *sample != "":
		if opts.Sample, err = taskgen.ReadSample(*sample); err != nil {
			return err
		}
	}
	var closeGen func()
	if opts.Generator, closeGen, err = newGenerator(cfg, *gen, *endpoint, *model, *keyEnv, src); err != nil {
		return err
	}
	defer closeGen()

	res, err := taskgen.Run(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stderr, "tasks generate: %s\n", res.Summary)
	for _, ex := range res.Summary.Examples {
		fmt.Fprintf(o.stderr, "  e.g. %s: %q: %s\n", ex.Reason, ex.Question, ex.Detail)
	}
	if len(res.Tasks) == 0 {
		return errors.New("no task passed the checks; nothing written")
	}
	if err := taskgen.WriteTasks(*out, res.Tasks); err != nil {
		return err
	}
	if len(res.Tasks) < *n {
		fmt.Fprintf(o.stderr, "tasks generate: only %d of %d tasks passed the checks (more --rounds, another --seed or more --sample may help)\n", len(res.Tasks), *n)
	}
	return writeJSON(o.stdout, tasksGenerateResult{Out: *out, Source: src.name, Generator: *gen, Summary: res.Summary})
}

// openToolSource opens the pack or the MCP server whose tools the tasks
// use.
func openToolSource(ctx context.Context, o *cmdIO, cfg config.Config, packArg, mcpName, sample string) (*toolSource, error) {
	if mcpName != "" {
		sc, err := cfg.MCPServer(mcpName)
		if err != nil {
			return nil, err
		}
		s, err := mcp.Start(ctx, sc)
		if err != nil {
			return nil, err
		}
		for _, p := range s.Problems() {
			fmt.Fprintf(o.stderr, "tasks generate: left out: %v\n", p)
		}
		if len(s.Specs()) == 0 {
			s.Close()
			return nil, fmt.Errorf("mcp %s: no granted, usable tool (see `toolbrain mcp list %s`)", mcpName, mcpName)
		}
		return &toolSource{name: mcpName, specs: s.Specs(), tools: s, close: func() { s.Close() }}, nil
	}
	if _, err := os.Stat(packArg); errors.Is(err, os.ErrNotExist) && packArg == "email" {
		return openEmail(ctx, sample)
	}
	p, err := pack.Load(packArg)
	if err != nil {
		return nil, err
	}
	name := p.Manifest.Name
	pc := cfg.Train.PackConfig[name]
	if name == "email" {
		// The email pack's corpus and the sample are one directory: the
		// config's when --sample is not given, else --sample.
		if sample == "" {
			sample = pc["corpus"]
		}
		if sample != "" && pc["corpus"] == "" {
			pc = map[string]string{"corpus": sample}
			for k, v := range cfg.Train.PackConfig[name] {
				pc[k] = v
			}
		}
	}
	sh, err := scoring.NewHost(ctx, cfg)
	if err != nil {
		return nil, err
	}
	openers := pack.Openers{
		pack.ModuleWASM:     pack.WASM(sh.WASM),
		pack.ModuleGoPlugin: pack.GoPlugin(goplugin.Config{LLM: sh.LLM()}),
	}
	tools, err := pack.Open(ctx, p, openers, contract.PluginConfig{Limits: cfg.Plugins.Limits, Config: pc})
	if err != nil {
		sh.Close(ctx)
		return nil, fmt.Errorf("pack %s: %w", packArg, err)
	}
	src := &toolSource{name: name, specs: tools.Specs(), tools: tools, close: func() {
		tools.Close(context.Background())
		sh.Close(context.Background())
	}}
	if name == "email" && sample != "" {
		if src.msgs, err = corpus.ReadMessages(filepath.Join(sample, corpus.MessagesFile)); err != nil {
			src.close()
			return nil, err
		}
		src.scope = []string{corpus.MetadataInbox}
	}
	return src, nil
}

// openEmail is the first-party email tools, in process, over the corpus
// directory sample.
func openEmail(ctx context.Context, sample string) (*toolSource, error) {
	if sample == "" {
		return nil, fmt.Errorf("%w: --pack email needs --sample DIR, a corpus directory (`toolbrain data email --out DIR`)", errUsage)
	}
	msgs, err := corpus.ReadMessages(filepath.Join(sample, corpus.MessagesFile))
	if err != nil {
		return nil, err
	}
	store, err := email.NewStore(ctx, msgs)
	if err != nil {
		return nil, err
	}
	return &toolSource{name: "email", specs: email.Specs(), tools: email.NewTools(store), msgs: msgs,
		scope: []string{corpus.MetadataInbox}, close: func() { store.Close() }}, nil
}

// newGenerator builds the --generator; the func releases it.
func newGenerator(cfg config.Config, kind, endpoint, model, keyEnv string, src *toolSource) (taskgen.Generator, func(), error) {
	hint := ""
	if src.msgs != nil {
		hint = emailtasks.Hint
	}
	switch kind {
	case "scripted":
		if endpoint != "" || model != "" {
			return nil, nil, fmt.Errorf("%w: --endpoint and --model go with --generator endpoint or local", errUsage)
		}
		if src.msgs != nil {
			return &emailtasks.Generator{Messages: src.msgs}, func() {}, nil
		}
		return &taskgen.Scripted{Tools: src.tools}, func() {}, nil
	case "endpoint":
		if endpoint == "" || model == "" {
			return nil, nil, fmt.Errorf("%w: --generator endpoint needs --endpoint URL and --model NAME", errUsage)
		}
		key := ""
		if keyEnv != "" {
			if key = os.Getenv(keyEnv); key == "" {
				return nil, nil, fmt.Errorf("--api-key-env: %s is unset or empty", keyEnv)
			}
		}
		e, err := llm.NewEndpoint(llm.EndpointConfig{BaseURL: endpoint, Model: model, APIKey: key})
		if err != nil {
			return nil, nil, fmt.Errorf("--endpoint: %w", err)
		}
		return &taskgen.LLM{Client: e, Hint: hint}, func() {}, nil
	case "local":
		if model == "" || endpoint != "" {
			return nil, nil, fmt.Errorf("%w: --generator local needs --model DIR|ID and no --endpoint", errUsage)
		}
		l, err := llm.OpenLocal(llm.LocalConfig{Model: model, Backend: cfg.Core.Backend, HubCacheDir: cfg.Hub.CacheDir})
		if err != nil {
			return nil, nil, fmt.Errorf("--model: %w", err)
		}
		return &taskgen.LLM{Client: l, Hint: hint}, func() { l.Close() }, nil
	}
	return nil, nil, fmt.Errorf("%w: --generator %q, want scripted, endpoint or local", errUsage, kind)
}
