package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/toolbrain/toolbrain/core/serve"
)

const serveSynopsis = "--model DIR|ID [--adapter DIR] [--quant int8|nf4] [--addr 127.0.0.1:PORT] [--api-key-env NAME] [--max-active N] [--context N]"

// serveCmd runs an OpenAI-compatible server on the model until ctx ends.
func serveCmd(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "serve", serveSynopsis)
	var mf modelFlags
	mf.register(fs)
	addr := fs.String("addr", "127.0.0.1:8000", "listen address (loopback unless told otherwise)")
	keyEnv := fs.String("api-key-env", "", "name of an environment variable holding the API key clients must send")
	active := fs.Int("max-active", 8, "requests decoded together (rows of the batch); more wait in the queue")
	queue := fs.Int("max-queue", 16, "requests that may wait; beyond them a request gets 429")
	maxTokens := fs.Int("max-tokens", 256, "completion length when a request sets none")
	contextLen := fs.Int("context", 0, "tokens per request, prompt and completion (0: the model's max_position_embeddings, at most 4096); the KV cache holds max-active × context")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *active < 1 || *queue < 0 || *maxTokens < 1 || *contextLen < 0 {
		return fmt.Errorf("%w: --max-active and --max-tokens must be at least 1, --max-queue and --context at least 0", errUsage)
	}
	var key string
	if *keyEnv != "" {
		if key = os.Getenv(*keyEnv); key == "" {
			return fmt.Errorf("%w: --api-key-env: the environment variable %s is empty or unset", errUsage, *keyEnv)
		}
	}
	l, err := mf.load()
	if err != nil {
		return err
	}
	defer l.model.Close()
	engine, err := l.engine(*maxTokens, *active, *contextLen)
	if err != nil {
		return err
	}
	defer engine.Close()
	id := mf.model
	if id == "" {
		id = l.ckpt.Dir
	}
	q := *queue
	if q == 0 {
		q = -1 // serve.Config reads 0 as its default
	}
	h, err := serve.New(serve.Config{Engine: engine, Model: id, APIKey: key, MaxActive: *active, MaxQueue: q})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(o.stderr, "serving %s on http://%s/v1\n", id, ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// engine wraps the loaded model in a serve.Engine that renders requests
// with the checkpoint's chat template and stops at its stop tokens.
func (l *loaded) engine(maxTokens, rows, contextLen int) (*serve.Engine, error) {
	tok, tmpl, err := l.chat()
	if err != nil {
		return nil, err
	}
	if contextLen == 0 {
		contextLen = min(l.ckpt.Config.MaxPositionEmbeddings, serve.DefaultMaxLen)
	}
	if n := l.ckpt.Config.MaxPositionEmbeddings; contextLen > n {
		return nil, fmt.Errorf("%w: --context %d is longer than the model's max_position_embeddings %d", errUsage, contextLen, n)
	}
	return serve.NewEngine(serve.EngineConfig{Model: l.model, Tokenizer: tok, Template: tmpl,
		StopTokenIDs: l.ckpt.StopTokenIDs(tok), MaxLen: contextLen, MaxTokens: maxTokens, Rows: rows})
}
