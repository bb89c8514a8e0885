package hub

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub serves the parts of the Hugging Face hub API that Pull uses, the way
// huggingface.co answers them: model info with blobs=true, and resolve URLs
// that redirect LFS files to a CDN path and honour Range requests.
type fakeHub struct {
	t     testing.TB
	mu    sync.Mutex
	repos map[string]*fakeRepo
	log   []fakeReq
	srv   *httptest.Server
}

type fakeRepo struct {
	token   string            // non-empty: private, needs this bearer token
	refs    map[string]string // branch/tag → commit
	files   map[string][]byte
	lfs     map[string]bool
	corrupt map[string]bool // serve different bytes than the announced digest
	noRange bool            // ignore Range headers (answer 200 with the whole file)
	cutOnce map[string]int  // next full download of this file stops after N bytes
}

type fakeReq struct {
	path, rng, auth string
}

func newFakeHub(t testing.TB) *fakeHub {
	h := &fakeHub{t: t, repos: map[string]*fakeRepo{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *fakeHub) add(id string, r *fakeRepo) *fakeRepo {
	if r.refs == nil {
		r.refs = map[string]string{}
	}
	if _, ok := r.refs["main"]; !ok {
		sum := sha1.Sum([]byte(id))
		r.refs["main"] = hex.EncodeToString(sum[:])
	}
	h.mu.Lock()
	h.repos[id] = r
	h.mu.Unlock()
	return r
}

func (h *fakeHub) requests(substr string) []fakeReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []fakeReq
	for _, r := range h.log {
		if strings.Contains(r.path, substr) {
			out = append(out, r)
		}
	}
	return out
}

func gitOID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.log = append(h.log, fakeReq{path: r.URL.Path, rng: r.Header.Get("Range"), auth: r.Header.Get("Authorization")})
	h.mu.Unlock()
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case len(segs) == 6 && segs[0] == "api" && segs[1] == "models" && segs[4] == "revision":
		h.serveInfo(w, r, segs[2]+"/"+segs[3], segs[5])
	case len(segs) >= 5 && segs[2] == "resolve":
		h.serveResolve(w, r, segs[0]+"/"+segs[1], segs[3], strings.Join(segs[4:], "/"))
	case len(segs) >= 3 && segs[0] == "cdn":
		h.serveFile(w, r, segs[1], strings.Join(segs[2:], "/"))
	default:
		http.NotFound(w, r)
	}
}

// repo returns the repository if the request may see it, answering 401/404 itself.
func (h *fakeHub) repo(w http.ResponseWriter, r *http.Request, id string) *fakeRepo {
	h.mu.Lock()
	repo := h.repos[id]
	h.mu.Unlock()
	if repo == nil {
		http.Error(w, `{"error":"Repository Not Found"}`, http.StatusNotFound)
		return nil
	}
	if repo.token != "" && r.Header.Get("Authorization") != "Bearer "+repo.token {
		http.Error(w, `{"error":"Invalid credentials in Authorization header"}`, http.StatusUnauthorized)
		return nil
	}
	return repo
}

func (repo *fakeRepo) commit(rev string) (string, bool) {
	if c, ok := repo.refs[rev]; ok {
		return c, true
	}
	for _, c := range repo.refs {
		if c == rev {
			return c, true
		}
	}
	return "", false
}

func (h *fakeHub) serveInfo(w http.ResponseWriter, r *http.Request, id, rev string) {
	repo := h.repo(w, r, id)
	if repo == nil {
		return
	}
	commit, ok := repo.commit(rev)
	if !ok {
		http.Error(w, `{"error":"Invalid rev id"}`, http.StatusNotFound)
		return
	}
	type lfs struct {
		SHA256      string `json:"sha256"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	}
	type sibling struct {
		Name   string `json:"rfilename"`
		BlobID string `json:"blobId"`
		Size   int    `json:"size"`
		LFS    *lfs   `json:"lfs,omitempty"`
	}
	var sib []sibling
	for _, name := range sortedNames(repo.files) {
		b := repo.files[name]
		s := sibling{Name: name, Size: len(b), BlobID: gitOID(b)}
		if repo.lfs[name] {
			// For LFS files blobId is the oid of the pointer file, not the content.
			s.BlobID = gitOID([]byte("version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256Hex(b)))
			s.LFS = &lfs{SHA256: sha256Hex(b), Size: len(b), PointerSize: 134}
		}
		sib = append(sib, s)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "sha": commit, "private": repo.token != "", "siblings": sib})
}

func (h *fakeHub) serveResolve(w http.ResponseWriter, r *http.Request, id, rev, name string) {
	repo := h.repo(w, r, id)
	if repo == nil {
		return
	}
	if _, ok := repo.commit(rev); !ok || repo.files[name] == nil {
		http.Error(w, "Entry not found", http.StatusNotFound)
		return
	}
	if repo.lfs[name] {
		// huggingface.co redirects LFS downloads to its CDN.
		http.Redirect(w, r, "/cdn/"+strings.ReplaceAll(id, "/", "--")+"/"+name, http.StatusFound)
		return
	}
	h.serveFile(w, r, strings.ReplaceAll(id, "/", "--"), name)
}

func (h *fakeHub) serveFile(w http.ResponseWriter, r *http.Request, repoKey, name string) {
	h.mu.Lock()
	repo := h.repos[strings.Replace(repoKey, "--", "/", 1)]
	h.mu.Unlock()
	if repo == nil || repo.files[name] == nil {
		http.NotFound(w, r)
		return
	}
	data := repo.files[name]
	if repo.corrupt[name] {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 0xff
	}
	if repo.noRange {
		r.Header.Del("Range")
	}
	h.mu.Lock()
	cut, ok := repo.cutOnce[name]
	if ok && r.Header.Get("Range") == "" {
		delete(repo.cutOnce, name)
	}
	h.mu.Unlock()
	if ok && r.Header.Get("Range") == "" {
		// Announce the whole file, send part of it, then drop the connection.
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("ETag", `"`+sha256Hex(data)+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func sortedNames(m map[string][]byte) []string { return slices.Sorted(maps.Keys(m)) }
