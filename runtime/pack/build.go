package pack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/toolbrain/toolbrain/sdk"

	"github.com/toolbrain/toolbrain/internal/atomicfile"
)

// Build packs the directory dir: it computes the module's sha256, writes it
// into dir/toolpack.toml (only the sha256 line changes; comments and layout
// stay), and writes a reproducible .tar.gz holding the manifest, the module
// and the listed files, sorted, with zero times and owners, so that the same
// inputs give the same bytes. out is the archive path; "" means
// NAME-VERSION.tar.gz in the current directory, and an existing directory
// means that name inside it. Build returns the archive's path after loading
// and verifying it.
func Build(dir, out string) (string, error) {
	src, err := readRootFile(dir, ManifestName, MaxManifestBytes)
	if err != nil {
		return "", fmt.Errorf("build pack %s: %w", dir, err)
	}
	m, err := ParseManifest(filepath.Join(dir, ManifestName), src)
	if err != nil {
		return "", fmt.Errorf("build pack %s: %w", dir, err)
	}
	module, err := readRootFile(dir, m.Module.Path, MaxFileBytes)
	if err != nil {
		return "", fmt.Errorf("build pack %s: module: %w", dir, err)
	}
	if sum := digest(module); sum != m.Module.SHA256 {
		updated, err := setModuleSHA256(src, sum)
		if err != nil {
			return "", fmt.Errorf("build pack %s: %w", dir, err)
		}
		// Re-parse: the edit must give exactly the digest and nothing else.
		m2, err := ParseManifest(filepath.Join(dir, ManifestName), updated)
		if err != nil || m2.Module.SHA256 != sum {
			return "", fmt.Errorf("build pack %s: %w: could not set module.sha256 (%w)", dir, ErrBadManifest, err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, ManifestName), updated, 0o644); err != nil {
			return "", fmt.Errorf("build pack %s: %w", dir, err)
		}
		src, m = updated, m2
	}
	pk := &Pack{Manifest: m, source: dir, dir: dir, manifest: src}
	var buf bytes.Buffer
	if err := pk.writeArchive(&buf); err != nil {
		return "", fmt.Errorf("build pack %s: %w", dir, err)
	}
	name := m.Name + "-" + m.Version + ".tar.gz"
	switch st, err := os.Stat(out); {
	case out == "":
		out = name
	case err == nil && st.IsDir():
		out = filepath.Join(out, name)
	}
	if err := atomicfile.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("build pack %s: %w", dir, err)
	}
	if _, err := Verify(out); err != nil {
		return "", fmt.Errorf("build pack %s: the written archive does not verify: %w", dir, err)
	}
	return out, nil
}

// shaLine matches a sha256 assignment inside [module].
var shaLine = regexp.MustCompile(`^(\s*sha256\s*=\s*)("[^"]*"|'[^']*')(.*)$`)

// setModuleSHA256 rewrites (or adds) sha256 in the [module] table of src.
func setModuleSHA256(src []byte, sum string) ([]byte, error) {
	lines := strings.Split(string(src), "\n")
	inModule, header := false, -1
	for i, line := range lines {
		s := strings.TrimSpace(line)
		if strings.HasPrefix(s, "[") {
			inModule = normKey(strings.Trim(strings.SplitN(s, "]", 2)[0], "[")) == "module"
			if inModule {
				header = i
			}
			continue
		}
		if inModule {
			if m := shaLine.FindStringSubmatch(line); m != nil {
				lines[i] = m[1] + strconv.Quote(sum) + m[3]
				return []byte(strings.Join(lines, "\n")), nil
			}
		}
	}
	if header < 0 {
		return nil, fmt.Errorf("%w: no [module] table to write sha256 into (write the module as a [module] table, not inline)", ErrBadManifest)
	}
	lines = append(lines[:header+1], append([]string{"sha256 = " + strconv.Quote(sum)}, lines[header+1:]...)...)
	return []byte(strings.Join(lines, "\n")), nil
}

// writeArchive writes the pack's files as a reproducible tar.gz.
func (p *Pack) writeArchive(w io.Writer) error {
	// A fixed header: no name, no time, OS "unknown", so the bytes depend
	// only on the content (and the Go version's deflate).
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, name := range p.packedFiles() {
		var b []byte
		if name == ManifestName {
			b = p.manifest
		} else if b, err = p.ReadFile(name); err != nil {
			return err
		}
		mode := int64(0o644)
		if name == p.Manifest.Module.Path && p.Manifest.Module.Kind == ModuleGoPlugin {
			mode = 0o755
		}
		h := &tar.Header{
			Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: mode,
			ModTime: time.Unix(0, 0).UTC(), Format: tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("archive %s: %w", name, err)
		}
		if _, err := tw.Write(b); err != nil {
			return fmt.Errorf("archive %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// Install verifies the pack at src (a directory or archive), refuses it
// when its SDK version is not one this host speaks, and installs it as
// packDir/NAME/VERSION: the files are written into a temporary directory in
// packDir, verified again from disk, and renamed into place, so a reader
// never sees a half-installed pack. Installing the same pack again is a
// no-op; a different pack under the same name and version fails with
// [ErrAlreadyInstalled]. It returns the installed directory.
func Install(src, packDir string) (string, error) {
	pk, err := Verify(src)
	if err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	if err := sdk.Negotiate(sdk.Version, pk.Manifest.SDKVersion); err != nil {
		return "", fmt.Errorf("install %s: %w", src, err)
	}
	dest := filepath.Join(packDir, pk.Manifest.Name, pk.Manifest.Version)
	if same, err := sameInstalled(pk, dest); err != nil || same {
		return dest, err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", fmt.Errorf("install %s: %w", src, err)
	}
	removeStaleInstalls(packDir, time.Now())
	tmp, err := os.MkdirTemp(packDir, installPrefix+pk.Manifest.Name+"-*")
	if err != nil {
		return "", fmt.Errorf("install %s: %w", src, err)
	}
	defer os.RemoveAll(tmp) // gone after the rename
	for _, name := range pk.packedFiles() {
		b := pk.manifest
		if name != ManifestName {
			if b, err = pk.ReadFile(name); err != nil {
				return "", fmt.Errorf("install %s: %w", src, err)
			}
		}
		mode := os.FileMode(0o644)
		if name == pk.Manifest.Module.Path && pk.Manifest.Module.Kind == ModuleGoPlugin {
			mode = 0o755
		}
		target := filepath.Join(tmp, osPath(name))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return "", fmt.Errorf("install %s: %w", src, err)
		}
		if err := os.WriteFile(target, b, mode); err != nil {
			return "", fmt.Errorf("install %s: %w", src, err)
		}
	}
	// The module compiled above; the copy needs its hash checked only.
	if got, err := Load(tmp); err != nil {
		return "", fmt.Errorf("install %s: extracted copy does not load: %w", src, err)
	} else if err := got.Verify(); err != nil {
		return "", fmt.Errorf("install %s: extracted copy does not verify: %w", src, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("install %s: %w", src, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		// Another install may have won the race with the same pack.
		if same, err2 := sameInstalled(pk, dest); err2 == nil && same {
			return dest, nil
		}
		return "", fmt.Errorf("install %s: %w", src, err)
	}
	return dest, nil
}

// staleInstallAge is how old an .install-* directory in the pack directory
// must be to count as left behind by an install that was killed: an install
// takes seconds, and a younger one may belong to an install still running.
const staleInstallAge = 10 * time.Minute

// installPrefix starts the name of an install's temporary directory.
const installPrefix = ".install-"

// removeStaleInstalls deletes the temporary directories of installs that
// died (SIGKILL, power loss) before they could remove them. Failures are
// ignored: they are litter, not state.
func removeStaleInstalls(packDir string, now time.Time) {
	entries, err := os.ReadDir(packDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), installPrefix) {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleInstallAge {
			os.RemoveAll(filepath.Join(packDir, e.Name()))
		}
	}
}

// sameInstalled reports whether dest holds pk already, and fails with
// ErrAlreadyInstalled when it holds something else.
func sameInstalled(pk *Pack, dest string) (bool, error) {
	if _, err := os.Stat(dest); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	have, err := Load(dest)
	if err == nil {
		err = have.Verify()
	}
	why := "its toolpack.toml differs"
	switch {
	case err != nil:
		why = fmt.Sprintf("it does not verify: %v", err)
	case bytes.Equal(have.manifest, pk.manifest):
		return true, nil
	}
	return false, fmt.Errorf("%w: %s holds a different %s %s (%s); remove it first", ErrAlreadyInstalled, dest, pk.Manifest.Name, pk.Manifest.Version, why)
}

// LoadInstalled loads an installed pack from packDir by name and version;
// version "" picks the highest installed version (numeric dot-separated
// parts compare as numbers). The pack is loaded, not verified: Open
// verifies.
func LoadInstalled(packDir, name, version string) (*Pack, error) {
	if !nameRe.MatchString(name) {
		return nil, fmt.Errorf("%w: bad pack name %q", ErrNotFound, name)
	}
	if version == "" {
		entries, err := os.ReadDir(filepath.Join(packDir, name))
		if err != nil {
			return nil, fmt.Errorf("%w: %s in %s: %w", ErrNotFound, name, packDir, err)
		}
		for _, e := range entries {
			if e.IsDir() && versionRe.MatchString(e.Name()) && compareVersions(e.Name(), version) > 0 {
				version = e.Name()
			}
		}
		if version == "" {
			return nil, fmt.Errorf("%w: %s in %s", ErrNotFound, name, packDir)
		}
	} else if !versionRe.MatchString(version) {
		return nil, fmt.Errorf("%w: bad version %q", ErrNotFound, version)
	}
	dir := filepath.Join(packDir, name, version)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("%w: %s %s in %s", ErrNotFound, name, version, packDir)
	}
	return Load(dir)
}

// compareVersions orders dot-separated versions part by part, numerically
// where both parts are numbers.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		if i >= len(pa) {
			return -1
		}
		if i >= len(pb) {
			return 1
		}
		x, errx := strconv.ParseUint(pa[i], 10, 64)
		y, erry := strconv.ParseUint(pb[i], 10, 64)
		switch {
		case errx == nil && erry == nil && x != y:
			if x < y {
				return -1
			}
			return 1
		case (errx != nil || erry != nil) && pa[i] != pb[i]:
			return strings.Compare(pa[i], pb[i])
		}
	}
	return 0
}

// Info is what Inspect reports about a pack.
type Info struct {
	// Source is the path Inspect was given (a directory or a .tar.gz).
	Source string `json:"source"`
	// Manifest is the pack's toolpack.toml, decoded.
	Manifest Manifest `json:"manifest"`
	// Files are the files the pack ships (the manifest, the module and
	// Manifest.Files), sorted by name.
	Files []FileInfo `json:"files"`
	// ModuleSHA256 is the module's actual digest ("" when missing).
	ModuleSHA256 string `json:"module_sha256"`
	// Verified is true when the module matches the manifest and every
	// listed file is present.
	Verified bool `json:"verified"`
	// Problem says why Verified is false.
	Problem string `json:"problem,omitempty"`
}

// FileInfo describes one file a pack ships.
type FileInfo struct {
	// Name is the file's path in the pack, with forward slashes.
	Name string `json:"name"`
	// Size is its length in bytes.
	Size int `json:"size"`
	// SHA256 is the lower-case hex digest of its content.
	SHA256 string `json:"sha256"`
}

// Inspect loads the pack at p and reports its manifest, its files and
// whether it verifies. A pack that does not verify is reported, not refused;
// a pack whose manifest is invalid is an error.
func Inspect(p string) (*Info, error) {
	pk, err := Load(p)
	if err != nil {
		return nil, err
	}
	info := &Info{Source: p, Manifest: pk.Manifest, Verified: true}
	for _, name := range pk.packedFiles() {
		b := pk.manifest
		if name != ManifestName {
			if b, err = pk.ReadFile(name); err != nil {
				info.Verified, info.Problem = false, err.Error()
				continue
			}
		}
		fi := FileInfo{Name: name, Size: len(b), SHA256: digest(b)}
		if name == pk.Manifest.Module.Path {
			info.ModuleSHA256 = fi.SHA256
		}
		info.Files = append(info.Files, fi)
	}
	if info.Verified {
		if err := pk.Verify(); err != nil {
			info.Verified, info.Problem = false, err.Error()
		}
	}
	return info, nil
}

// WriteText writes info for people: the pack, its module, limits and
// permissions, each tool with its parameters, and the files.
func (info *Info) WriteText(w io.Writer) error {
	m := info.Manifest
	var b strings.Builder
	fmt.Fprintf(&b, "pack      %s %s (SDK %s)\n", m.Name, m.Version, m.SDKVersion)
	if m.Description != "" {
		fmt.Fprintf(&b, "          %s\n", m.Description)
	}
	fmt.Fprintf(&b, "source    %s\n", info.Source)
	fmt.Fprintf(&b, "module    %s %s\n          sha256 %s\n", m.Module.Kind, m.Module.Path, m.Module.SHA256)
	if info.Verified {
		fmt.Fprintf(&b, "verified  yes\n")
	} else {
		fmt.Fprintf(&b, "verified  NO: %s\n", info.Problem)
	}
	lim, _ := json.Marshal(m.Limits)
	perm, _ := json.Marshal(m.Permissions)
	fmt.Fprintf(&b, "limits    %s\npermits   %s\n", lim, perm)
	fmt.Fprintf(&b, "tools     %d\n", len(m.Tools))
	for _, t := range m.Tools {
		fmt.Fprintf(&b, "  %s: %s\n    parameters %s\n", t.Name, t.Description, orNone(t.Parameters))
	}
	fmt.Fprintf(&b, "files     %d\n", len(info.Files))
	for _, f := range info.Files {
		fmt.Fprintf(&b, "  %-24s %9d  %s\n", f.Name, f.Size, f.SHA256)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(b json.RawMessage) string {
	if len(b) == 0 {
		return "(none)"
	}
	return string(b)
}
