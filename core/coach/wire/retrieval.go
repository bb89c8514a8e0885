package wire

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gomlx/gomlx/backends"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/retrieval"
	"github.com/toolbrain/toolbrain/core/tokenizer"
	"github.com/toolbrain/toolbrain/sdk"
)

// taskTools is [retrieval]: the top k tools of the index for each task's
// prompt, chosen once per task and remembered.
type taskTools struct {
	ix *retrieval.Index
	k  int

	mu     sync.Mutex
	byTask map[string][]sdk.ToolSpec // by ID and prompt; as many as the run's tasks
}

// toolRetrieval indexes the athlete's tools for [retrieval]. The tools are
// embedded here, once (by the model as loaded, for embedder = "model").
func (e *Env) toolRetrieval(ctx context.Context, b backends.Backend, tok *tokenizer.Tokenizer, specs []sdk.ToolSpec) (*taskTools, error) {
	r := e.Config.Retrieval
	if len(specs) == 0 {
		return nil, errors.New("retrieval.enabled: the athlete has no tools to choose from (set [train] packs or [[mcp]] servers)")
	}
	o := retrieval.Options{Method: r.Method}
	if r.Method == retrieval.MethodFused {
		if r.Embedder == "model" {
			o.Embedder = retrieval.ModelEmbedder{Model: e.Model, Tokenizer: tok}
		} else {
			emb, closeFn, err := retrieval.OpenEmbedder(r.Embedder, b, hub.ResolveOptions{CacheDir: e.Config.Hub.CacheDir})
			if err != nil {
				return nil, fmt.Errorf("retrieval.embedder: %w", err)
			}
			e.closers = append(e.closers, closeFn)
			o.Embedder = emb
		}
	}
	if r.Rerank {
		o.Reranker = retrieval.LLMReranker{Client: e.Scoring.Judge}
	}
	ix, err := retrieval.New(ctx, specs, o)
	if err != nil {
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	return &taskTools{ix: ix, k: r.K, byTask: map[string][]sdk.ToolSpec{}}, nil
}

// Select is agent.Config.SelectTools: the task's tools.
func (s *taskTools) Select(ctx context.Context, t agent.Task) ([]sdk.ToolSpec, error) {
	return s.forTask(ctx, t.ID, t.Prompt)
}

func (s *taskTools) forTask(ctx context.Context, id, prompt string) ([]sdk.ToolSpec, error) {
	key := id + "\x00" + prompt
	s.mu.Lock()
	specs, ok := s.byTask[key]
	s.mu.Unlock()
	if ok {
		return specs, nil
	}
	specs, err := s.ix.Select(ctx, prompt, s.k)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.byTask[key] = specs
	s.mu.Unlock()
	return specs, nil
}

// Only wraps the tools a CodeAct sandbox calls so that a call reaches
// next only when its task (stamped by the sandbox) was given that tool;
// any other is a tool error. The sandbox binds every tool, so this is
// where a CodeAct episode's selection is enforced. On a nil s, next.
func (s *taskTools) Only(next sdk.Tool) sdk.Tool {
	if s == nil || next == nil {
		return next
	}
	return onlySelected{s: s, next: next}
}

type onlySelected struct {
	s    *taskTools
	next sdk.Tool
}

func (o onlySelected) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	if req.Task != nil {
		specs, err := o.s.forTask(ctx, req.Task.ID, req.Task.Prompt)
		if err != nil {
			return sdk.ToolCallResponse{}, err
		}
		found := false
		for _, sp := range specs {
			found = found || sp.Name == req.Name
		}
		if !found {
			return sdk.ToolCallResponse{Content: fmt.Sprintf("Error: no tool %q for this task", req.Name), IsError: true}, nil
		}
	}
	return o.next.CallTool(ctx, req)
}
