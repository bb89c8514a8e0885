// Package hub turns a model name into a local checkpoint directory: an existing
// directory as is, or a Hugging Face repository id looked up in (and downloaded
// into) the local Hugging Face cache, laid out exactly as huggingface_hub lays it
// out, so that models pulled by either tool are shared:
//
//	<cache>/models--<owner>--<name>/
//	    refs/<revision>              the commit hash the revision points to
//	    blobs/<sha256 or git oid>    file contents, content-addressed
//	    snapshots/<commit>/<file>    relative symlinks into blobs/
//
// The cache root is $HF_HUB_CACHE, else $HF_HOME/hub, else
// ~/.cache/huggingface/hub.
package hub

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Sentinel errors; every error of this package wraps one of them or an I/O error.
var (
	// ErrNotFound: neither a directory nor a repository present in the cache (from
	// Resolve), or a repository, revision or file the hub does not have (from Pull).
	ErrNotFound = errors.New("hub: not found")
	// ErrInvalidID: the name is not a valid repository id.
	ErrInvalidID = errors.New("hub: invalid repository id")
	// ErrUnauthorized: the hub refused access (401/403); set HF_TOKEN.
	ErrUnauthorized = errors.New("hub: unauthorized")
	// ErrChecksum: a downloaded file's digest differs from the one the hub
	// announced; the file was discarded.
	ErrChecksum = errors.New("hub: checksum mismatch")
)

// DefaultRevision is the revision used when none is given.
const DefaultRevision = "main"

// ResolveOptions tune Resolve. The zero value uses the environment's cache and
// the "main" revision.
type ResolveOptions struct {
	// CacheDir overrides the cache root (see DefaultCacheDir).
	CacheDir string
	// Revision is a branch, tag or commit hash; an "@revision" suffix on the id
	// takes precedence. Empty means DefaultRevision.
	Revision string
}

// DefaultCacheDir returns the cache root huggingface_hub would use:
// $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
// ($XDG_CACHE_HOME/huggingface/hub when XDG_CACHE_HOME is set).
func DefaultCacheDir() string {
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return expandHome(d)
	}
	return filepath.Join(hfHome(), "hub")
}

func hfHome() string {
	if d := os.Getenv("HF_HOME"); d != "" {
		return expandHome(d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".cache", "huggingface")
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// idPart is one segment of a repository id, as the hub validates it.
var idPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)

// commitRe matches a full git commit hash.
var commitRe = regexp.MustCompile(`^[0-9a-f]{40}$`)

// ParseID splits "owner/name@revision" into the repository id and revision
// (empty when absent) and validates the id: one or two segments of letters,
// digits, '.', '_' and '-', not starting with '.' or '-', without "--" or "..".
func ParseID(s string) (id, revision string, err error) {
	id = s
	if i := strings.IndexByte(s, '@'); i >= 0 {
		id, revision = s[:i], s[i+1:]
		if revision == "" {
			return "", "", fmt.Errorf("%w: %q: empty revision after '@'", ErrInvalidID, s)
		}
	}
	parts := strings.Split(id, "/")
	if len(parts) > 2 {
		return "", "", fmt.Errorf("%w: %q: at most one '/'", ErrInvalidID, s)
	}
	for _, p := range parts {
		if !idPart.MatchString(p) || strings.Contains(p, "--") || strings.Contains(p, "..") || strings.HasSuffix(p, ".") || strings.HasSuffix(p, "-") {
			return "", "", fmt.Errorf("%w: %q", ErrInvalidID, s)
		}
	}
	if !validRevision(revision) {
		return "", "", fmt.Errorf("%w: %q: bad revision", ErrInvalidID, s)
	}
	return id, revision, nil
}

// validRevision rejects revisions that could escape refs/ or snapshots/.
func validRevision(rev string) bool {
	return rev == "" || (filepath.IsLocal(rev) && !strings.ContainsAny(rev, `\:`) && !strings.Contains(rev, ".."))
}

// RepoDir returns the cache directory of a model repository:
// <cache>/models--owner--name.
func RepoDir(cacheDir, id string) string {
	return filepath.Join(cacheDir, "models--"+strings.ReplaceAll(id, "/", "--"))
}

// Resolve returns a checkpoint directory for nameOrDir. An existing directory is
// returned unchanged. Otherwise nameOrDir must be a repository id, optionally
// with "@revision", and the result is its snapshot directory in the cache: a
// commit-hash revision names the snapshot directly, a branch or tag is looked up
// in refs/. Resolve never touches the network; see Client.Pull.
func Resolve(nameOrDir string, opts ResolveOptions) (string, error) {
	if st, err := os.Stat(nameOrDir); err == nil && st.IsDir() {
		return nameOrDir, nil
	}
	id, rev, err := ParseID(nameOrDir)
	if err != nil {
		return "", fmt.Errorf("hub: %q is not a directory, nor a model id: %w", nameOrDir, err)
	}
	if rev == "" {
		rev = opts.Revision
	}
	if rev == "" {
		rev = DefaultRevision
	}
	if !validRevision(rev) {
		return "", fmt.Errorf("%w: revision %q", ErrInvalidID, rev)
	}
	cache := opts.CacheDir
	if cache == "" {
		cache = DefaultCacheDir()
	}
	repo := RepoDir(cache, id)
	commit, where := rev, filepath.Join(repo, "snapshots", rev)
	if !commitRe.MatchString(rev) {
		ref := filepath.Join(repo, "refs", rev)
		b, err := os.ReadFile(ref)
		switch {
		case err == nil:
			commit = strings.TrimSpace(string(b))
			if !commitRe.MatchString(commit) {
				return "", fmt.Errorf("hub: %s holds %q, not a commit hash", ref, commit)
			}
			where = ref
		case !errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("hub: read %s: %w", ref, err)
		default:
			// huggingface_hub also accepts a snapshot directory named after the
			// revision itself; failing that, report the ref we looked for.
			where = ref
		}
	}
	snap := filepath.Join(repo, "snapshots", commit)
	if st, err := os.Stat(snap); err == nil && st.IsDir() {
		return snap, nil
	}
	return "", fmt.Errorf("%w: %q is not a directory and %s@%s is not in the Hugging Face cache (looked for %s); download it with `toolbrain model pull %s`",
		ErrNotFound, nameOrDir, id, rev, where, idWithRev(id, rev))
}

func idWithRev(id, rev string) string {
	if rev == DefaultRevision {
		return id
	}
	return id + "@" + rev
}
