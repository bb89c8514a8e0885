package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
)

// DefaultEndpoint is the hub used when neither Client.Endpoint nor $HF_ENDPOINT
// is set.
const DefaultEndpoint = "https://huggingface.co"

// Client downloads model repositories from a Hugging Face hub into the local
// cache. The zero value works: empty fields take the defaults documented on each.
// A Client may be used by several goroutines, but two concurrent pulls of the same
// file race on its ".incomplete" file (the digest check catches LFS files).
type Client struct {
	// Endpoint is the hub's base URL; empty means $HF_ENDPOINT, else DefaultEndpoint.
	Endpoint string
	// Token is sent as "Authorization: Bearer" to the endpoint; empty means
	// $HF_TOKEN, else the token file huggingface-cli login writes
	// ($HF_TOKEN_PATH, else $HF_HOME/token).
	Token string
	// CacheDir is the cache root; empty means DefaultCacheDir().
	CacheDir string
	// HTTP is the client used for requests; nil means http.DefaultClient. Go's
	// client drops the Authorization header when the hub redirects a download to
	// another host (its CDN), as it should.
	HTTP *http.Client
	// Progress, when set, is called as each file downloads, with the bytes so far
	// (resumed bytes included) and the total (-1 when unknown). Files already in
	// the cache are reported once with done == total.
	Progress func(file string, done, total int64)
}

// NewClient returns a Client configured from the environment ($HF_ENDPOINT,
// $HF_TOKEN, $HF_HUB_CACHE / $HF_HOME), with every field filled in.
func NewClient() *Client {
	return &Client{Endpoint: endpointFromEnv(), Token: tokenFromEnv(), CacheDir: DefaultCacheDir(), HTTP: http.DefaultClient}
}

func endpointFromEnv() string {
	if e := os.Getenv("HF_ENDPOINT"); e != "" {
		return strings.TrimRight(e, "/")
	}
	return DefaultEndpoint
}

func tokenFromEnv() string {
	for _, v := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if t := os.Getenv(v); t != "" {
			return strings.TrimSpace(t)
		}
	}
	p := os.Getenv("HF_TOKEN_PATH")
	if p == "" {
		p = filepath.Join(hfHome(), "token")
	}
	if b, err := os.ReadFile(expandHome(p)); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}

func (c *Client) endpoint() string {
	if c.Endpoint != "" {
		return strings.TrimRight(c.Endpoint, "/")
	}
	return endpointFromEnv()
}

func (c *Client) token() string {
	if c.Token != "" {
		return c.Token
	}
	return tokenFromEnv()
}

func (c *Client) cacheDir() string {
	if c.CacheDir != "" {
		return c.CacheDir
	}
	return DefaultCacheDir()
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// RepoInfo is the part of the hub's model-info answer that Pull uses
// (GET /api/models/{id}/revision/{rev}?blobs=true).
type RepoInfo struct {
	SHA      string    `json:"sha"`
	Siblings []Sibling `json:"siblings"`
}

// Sibling is one file of a repository.
type Sibling struct {
	Name   string `json:"rfilename"`
	BlobID string `json:"blobId"` // git object id (sha1 of "blob <size>\x00<content>")
	Size   *int64 `json:"size"`
	LFS    *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs"`
}

// Info fetches a repository's commit hash and file list at revision ("" = main).
func (c *Client) Info(ctx context.Context, id, revision string) (*RepoInfo, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	u := fmt.Sprintf("%s/api/models/%s/revision/%s?blobs=true", c.endpoint(), escapePath(id), url.PathEscape(revision))
	resp, err := c.get(ctx, u, "")
	if err != nil {
		return nil, fmt.Errorf("hub: info %s@%s: %w", id, revision, err)
	}
	defer resp.Body.Close()
	var info RepoInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&info); err != nil {
		return nil, fmt.Errorf("hub: info %s@%s: decoding %s: %w", id, revision, u, err)
	}
	if !commitRe.MatchString(info.SHA) {
		return nil, fmt.Errorf("hub: info %s@%s: %s answered commit %q", id, revision, u, info.SHA)
	}
	return &info, nil
}

// Pull downloads repository id at revision ("" = main) into the cache and returns
// its snapshot directory, ready for Resolve. allow holds glob patterns (path.Match
// syntax; a pattern without '/' also matches a file's base name in any folder);
// nil downloads every file. Files whose blob is already complete are not fetched
// again; a partial download left by an interrupted pull (blobs/<name>.incomplete)
// resumes with an HTTP Range request. LFS files are checked against their SHA-256
// and other files against their git object id; on mismatch the data is discarded
// and the error wraps ErrChecksum. Cancelling ctx aborts the current request; the
// partial file is kept for the next pull to resume.
func (c *Client) Pull(ctx context.Context, id, revision string, allow []string) (string, error) {
	pid, prev, err := ParseID(id)
	if err != nil {
		return "", err
	}
	if prev != "" {
		if revision != "" && revision != prev {
			return "", fmt.Errorf("%w: %q and revision %q disagree", ErrInvalidID, id, revision)
		}
		revision = prev
	}
	if revision == "" {
		revision = DefaultRevision
	}
	if !validRevision(revision) {
		return "", fmt.Errorf("%w: revision %q", ErrInvalidID, revision)
	}
	id = pid
	info, err := c.Info(ctx, id, revision)
	if err != nil {
		return "", err
	}
	repo := RepoDir(c.cacheDir(), id)
	snap := filepath.Join(repo, "snapshots", info.SHA)
	for _, d := range []string{filepath.Join(repo, "blobs"), snap} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("hub: pull %s: %w", id, err)
		}
	}
	n := 0
	for _, s := range info.Siblings {
		if !allowed(s.Name, allow) {
			continue
		}
		n++
		if !filepath.IsLocal(filepath.FromSlash(s.Name)) {
			return "", fmt.Errorf("hub: pull %s: file name %q escapes the snapshot", id, s.Name)
		}
		if err := c.pullFile(ctx, id, info.SHA, repo, s); err != nil {
			return "", fmt.Errorf("hub: pull %s@%s: %s: %w", id, revision, s.Name, err)
		}
	}
	if n == 0 && len(allow) > 0 {
		return "", fmt.Errorf("hub: pull %s@%s: %w: no file matches %q", id, revision, ErrNotFound, allow)
	}
	if revision != info.SHA {
		if err := writeAtomic(filepath.Join(repo, "refs", filepath.FromSlash(revision)), []byte(info.SHA)); err != nil {
			return "", fmt.Errorf("hub: pull %s: %w", id, err)
		}
	}
	return snap, nil
}

func allowed(name string, allow []string) bool {
	if allow == nil {
		return true
	}
	for _, p := range allow {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
		if !strings.Contains(p, "/") {
			if ok, _ := path.Match(p, path.Base(name)); ok {
				return true
			}
		}
	}
	return false
}

// pullFile makes snapshots/<commit>/<name> point at a complete, verified blob.
func (c *Client) pullFile(ctx context.Context, id, commit, repo string, s Sibling) error {
	var (
		blob   string // blob file name: the digest huggingface_hub uses (the ETag)
		newSum func() hash.Hash
		want   string // expected digest, hex
		size   int64  = -1
	)
	switch {
	case s.LFS != nil && validHex(s.LFS.SHA256, 64):
		blob, want, newSum, size = s.LFS.SHA256, s.LFS.SHA256, sha256.New, s.LFS.Size
	case validHex(s.BlobID, 40):
		blob, want = s.BlobID, s.BlobID
		if s.Size != nil {
			size = *s.Size
			// A git object id hashes a "blob <size>\0" prefix, then the content.
			newSum = func() hash.Hash {
				h := sha1.New()
				fmt.Fprintf(h, "blob %d\x00", size)
				return h
			}
		}
	}
	blobsDir := filepath.Join(repo, "blobs")
	link := filepath.Join(repo, "snapshots", commit, filepath.FromSlash(s.Name))
	if blob != "" {
		blobPath := filepath.Join(blobsDir, blob)
		if st, err := os.Stat(blobPath); err == nil && (size < 0 || st.Size() == size) {
			c.progress(s.Name, st.Size(), st.Size())
			return linkBlob(blobPath, link)
		}
	}
	u := fmt.Sprintf("%s/%s/resolve/%s/%s", c.endpoint(), escapePath(id), commit, escapePath(s.Name))
	tmpName := blob
	if tmpName == "" {
		// No digest announced: name the partial file after the URL and the blob
		// after its content once downloaded.
		sum := sha256.Sum256([]byte(u))
		tmpName = "url-" + hex.EncodeToString(sum[:])
		newSum = sha256.New
	}
	tmp := filepath.Join(blobsDir, tmpName+".incomplete")
	got, err := c.download(ctx, u, tmp, s.Name, size, newSum)
	if err != nil {
		return err
	}
	if blob == "" {
		blob = got
	} else if want != "" && newSum != nil && got != want {
		os.Remove(tmp)
		return fmt.Errorf("%w: got %s, want %s (download discarded)", ErrChecksum, got, want)
	}
	blobPath := filepath.Join(blobsDir, blob)
	if err := os.Rename(tmp, blobPath); err != nil {
		return err
	}
	return linkBlob(blobPath, link)
}

// download fetches u into tmp, resuming from tmp's current size, and returns the
// hex digest of the whole file ("" if newSum is nil).
func (c *Client) download(ctx context.Context, u, tmp, name string, size int64, newSum func() hash.Hash) (string, error) {
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", err
	}
	if size >= 0 && have > size {
		have = 0 // longer than the file can be: stale, start over
	}
	if size >= 0 && have == size && newSum != nil {
		// A previous pull got every byte but stopped before the rename: no
		// request needed if the digest agrees (the caller compares it).
		h := newSum()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, have)); err != nil {
			return "", err
		}
		c.progress(name, have, size)
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	rng := ""
	if have > 0 {
		rng = fmt.Sprintf("bytes=%d-", have)
	}
	resp, err := c.get(ctx, u, rng)
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) || he.code != http.StatusRequestedRangeNotSatisfiable {
			return "", err
		}
		// The partial file is no prefix the server can continue: start over.
		have = 0
		if resp, err = c.get(ctx, u, ""); err != nil {
			return "", err
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !rangeStartsAt(resp.Header.Get("Content-Range"), have) {
		have = 0 // the server sent the whole file
	}
	if err := f.Truncate(have); err != nil {
		return "", err
	}
	var h hash.Hash
	if newSum != nil {
		h = newSum()
		// Hash the bytes kept from the earlier attempt.
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, have)); err != nil {
			return "", err
		}
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return "", err
	}
	total := size
	if total < 0 && resp.ContentLength >= 0 {
		total = have + resp.ContentLength
	}
	w := io.Writer(f)
	if h != nil {
		w = io.MultiWriter(f, h)
	}
	pw := &progressWriter{c: c, name: name, done: have, total: total}
	c.progress(name, have, total)
	body := io.Reader(resp.Body)
	if size >= 0 {
		body = io.LimitReader(body, size-have+1) // one extra byte detects an overlong body
	}
	if _, err := io.Copy(io.MultiWriter(w, pw), body); err != nil {
		// Keep what arrived: the next pull resumes from it.
		return "", fmt.Errorf("download interrupted after %d bytes (run pull again to resume): %w", pw.done, err)
	}
	if size >= 0 && pw.done > size {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("%w: server sent more than the announced %d bytes (download discarded)", ErrChecksum, size)
	}
	if size >= 0 && pw.done != size {
		return "", fmt.Errorf("download ended after %d of %d bytes (run pull again to resume): %w", pw.done, size, io.ErrUnexpectedEOF)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if h == nil {
		return "", nil
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func rangeStartsAt(contentRange string, start int64) bool {
	rest, ok := strings.CutPrefix(contentRange, "bytes ")
	if !ok {
		return false
	}
	first, _, ok := strings.Cut(rest, "-")
	n, err := strconv.ParseInt(first, 10, 64)
	return ok && err == nil && n == start
}

type progressWriter struct {
	c           *Client
	name        string
	done, total int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	p.c.progress(p.name, p.done, p.total)
	return len(b), nil
}

func (c *Client) progress(name string, done, total int64) {
	if c.Progress != nil {
		c.Progress(name, done, total)
	}
}

type httpError struct {
	url  string
	code int
	body string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("GET %s: %s: %s", e.url, http.StatusText(e.code), e.body)
}

func (e *httpError) Unwrap() error {
	switch e.code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}

// get issues a GET (with Range when rng is set) and returns a 2xx response;
// other statuses become an *httpError wrapping ErrUnauthorized or ErrNotFound.
func (c *Client) get(ctx context.Context, u, rng string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if tok := c.token(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	req.Header.Set("User-Agent", "toolbrain-hub/1")
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	he := &httpError{url: u, code: resp.StatusCode, body: strings.TrimSpace(string(body))}
	if he.code == http.StatusUnauthorized || he.code == http.StatusForbidden {
		hint := "set HF_TOKEN to a token with access to this repository"
		if c.token() != "" {
			hint = "the token in use has no access to this repository"
		}
		return nil, fmt.Errorf("%w (%s)", he, hint)
	}
	return nil, he
}

// linkBlob points link at blob with a relative symlink, as huggingface_hub does,
// and falls back to a copy where symlinks are unavailable.
func linkBlob(blob, link string) error {
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(link), blob)
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(link); err == nil && cur == rel {
		return nil
	}
	os.Remove(link)
	if err := os.Symlink(rel, link); err == nil {
		return nil
	}
	b, err := os.ReadFile(blob)
	if err != nil {
		return err
	}
	return writeAtomic(link, b)
}

// writeAtomic writes b to p, creating its directory, through a temporary
// file and a rename.
func writeAtomic(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, b, 0o644)
}

// escapePath escapes each '/'-separated segment of p for a URL path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func validHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}
