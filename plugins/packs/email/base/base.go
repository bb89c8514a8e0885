// Package base ships the email agent's distilled base model inside the
// binary: a small Llama-family decoder with a byte-level BPE tokenizer
// trained on the email corpus, fine-tuned on a scripted expert's
// conversations (see examples/email_search/README.md for the command that
// makes it). The main job (`toolbrain run`) starts RL from it.
package base

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed model
var files embed.FS

// JobTOML is the main job's configuration (job.toml): the training
// settings tuned for this base. `toolbrain run` uses it unless given
// --config.
//
//go:embed job.toml
var JobTOML string

// Files are the checkpoint's files, as a Hugging Face directory.
func Files() fs.FS {
	sub, err := fs.Sub(files, "model")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// Dir returns a directory holding the base checkpoint: the user cache's
// toolbrain/email-base-<hash> (or the temporary directory's), written on
// first use under a temporary name and renamed into place, so an
// interrupted first run leaves nothing half-written.
func Dir() (string, error) {
	sum, err := digest()
	if err != nil {
		return "", err
	}
	root, err := os.UserCacheDir()
	if err != nil {
		root = os.TempDir()
	}
	dir := filepath.Join(root, "toolbrain", "email-base-"+sum[:12])
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("email base: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".email-base-*")
	if err != nil {
		return "", fmt.Errorf("email base: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.CopyFS(tmp, Files()); err != nil {
		return "", fmt.Errorf("email base: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, statErr := os.Stat(filepath.Join(dir, "model.safetensors")); statErr != nil {
			return "", fmt.Errorf("email base: %w", err)
		}
	}
	return dir, nil
}

// digest names the embedded checkpoint by its contents.
func digest() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Files(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("email base: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
