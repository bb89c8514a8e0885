package hub

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// fakeCache builds the tree huggingface_hub leaves after downloading
// Qwen/Qwen2.5-0.5B-Instruct at main (commitA) and at a tag v1 (commitB).
func fakeCache(t *testing.T, root string) {
	t.Helper()
	repo := filepath.Join(root, "models--Qwen--Qwen2.5-0.5B-Instruct")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{commitA, commitB} {
		must(os.MkdirAll(filepath.Join(repo, "snapshots", c), 0o755))
	}
	must(os.MkdirAll(filepath.Join(repo, "blobs"), 0o755))
	must(os.MkdirAll(filepath.Join(repo, "refs"), 0o755))
	must(os.WriteFile(filepath.Join(repo, "blobs", "deadbeef"), []byte("{}"), 0o644))
	must(os.Symlink("../../blobs/deadbeef", filepath.Join(repo, "snapshots", commitA, "config.json")))
	must(os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commitA), 0o644)) // no newline, as written by huggingface_hub
	must(os.WriteFile(filepath.Join(repo, "refs", "v1"), []byte(commitB+"\n"), 0o644))
	must(os.WriteFile(filepath.Join(repo, "refs", "broken"), []byte("not-a-hash"), 0o644))
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	hubCache := filepath.Join(root, "hubcache")
	hfHomeDir := filepath.Join(root, "hfhome")
	home := filepath.Join(root, "home")
	fakeCache(t, hubCache)
	fakeCache(t, filepath.Join(hfHomeDir, "hub"))
	fakeCache(t, filepath.Join(home, ".cache", "huggingface", "hub"))
	plain := filepath.Join(root, "checkpoint")
	os.MkdirAll(plain, 0o755)

	snap := func(cache, commit string) string {
		return filepath.Join(cache, "models--Qwen--Qwen2.5-0.5B-Instruct", "snapshots", commit)
	}
	tests := []struct {
		name                   string
		hubCacheEnv, hfHomeEnv string
		in                     string
		opts                   ResolveOptions
		want                   string
	}{
		{name: "existing directory", in: plain, want: plain},
		{name: "HF_HUB_CACHE wins", hubCacheEnv: hubCache, hfHomeEnv: hfHomeDir, in: "Qwen/Qwen2.5-0.5B-Instruct", want: snap(hubCache, commitA)},
		{name: "HF_HOME/hub", hfHomeEnv: hfHomeDir, in: "Qwen/Qwen2.5-0.5B-Instruct", want: snap(filepath.Join(hfHomeDir, "hub"), commitA)},
		{name: "home default", in: "Qwen/Qwen2.5-0.5B-Instruct", want: snap(filepath.Join(home, ".cache", "huggingface", "hub"), commitA)},
		{name: "tag in id", hubCacheEnv: hubCache, in: "Qwen/Qwen2.5-0.5B-Instruct@v1", want: snap(hubCache, commitB)},
		{name: "tag in options", hubCacheEnv: hubCache, in: "Qwen/Qwen2.5-0.5B-Instruct", opts: ResolveOptions{Revision: "v1"}, want: snap(hubCache, commitB)},
		{name: "id beats options", hubCacheEnv: hubCache, in: "Qwen/Qwen2.5-0.5B-Instruct@main", opts: ResolveOptions{Revision: "v1"}, want: snap(hubCache, commitA)},
		{name: "commit hash", hubCacheEnv: hubCache, in: "Qwen/Qwen2.5-0.5B-Instruct@" + commitB, want: snap(hubCache, commitB)},
		{name: "explicit cache dir", hubCacheEnv: "/nonexistent", in: "Qwen/Qwen2.5-0.5B-Instruct", opts: ResolveOptions{CacheDir: hfHomeDir + "/hub"}, want: snap(filepath.Join(hfHomeDir, "hub"), commitA)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HF_HUB_CACHE", tt.hubCacheEnv)
			t.Setenv("HF_HOME", tt.hfHomeEnv)
			t.Setenv("XDG_CACHE_HOME", "")
			t.Setenv("HOME", home)
			got, err := Resolve(tt.in, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Resolve(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
	t.Run("files readable through symlinks", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(snap(hubCache, commitA), "config.json"))
		if err != nil || string(b) != "{}" {
			t.Errorf("config.json = %q, %v", b, err)
		}
	})
}

func TestResolve_Errors(t *testing.T) {
	cache := t.TempDir()
	fakeCache(t, cache)
	t.Setenv("HF_HUB_CACHE", cache)
	tests := []struct {
		name     string
		in       string
		want     error
		contains []string
	}{
		{"not cached", "meta-llama/Llama-3.2-1B", ErrNotFound,
			[]string{filepath.Join(cache, "models--meta-llama--Llama-3.2-1B", "refs", "main"), "toolbrain model pull meta-llama/Llama-3.2-1B"}},
		{"unknown tag", "Qwen/Qwen2.5-0.5B-Instruct@v9", ErrNotFound,
			[]string{"refs/v9", "toolbrain model pull Qwen/Qwen2.5-0.5B-Instruct@v9"}},
		{"commit not downloaded", "Qwen/Qwen2.5-0.5B-Instruct@cccccccccccccccccccccccccccccccccccccccc", ErrNotFound,
			[]string{"snapshots/cccccccccccccccccccccccccccccccccccccccc"}},
		{"missing path", "./no/such/dir", ErrInvalidID, []string{"not a directory"}},
		{"too many slashes", "a/b/c", ErrInvalidID, nil},
		{"escaping revision", "Qwen/Qwen2.5-0.5B-Instruct@../../etc", ErrInvalidID, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(tt.in, ResolveOptions{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, s := range tt.contains {
				if !strings.Contains(filepath.ToSlash(err.Error()), filepath.ToSlash(s)) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
	if _, err := Resolve("Qwen/Qwen2.5-0.5B-Instruct@broken", ResolveOptions{}); err == nil || !strings.Contains(err.Error(), "not a commit hash") {
		t.Errorf("broken ref: %v", err)
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		name, in, id, rev string
		ok                bool
	}{
		{"owner/name", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "", true},
		{"single segment", "gpt2", "gpt2", "", true},
		{"revision", "a/b@v1.0", "a/b", "v1.0", true},
		{"pr ref", "a/b@refs/pr/1", "a/b", "refs/pr/1", true},
		{"empty", "", "", "", false},
		{"empty revision", "a/b@", "", "", false},
		{"double dash", "a--b/c", "", "", false},
		{"double dot", "a/b..c", "", "", false},
		{"leading dot", ".a/b", "", "", false},
		{"trailing dash", "a/b-", "", "", false},
		{"space", "a/b c", "", "", false},
		{"absolute path", "/abs", "", "", false},
		{"too long", "a/" + strings.Repeat("x", 97), "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, rev, err := ParseID(tt.in)
			if (err == nil) != tt.ok || id != tt.id || rev != tt.rev {
				t.Errorf("ParseID(%q) = %q, %q, %v", tt.in, id, rev, err)
			}
			if err != nil && !errors.Is(err, ErrInvalidID) {
				t.Errorf("err %v does not wrap ErrInvalidID", err)
			}
		})
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"Qwen/Qwen2.5-0.5B-Instruct", "gpt2@main", "a/b@refs/pr/1", "../x", "a/b@../../etc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, rev, err := ParseID(s)
		if err != nil {
			return
		}
		// Whatever is accepted stays inside the cache directory.
		for _, p := range []string{RepoDir("cache", id), filepath.Join("cache", "refs", rev)} {
			if !filepath.IsLocal(p) || !strings.HasPrefix(filepath.Clean(p), "cache") {
				t.Fatalf("%q escapes: %s", s, p)
			}
		}
	})
}
