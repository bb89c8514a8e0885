package hub_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/toolbrain/toolbrain/core/hub"
)

// Resolve finds a model that huggingface_hub (or Client.Pull) has put in the
// cache; here the cache is built by hand.
func ExampleResolve() {
	cache, err := os.MkdirTemp("", "hf-cache")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cache)
	const commit = "0123456789abcdef0123456789abcdef01234567"
	repo := hub.RepoDir(cache, "Qwen/Qwen2.5-0.5B-Instruct")
	os.MkdirAll(filepath.Join(repo, "snapshots", commit), 0o755)
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644)

	dir, err := hub.Resolve("Qwen/Qwen2.5-0.5B-Instruct", hub.ResolveOptions{CacheDir: cache})
	if err != nil {
		log.Fatal(err)
	}
	rel, _ := filepath.Rel(cache, dir)
	fmt.Println(filepath.ToSlash(rel))

	_, err = hub.Resolve("meta-llama/Llama-3.2-1B", hub.ResolveOptions{CacheDir: cache})
	fmt.Println(err != nil)
	// Output:
	// models--Qwen--Qwen2.5-0.5B-Instruct/snapshots/0123456789abcdef0123456789abcdef01234567
	// true
}
