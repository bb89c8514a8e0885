package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/toolbrain/toolbrain/core/checkpoint"
	"github.com/toolbrain/toolbrain/core/model"
)

// runMain is the main job. Until the email-search use case lands it loads
// the configured model (or creates a tiny random one) and completes the
// configured prompt.
func runMain(ctx context.Context, o *cmdIO, args []string) error {
	fs := newFlags(o, "run", "[--config FILE]")
	var mf modelFlags
	mf.register(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, name, err := loadConfig(mf.config)
	if err != nil {
		return err
	}
	if mf.model == "" && cfg.Core.Model == "" {
		dir, err := tinyModel()
		if err != nil {
			return err
		}
		mf.model = dir
	}
	fmt.Fprintf(o.stderr, "config: %s\n", name)
	start := time.Now()
	l, err := mf.load()
	if err != nil {
		return err
	}
	defer l.model.Close()
	c := l.ckpt.Config
	fmt.Fprintf(o.stderr, "model: %s (%s, hidden %d, %d layers, vocab %d) loaded in %v on backend %s\n",
		l.ckpt.Dir, c.Architecture, c.HiddenSize, c.NumHiddenLayers, c.VocabSize, time.Since(start).Round(time.Millisecond), l.model.Backend().Name())
	out, st, err := generateText(ctx, l, []string{cfg.Generate.Prompt}, cfg.Generate.Chat, cfg.Generate)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "%s%s\n", cfg.Generate.Prompt, out[0].Text)
	fmt.Fprintf(o.stderr, "generated %d tokens in %v (%.1f tokens/s), finish: %s\n",
		st.Tokens, st.Elapsed.Round(time.Millisecond), float64(st.Tokens)/st.Elapsed.Seconds(), out[0].FinishReason)
	return nil
}

// tinyModel returns the directory of the tiny random model that the main
// job uses when no model is configured, creating it on first use in the
// user cache directory. It is built in a temporary directory and renamed
// into place, so an interrupted first run leaves nothing half-written.
func tinyModel() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "toolbrain", "tiny-llama-v1")
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tiny-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cfg := model.Config{
		Architecture: model.Llama, HiddenSize: 64, IntermediateSize: 176, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, RopeTheta: 10000, RMSNormEps: 1e-6,
		VocabSize: 512, MaxPositionEmbeddings: 2048, TorchDType: "float32", HiddenAct: "silu",
	}
	if err := checkpoint.Init(tmp, cfg, 1); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		// Another process may have won the race: use its copy.
		if _, statErr := os.Stat(filepath.Join(dir, "model.safetensors")); statErr != nil {
			return "", err
		}
	}
	return dir, nil
}
