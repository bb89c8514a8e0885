// Package pack loads, builds, verifies, installs and opens tool packs.
//
// A tool pack is a directory, or a .tar.gz of one, holding toolpack.toml at
// its root (see [Manifest]): the pack's name and version, the SDK version
// it was built against, each tool's description and JSON-Schema
// parameters, the module that implements the tools (a WebAssembly file or
// a go-plugin executable) with its sha256, and the limits and permissions
// the module asks for.
//
//	Build(dir, out)      fill in the module's sha256, write a reproducible .tar.gz
//	Load(path)           read and check the manifest (directory or .tar.gz)
//	Verify(path)         Load, then check the module against its sha256
//	Inspect(path)        what a pack holds, for people (Info.WriteText) and tools (JSON)
//	Install(path, dir)   verify, extract into a temporary directory, rename into place
//	Open(ctx, p, ...)    start the module and serve its tools, arguments checked by schema
//	CallFile(ctx, ...)   call one function of a .wasm file or a pack (toolbrain plugin call)
//
// # Trust
//
// A pack whose module does not match its manifest's sha256 is refused by
// Verify, Install and Open ([ErrHashMismatch]); the bytes that are checked
// are the bytes that are run. Archives are read with caps on entry count and
// sizes, and any entry that is not a regular file or directory, or whose
// name leaves the pack root, refuses the whole archive ([ErrUnsafeArchive]).
// Directory packs are read through os.Root, so a symbolic link cannot lead
// outside the directory.
package pack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/runtime/wasmhost"
	"github.com/toolbrain/toolbrain/sdk"
)

// Size caps of a pack. A Go wasip1 module is a few MiB and a go-plugin
// executable some tens; the caps leave room and stop decompression bombs.
const (
	MaxManifestBytes = 1 << 20
	MaxFileBytes     = 256 << 20
	MaxPackBytes     = 512 << 20
	MaxFiles         = 1024
)

// Sentinel errors of the package; errors wrap one of them with the pack's
// path and the detail.
var (
	// ErrBadManifest means toolpack.toml is missing, malformed, has an
	// unknown key or a value of the wrong type or out of range.
	ErrBadManifest = errors.New("pack: invalid toolpack.toml")
	// ErrHashMismatch means the module's sha256 differs from the manifest's,
	// or the manifest states none: the pack is refused.
	ErrHashMismatch = errors.New("pack: module sha256 does not match the manifest")
	// ErrUnsafeArchive means an archive entry is a link, a device, an
	// absolute or escaping path, a duplicate, or the archive breaks a size
	// or count cap.
	ErrUnsafeArchive = errors.New("pack: unsafe archive")
	// ErrMissingFile means a file the manifest names is not in the pack.
	ErrMissingFile = errors.New("pack: file missing")
	// ErrNoOpener means no Opener is configured for the module's kind.
	ErrNoOpener = errors.New("pack: no opener for module kind")
	// ErrAlreadyInstalled means a different pack with the same name and
	// version is already installed.
	ErrAlreadyInstalled = errors.New("pack: already installed")
	// ErrNotPack means a file given as a pack is neither a directory nor a
	// .tar.gz (an empty file, a bare module, random bytes).
	ErrNotPack = errors.New("pack: not a tool pack")
	// ErrNotFound means no installed pack has the name (and version) asked.
	ErrNotFound = errors.New("pack: not installed")
)

// Pack is a loaded tool pack. Its manifest has been checked (see
// [ParseManifest]) but its module not yet; [Pack.Verify] and
// [Pack.Module] check it. A Pack is immutable and safe for concurrent use.
type Pack struct {
	// Manifest is the decoded toolpack.toml.
	Manifest Manifest

	source   string
	dir      string            // directory packs
	files    map[string][]byte // archive packs: every regular file
	manifest []byte            // toolpack.toml as read
	tools    *schema.Set
}

// Load reads a pack from a directory or a .tar.gz (a .tgz, or any file
// starting with the gzip magic) and checks its manifest. It does not check
// the module's hash: Verify, Install and Open do.
func Load(p string) (*Pack, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("load pack %s: %w", p, err)
	}
	pk := &Pack{source: p}
	if st.IsDir() {
		pk.dir = p
		pk.manifest, err = readRootFile(p, ManifestName, MaxManifestBytes)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("load pack %s: %w: no %s", p, ErrBadManifest, ManifestName)
			}
			return nil, fmt.Errorf("load pack %s: %w", p, err)
		}
	} else {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("load pack %s: %w", p, err)
		}
		defer f.Close()
		if err := checkArchiveMagic(f); err != nil {
			return nil, fmt.Errorf("load pack %s: %w", p, err)
		}
		pk.files, err = ReadArchive(f)
		if err != nil {
			return nil, fmt.Errorf("load pack %s: %w", p, err)
		}
		m, ok := pk.files[ManifestName]
		if !ok {
			return nil, fmt.Errorf("load pack %s: %w: no %s at the archive root", p, ErrBadManifest, ManifestName)
		}
		pk.manifest = m
	}
	pk.Manifest, err = ParseManifest(path.Join(p, ManifestName), pk.manifest)
	if err != nil {
		return nil, fmt.Errorf("load pack %s: %w", p, err)
	}
	// ParseManifest compiled the schemas already; this cannot fail.
	if pk.tools, err = schema.NewSet(pk.Manifest.Tools); err != nil {
		return nil, fmt.Errorf("load pack %s: %w", p, err)
	}
	return pk, nil
}

// Verify loads the pack at p and checks its module against the manifest's
// sha256, that every listed file is present, and that a "wasm" module is
// WebAssembly this host can load (magic, a full compile, known imports), so
// that a pack whose module is not fails here rather than when first used.
func Verify(p string) (*Pack, error) {
	pk, err := Load(p)
	if err != nil {
		return nil, err
	}
	if err := pk.Verify(); err != nil {
		return nil, err
	}
	if err := pk.validateModule(); err != nil {
		return nil, err
	}
	return pk, nil
}

// validateModule checks that a "wasm" module compiles; other kinds are
// checked by their opener when started.
func (p *Pack) validateModule() error {
	if p.Manifest.Module.Kind != ModuleWASM {
		return nil
	}
	b, err := p.Module()
	if err != nil {
		return err
	}
	if err := wasmhost.ValidateModule(context.Background(), b); err != nil {
		return fmt.Errorf("pack %s: module %s: %w", p.source, p.Manifest.Module.Path, err)
	}
	return nil
}

// Source is the path the pack was loaded from.
func (p *Pack) Source() string { return p.source }

// Dir is the pack's directory, "" for a pack read from an archive.
func (p *Pack) Dir() string { return p.dir }

// Specs are the pack's tools as the model sees them.
func (p *Pack) Specs() []sdk.ToolSpec { return p.tools.Specs() }

// Schemas are the compiled parameter schemas of the pack's tools.
func (p *Pack) Schemas() *schema.Set { return p.tools }

// ReadFile returns a file of the pack by its slash path.
func (p *Pack) ReadFile(name string) ([]byte, error) {
	if err := checkPath(name); err != nil {
		return nil, fmt.Errorf("pack %s: %w: %w", p.source, ErrMissingFile, err)
	}
	if p.dir == "" {
		b, ok := p.files[name]
		if !ok {
			return nil, fmt.Errorf("pack %s: %w: %s", p.source, ErrMissingFile, name)
		}
		return b, nil
	}
	b, err := readRootFile(p.dir, name, MaxFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pack %s: %w: %s", p.source, ErrMissingFile, name)
	}
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", p.source, err)
	}
	return b, nil
}

// Module returns the module's bytes after checking them against the
// manifest's sha256: what this returns is what may be run.
func (p *Pack) Module() ([]byte, error) {
	b, err := p.ReadFile(p.Manifest.Module.Path)
	if err != nil {
		return nil, err
	}
	want := p.Manifest.Module.SHA256
	if want == "" {
		return nil, fmt.Errorf("pack %s: %w: the manifest states no sha256; run pack build", p.source, ErrHashMismatch)
	}
	if got := digest(b); got != want {
		return nil, fmt.Errorf("pack %s: %w: %s has sha256 %s, manifest says %s", p.source, ErrHashMismatch, p.Manifest.Module.Path, got, want)
	}
	return b, nil
}

// Verify checks the module against the manifest's sha256 and that every
// file the manifest lists is present.
func (p *Pack) Verify() error {
	if _, err := p.Module(); err != nil {
		return err
	}
	for _, f := range p.Manifest.Files {
		if _, err := p.ReadFile(f); err != nil {
			return err
		}
	}
	return nil
}

// packedFiles lists what a pack ships, sorted: the manifest, the module and
// the listed files.
func (p *Pack) packedFiles() []string {
	names := append([]string{ManifestName, p.Manifest.Module.Path}, p.Manifest.Files...)
	sort.Strings(names)
	return names
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// readRootFile reads name inside dir without following links out of it.
func readRootFile(dir, name string, limit int64) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(osPath(name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file", name, ErrUnsafeArchive)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %w: %d bytes, limit %d", name, ErrUnsafeArchive, st.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", name, ErrUnsafeArchive, limit)
	}
	return b, nil
}

// osPath converts a checked slash path to the OS form os.Root wants.
func osPath(name string) string { return strings.ReplaceAll(name, "/", string(os.PathSeparator)) }

// checkArchiveMagic tells the user what a file given as a pack is when it is
// not a .tar.gz, instead of a gzip reader's "EOF" or "invalid header", and
// rewinds f.
func checkArchiveMagic(f *os.File) error {
	var head [4]byte
	n, _ := io.ReadFull(f, head[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	switch {
	case n == 0:
		return fmt.Errorf("%w: the file is empty; want a pack directory or a .tar.gz", ErrNotPack)
	case n == 4 && head == [4]byte{0, 'a', 's', 'm'}:
		return fmt.Errorf("%w: the file is a bare WebAssembly module; pack it with `toolbrain pack build DIR`", ErrNotPack)
	case n < 2 || head[0] != 0x1f || head[1] != 0x8b:
		return fmt.Errorf("%w: the file is neither a .tar.gz (no gzip magic 1f 8b; it starts with % x) nor a directory", ErrNotPack, head[:n])
	}
	return nil
}

// ReadArchive reads a gzip-compressed tar into memory under the package's
// caps. Only regular files and directories are accepted; names must be clean
// relative paths ("./" prefixes are tolerated) and unique.
func ReadArchive(r io.Reader) (map[string][]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: not a gzip stream: %w", ErrUnsafeArchive, err)
	}
	defer zr.Close()
	// The cap on the decompressed stream bounds the work a bomb can cause,
	// whatever the headers claim.
	tr := tar.NewReader(io.LimitReader(zr, MaxPackBytes+1<<20))
	files := map[string][]byte{}
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnsafeArchive, err)
		}
		if n >= MaxFiles {
			return nil, fmt.Errorf("%w: more than %d entries", ErrUnsafeArchive, MaxFiles)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch h.Typeflag {
		case tar.TypeDir:
			if err := checkPath(strings.TrimSuffix(name, "/")); err != nil && name != "" {
				return nil, fmt.Errorf("%w: directory %q: %w", ErrUnsafeArchive, h.Name, err)
			}
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("%w: entry %q is not a regular file or directory (type %q)", ErrUnsafeArchive, h.Name, h.Typeflag)
		}
		if err := checkPath(name); err != nil {
			return nil, fmt.Errorf("%w: entry %q: %w", ErrUnsafeArchive, h.Name, err)
		}
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("%w: entry %q appears twice", ErrUnsafeArchive, name)
		}
		if h.Size < 0 || h.Size > MaxFileBytes {
			return nil, fmt.Errorf("%w: entry %q is %d bytes, limit %d", ErrUnsafeArchive, name, h.Size, MaxFileBytes)
		}
		if total += h.Size; total > MaxPackBytes {
			return nil, fmt.Errorf("%w: more than %d bytes in all", ErrUnsafeArchive, MaxPackBytes)
		}
		var buf bytes.Buffer
		buf.Grow(int(h.Size))
		if _, err := io.Copy(&buf, tr); err != nil {
			return nil, fmt.Errorf("%w: entry %q: %w", ErrUnsafeArchive, name, err)
		}
		files[name] = buf.Bytes()
	}
	return files, nil
}
