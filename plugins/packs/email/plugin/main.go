// Command plugin is the email pack's module: a go-plugin process that
// serves search_emails and read_email (package email) over the corpus named
// by its configuration's "corpus" key (a directory written by
// `toolbrain data email`). The pack's toolpack.toml names it email-tools:
//
//	go build -o plugins/packs/email/email-tools ./plugins/packs/email/plugin
//	toolbrain pack build plugins/packs/email
//
// Each call searches the inbox its task names (sdk.ToolCallRequest.Task,
// metadata "inbox"), which the host sets from the episode's task.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/toolbrain/toolbrain/plugins/packs/email"
	"github.com/toolbrain/toolbrain/runtime/goplugin/serve"
	"github.com/toolbrain/toolbrain/sdk"
)

// errNoCorpus means the host did not configure the corpus directory.
var errNoCorpus = errors.New(`email-tools: no corpus configured: set the pack's config "corpus" to a directory written by toolbrain data email`)

// lazy holds the tools once Configure has opened the corpus.
type lazy struct {
	mu    sync.Mutex
	dir   string
	tools *email.Tools
}

func (l *lazy) configure(cfg map[string]string) error {
	dir := cfg["corpus"]
	if dir == "" {
		return errNoCorpus
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tools != nil && l.dir == dir {
		return nil
	}
	s, err := email.Open(context.Background(), dir)
	if err != nil {
		return fmt.Errorf("email-tools: %w", err)
	}
	l.dir, l.tools = dir, email.NewTools(s)
	return nil
}

func (l *lazy) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	l.mu.Lock()
	t := l.tools
	l.mu.Unlock()
	if t == nil {
		return sdk.ToolCallResponse{}, errNoCorpus
	}
	return t.CallTool(ctx, req)
}

func main() {
	l := &lazy{}
	err := serve.Serve(serve.Plugin{
		Name: "email-tools", Version: "0.1.0", Kind: sdk.KindTool,
		Tool: l, Configure: l.configure,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
