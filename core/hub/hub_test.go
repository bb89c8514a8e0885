package hub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/toolbrain/toolbrain/core/safetensors"
)

const llamaDir = "../../testdata/models/llama-tiny"

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// llamaRepo is the shared llama-tiny checkpoint as a hub repository, with its
// weights stored in LFS like on huggingface.co, plus a nested plain file.
func llamaRepo(t testing.TB) *fakeRepo {
	return &fakeRepo{
		files: map[string][]byte{
			"config.json":       readFile(t, filepath.Join(llamaDir, "config.json")),
			"model.safetensors": readFile(t, filepath.Join(llamaDir, "model.safetensors")),
			"docs/README.md":    []byte("# tiny llama\n"),
		},
		lfs: map[string]bool{"model.safetensors": true},
	}
}

// progressLog records Progress calls.
type progressLog struct {
	mu   sync.Mutex
	last map[string][2]int64
}

func (p *progressLog) fn(file string, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[string][2]int64{}
	}
	p.last[file] = [2]int64{done, total}
}

func TestGitOID_MatchesGit(t *testing.T) {
	// `printf 'hello\n' | git hash-object --stdin`
	if got := gitOID([]byte("hello\n")); got != "ce013625030ba8dba906f756967f9e9ca394464a" {
		t.Fatalf("gitOID = %s", got)
	}
}

func TestPull_CacheLayout(t *testing.T) {
	hub := newFakeHub(t)
	repo := hub.add("tiny/llama", llamaRepo(t))
	cache := t.TempDir()
	var prog progressLog
	c := &Client{Endpoint: hub.srv.URL, CacheDir: cache, Progress: prog.fn}
	dir, err := c.Pull(context.Background(), "tiny/llama", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	commit := repo.refs["main"]
	repoDir := filepath.Join(cache, "models--tiny--llama")
	if want := filepath.Join(repoDir, "snapshots", commit); dir != want {
		t.Fatalf("dir = %s, want %s", dir, want)
	}
	if ref := readFile(t, filepath.Join(repoDir, "refs", "main")); string(ref) != commit {
		t.Errorf("refs/main = %q, want %q", ref, commit)
	}
	for name, data := range repo.files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if !bytes.Equal(readFile(t, p), data) {
			t.Errorf("%s: content differs", name)
		}
		target, err := os.Readlink(p)
		if err != nil {
			t.Fatalf("%s is not a symlink: %v", name, err)
		}
		blob := gitOID(data)
		if repo.lfs[name] {
			blob = sha256Hex(data)
		}
		wantTarget := strings.Repeat("../", strings.Count(name, "/")+2) + "blobs/" + blob
		if filepath.ToSlash(target) != wantTarget {
			t.Errorf("%s -> %s, want %s", name, target, wantTarget)
		}
		if got := prog.last[name]; got[0] != int64(len(data)) || got[1] != int64(len(data)) {
			t.Errorf("%s: last progress %v, want %d of %d", name, got, len(data), len(data))
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(repoDir, "blobs")); len(ents) != 3 {
		t.Errorf("blobs = %v, want 3 files and no leftovers", ents)
	}

	// The snapshot is a checkpoint directory the rest of the program can load.
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info, ok := set.Info("lm_head.weight"); !ok || info.Shape[0] != 320 {
		t.Errorf("lm_head.weight = %+v", info)
	}
	set.Close()

	t.Setenv("HF_HUB_CACHE", cache)
	if got, err := Resolve("tiny/llama", ResolveOptions{}); err != nil || got != dir {
		t.Errorf("Resolve = %s, %v; want %s", got, err, dir)
	}

	// A second pull finds every blob complete and downloads nothing.
	before := len(hub.requests("/resolve/")) + len(hub.requests("/cdn/"))
	if dir2, err := c.Pull(context.Background(), "tiny/llama", "main", nil); err != nil || dir2 != dir {
		t.Fatalf("second Pull = %s, %v", dir2, err)
	}
	if after := len(hub.requests("/resolve/")) + len(hub.requests("/cdn/")); after != before {
		t.Errorf("second pull made %d file requests", after-before)
	}
}

func TestPull_AllowPatterns(t *testing.T) {
	tests := []struct {
		name  string
		allow []string
		want  []string
	}{
		{"json only", []string{"*.json"}, []string{"config.json"}},
		{"base name in folder", []string{"*.md"}, []string{"docs/README.md"}},
		{"full path", []string{"docs/*", "model.*"}, []string{"docs/README.md", "model.safetensors"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newFakeHub(t)
			repo := hub.add("tiny/llama", llamaRepo(t))
			c := &Client{Endpoint: hub.srv.URL, CacheDir: t.TempDir()}
			dir, err := c.Pull(context.Background(), "tiny/llama", "", tt.allow)
			if err != nil {
				t.Fatal(err)
			}
			for name := range repo.files {
				_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
				if want := contains(tt.want, name); want != (err == nil) {
					t.Errorf("%s present = %v, want %v", name, err == nil, want)
				}
			}
		})
	}
	hub := newFakeHub(t)
	hub.add("tiny/llama", llamaRepo(t))
	c := &Client{Endpoint: hub.srv.URL, CacheDir: t.TempDir()}
	if _, err := c.Pull(context.Background(), "tiny/llama", "", []string{"*.bin"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("no match: err = %v, want ErrNotFound", err)
	}
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

func TestPull_Auth(t *testing.T) {
	hub := newFakeHub(t)
	r := llamaRepo(t)
	r.token = "hf_secret"
	hub.add("acme/private", r)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	t.Setenv("HF_TOKEN_PATH", filepath.Join(t.TempDir(), "no-token"))
	tests := []struct {
		name    string
		token   string
		env     string
		wantErr error
	}{
		{name: "no token", wantErr: ErrUnauthorized},
		{name: "wrong token", token: "hf_wrong", wantErr: ErrUnauthorized},
		{name: "client token", token: "hf_secret"},
		{name: "HF_TOKEN", env: "hf_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HF_TOKEN", tt.env)
			c := &Client{Endpoint: hub.srv.URL, CacheDir: t.TempDir(), Token: tt.token}
			dir, err := c.Pull(context.Background(), "acme/private", "", nil)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), "HF_TOKEN") && tt.token == "" {
					t.Fatalf("err = %v, want %v mentioning HF_TOKEN", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
				t.Error(err)
			}
		})
	}
	for _, req := range hub.requests("/api/models/acme/private") {
		if req.auth != "" && !strings.HasPrefix(req.auth, "Bearer ") {
			t.Errorf("Authorization = %q", req.auth)
		}
	}
}

func TestPull_Checksum(t *testing.T) {
	for _, file := range []string{"model.safetensors", "config.json"} { // LFS sha256 and git oid
		t.Run(file, func(t *testing.T) {
			hub := newFakeHub(t)
			r := llamaRepo(t)
			r.corrupt = map[string]bool{file: true}
			hub.add("tiny/llama", r)
			cache := t.TempDir()
			c := &Client{Endpoint: hub.srv.URL, CacheDir: cache}
			_, err := c.Pull(context.Background(), "tiny/llama", "", []string{file})
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), file) {
				t.Fatalf("err = %v, want ErrChecksum naming %s", err, file)
			}
			blobs, _ := os.ReadDir(filepath.Join(cache, "models--tiny--llama", "blobs"))
			if len(blobs) != 0 {
				t.Errorf("corrupt download kept: %v", blobs)
			}
			if _, err := os.Lstat(filepath.Join(cache, "models--tiny--llama", "snapshots", r.refs["main"], file)); err == nil {
				t.Error("snapshot link made for a corrupt file")
			}
		})
	}
}

func TestPull_Resume(t *testing.T) {
	tests := []struct {
		name      string
		noRange   bool
		wantRange string
	}{
		{name: "range honoured", wantRange: "bytes=100000-"},
		{name: "range ignored, restart", noRange: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newFakeHub(t)
			r := llamaRepo(t)
			r.cutOnce = map[string]int{"model.safetensors": 100000}
			r.noRange = tt.noRange
			hub.add("tiny/llama", r)
			cache := t.TempDir()
			c := &Client{Endpoint: hub.srv.URL, CacheDir: cache}
			_, err := c.Pull(context.Background(), "tiny/llama", "", nil)
			if err == nil || !strings.Contains(err.Error(), "model.safetensors") {
				t.Fatalf("interrupted pull: err = %v", err)
			}
			partial := filepath.Join(cache, "models--tiny--llama", "blobs", sha256Hex(r.files["model.safetensors"])+".incomplete")
			if st, err := os.Stat(partial); err != nil || st.Size() != 100000 {
				t.Fatalf("partial file: %v, %v", st, err)
			}
			dir, err := c.Pull(context.Background(), "tiny/llama", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readFile(t, filepath.Join(dir, "model.safetensors")), r.files["model.safetensors"]) {
				t.Fatal("resumed file differs")
			}
			reqs := hub.requests("/cdn/")
			if last := reqs[len(reqs)-1]; last.rng != tt.wantRange && !tt.noRange {
				t.Errorf("resume request Range = %q, want %q", last.rng, tt.wantRange)
			}
			if _, err := os.Stat(partial); !os.IsNotExist(err) {
				t.Errorf("partial file left: %v", err)
			}
		})
	}
}

// A stale partial file that is not a prefix of the real file fails the digest
// check once, is discarded, and the next pull succeeds.
func TestPull_BadPartialDiscarded(t *testing.T) {
	hub := newFakeHub(t)
	r := llamaRepo(t)
	hub.add("tiny/llama", r)
	cache := t.TempDir()
	blobs := filepath.Join(cache, "models--tiny--llama", "blobs")
	os.MkdirAll(blobs, 0o755)
	partial := filepath.Join(blobs, sha256Hex(r.files["model.safetensors"])+".incomplete")
	os.WriteFile(partial, bytes.Repeat([]byte{0xAB}, 5000), 0o644)
	c := &Client{Endpoint: hub.srv.URL, CacheDir: cache}
	if _, err := c.Pull(context.Background(), "tiny/llama", "", nil); !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v, want ErrChecksum", err)
	}
	if _, err := c.Pull(context.Background(), "tiny/llama", "", nil); err != nil {
		t.Fatal(err)
	}
}

// A complete ".incomplete" file (a pull stopped just before its rename) is
// verified and used without another request.
func TestPull_CompletePartialReused(t *testing.T) {
	hub := newFakeHub(t)
	r := llamaRepo(t)
	hub.add("tiny/llama", r)
	cache := t.TempDir()
	blobs := filepath.Join(cache, "models--tiny--llama", "blobs")
	os.MkdirAll(blobs, 0o755)
	data := r.files["model.safetensors"]
	os.WriteFile(filepath.Join(blobs, sha256Hex(data)+".incomplete"), data, 0o644)
	c := &Client{Endpoint: hub.srv.URL, CacheDir: cache}
	dir, err := c.Pull(context.Background(), "tiny/llama", "", []string{"model.safetensors"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(hub.requests("/resolve/")); n != 0 {
		t.Errorf("%d download requests, want 0", n)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, "model.safetensors")), data) {
		t.Error("content differs")
	}
}

func TestPull_Revisions(t *testing.T) {
	hub := newFakeHub(t)
	r := llamaRepo(t)
	const v1 = "1111111111111111111111111111111111111111"
	r.refs = map[string]string{"v1.0": v1}
	hub.add("tiny/llama", r)
	cache := t.TempDir()
	c := &Client{Endpoint: hub.srv.URL, CacheDir: cache}
	repoDir := filepath.Join(cache, "models--tiny--llama")

	dir, err := c.Pull(context.Background(), "tiny/llama@v1.0", "", []string{"config.json"})
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(repoDir, "snapshots", v1) || string(readFile(t, filepath.Join(repoDir, "refs", "v1.0"))) != v1 {
		t.Errorf("tag pull: dir %s", dir)
	}
	// Pulling by commit hash writes no ref.
	if _, err := c.Pull(context.Background(), "tiny/llama", r.refs["main"], []string{"config.json"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(repoDir, "refs", r.refs["main"])); err == nil {
		t.Error("a ref was written for a commit hash")
	}
	got, err := Resolve("tiny/llama@v1.0", ResolveOptions{CacheDir: cache})
	if err != nil || got != dir {
		t.Errorf("Resolve(@v1.0) = %s, %v", got, err)
	}

	errCases := []struct {
		name, id, rev string
		want          error
	}{
		{"unknown repo", "nobody/nothing", "", ErrNotFound},
		{"unknown revision", "tiny/llama", "v9", ErrNotFound},
		{"conflicting revisions", "tiny/llama@v1.0", "main", ErrInvalidID},
		{"bad id", "a/b/c", "", ErrInvalidID},
		{"escaping revision", "tiny/llama", "../../x", ErrInvalidID},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Pull(context.Background(), tt.id, tt.rev, nil); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPull_Cancelled(t *testing.T) {
	hub := newFakeHub(t)
	hub.add("tiny/llama", llamaRepo(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := &Client{Endpoint: hub.srv.URL, CacheDir: t.TempDir()}
	if _, err := c.Pull(ctx, "tiny/llama", "", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
