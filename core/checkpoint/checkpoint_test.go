package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/core/backend"
	"github.com/toolbrain/toolbrain/core/hub"
	"github.com/toolbrain/toolbrain/core/model"
)

const shared = "../../testdata/models"

func tinyConfig() model.Config {
	return model.Config{
		Architecture: model.Qwen2, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 1,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, RopeTheta: 1e6, RMSNormEps: 1e-6,
		VocabSize: 300, MaxPositionEmbeddings: 128, AttentionBias: true, TieWordEmbeddings: true,
	}
}

// TestInit_OpenInspectLoad creates a random checkpoint and reads every part
// of it back: config, weights, tokenizer and chat template.
func TestInit_OpenInspectLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := Init(dir, tinyConfig(), 3); err != nil {
		t.Fatal(err)
	}
	ck, err := Open(dir, hub.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := ck.Inspect()
	if err != nil {
		t.Fatal(err)
	}
	if want := ck.Config.NumParameters(); info.Parameters != want {
		t.Errorf("Inspect counts %d parameters, config implies %d", info.Parameters, want)
	}
	if !info.Tokenizer || !info.ChatTemplate || info.DTypes["F32"] != info.Tensors {
		t.Errorf("Inspect = %+v", info)
	}
	tok, err := ck.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	if eos, _ := tok.EOS(); len(ck.Config.EOSTokenIDs) != 1 || int(eos) != ck.Config.EOSTokenIDs[0] {
		t.Errorf("config eos %v, tokenizer eos %d: Init must make them agree", ck.Config.EOSTokenIDs, eos)
	}
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ck.LoadModel(b, model.LoadOptions{}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	logits, err := m.Logits(context.Background(), [][]int32{tok.Encode("hi there")})
	if err != nil {
		t.Fatal(err)
	}
	if len(logits[0][0]) != 300 {
		t.Errorf("vocab %d, want 300", len(logits[0][0]))
	}
}

// TestOpen_HubID resolves a Hugging Face id in a cache laid out as
// huggingface_hub writes it.
func TestOpen_HubID(t *testing.T) {
	cache := t.TempDir()
	snap := filepath.Join(cache, "models--acme--tiny", "snapshots", "0123456789abcdef0123456789abcdef01234567")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(shared, "llama-tiny", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(snap, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(cache, "models--acme--tiny", "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "models--acme--tiny", "refs", "main"), []byte("0123456789abcdef0123456789abcdef01234567"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HF_HUB_CACHE", cache)
	ck, err := Open("acme/tiny", hub.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ck.Dir != snap || ck.Config.HiddenSize != 64 {
		t.Errorf("Open(acme/tiny) = %s (hidden %d), want %s", ck.Dir, ck.Config.HiddenSize, snap)
	}
	if _, err := ck.Tokenizer(); !errors.Is(err, ErrNoTokenizer) {
		t.Errorf("Tokenizer() on a checkpoint without one: %v, want ErrNoTokenizer", err)
	}
}

func TestLoadModel_AdapterForAnotherBase(t *testing.T) {
	ck, err := Open(filepath.Join(shared, "qwen2-tiny-bf16"), hub.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ck.LoadModel(b, model.LoadOptions{}, filepath.Join(shared, "llama-tiny-lora"))
	if err == nil || !strings.Contains(err.Error(), "llama-tiny-lora") {
		t.Errorf("llama adapter on the qwen2 model: %v, want an error naming the adapter", err)
	}
}
