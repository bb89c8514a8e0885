package wire_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/agent"
	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/coach/wire"
	"github.com/toolbrain/toolbrain/core/config"
	"github.com/toolbrain/toolbrain/core/model"
)

// TestOpen_Retrieval: with [retrieval] on, each task's episodes see only
// the top-k tools for its prompt; off, every tool.
func TestOpen_Retrieval(t *testing.T) {
	tests := []struct {
		name      string
		retrieval config.Retrieval
		prompt    string
		want      []string // tools in the prompt
		notWant   []string
	}{
		{name: "bm25 square root", retrieval: config.Retrieval{Enabled: true, K: 1, Method: "bm25"}, prompt: "What is the square root of 16?", want: []string{"sqrt"}, notWant: []string{"arith"}},
		{name: "bm25 enum value", retrieval: config.Retrieval{Enabled: true, K: 1, Method: "bm25"}, prompt: "Please add 2 and 3", want: []string{"arith"}, notWant: []string{"sqrt"}},
		{name: "fused on the loaded model", retrieval: config.Retrieval{Enabled: true, K: 2, Method: "fused", Embedder: "model"}, prompt: "square root of 9", want: []string{"sqrt", "arith"}},
		{name: "off", retrieval: config.Retrieval{K: 1, Method: "bm25"}, prompt: "What is the square root of 16?", want: []string{"sqrt", "arith"}},
	}
	base := kit(t, "")
	// The default system prompt lists the tools: a model with room for them.
	base.Train.Athlete, base.Train.System, base.Train.MaxLen = "tool_calling", "", 1024
	base.Core.Model = filepath.Join(t.TempDir(), "model")
	if err := checkpoint.Init(base.Core.Model, model.Config{Architecture: model.Llama, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 1,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, RopeTheta: 10000, RMSNormEps: 1e-6, VocabSize: 300, MaxPositionEmbeddings: 1024,
		TorchDType: "float32", HiddenAct: "silu"}, 5); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.Retrieval = tt.retrieval
			env, err := wire.Open(context.Background(), cfg, wire.Options{}, true)
			if err != nil {
				t.Fatal(err)
			}
			defer env.Close()
			tr, err := env.Agent.Run(context.Background(), agent.Task{ID: "q", Prompt: tt.prompt})
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.Turns) == 0 {
				t.Fatalf("no turn: %s", tr.Error)
			}
			sys := tr.Turns[0].Prompt
			sys = sys[:strings.Index(sys, "<|im_start|>user")]
			for _, w := range tt.want {
				if !strings.Contains(sys, `"name":"`+w+`"`) {
					t.Errorf("tool %s missing from the system turn:\n%s", w, sys)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(sys, `"name":"`+w+`"`) {
					t.Errorf("tool %s not retrieved but in the system turn:\n%s", w, sys)
				}
			}
		})
	}
}

func TestOpen_RetrievalErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{name: "missing embedder checkpoint", want: "retrieval.embedder", edit: func(c *config.Config) {
			c.Retrieval = config.Retrieval{Enabled: true, K: 1, Method: "fused", Embedder: "/nonexistent/embedder"}
		}},
		{name: "no tools to choose from", want: "no tools to choose from", edit: func(c *config.Config) {
			c.Train.Athlete, c.Train.Packs = "codeact", nil
			c.Retrieval = config.Retrieval{Enabled: true, K: 1, Method: "bm25"}
		}},
	}
	base := kit(t, "")
	base.Train.Athlete = "tool_calling"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.edit(&cfg)
			if _, err := wire.Open(context.Background(), cfg, wire.Options{}, true); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
