package pack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/toolbrain/toolbrain/runtime/contract"
	"github.com/toolbrain/toolbrain/runtime/limits"
	"github.com/toolbrain/toolbrain/runtime/schema"
	"github.com/toolbrain/toolbrain/sdk"
)

// ManifestName is the file every pack holds at its root.
const ManifestName = "toolpack.toml"

// ModuleKind is how a pack's module runs.
type ModuleKind string

// Module kinds.
const (
	// ModuleWASM is a WebAssembly module run by wasmhost.Host; it exports
	// call_tool and dispatches on the request's tool name.
	ModuleWASM ModuleKind = "wasm"
	// ModuleGoPlugin is an executable served through hashicorp/go-plugin
	// (opened by an [Opener] that runtime/goplugin provides).
	ModuleGoPlugin ModuleKind = "goplugin"
)

// Manifest is a decoded toolpack.toml:
//
//	name = "calculator"
//	version = "0.1.0"
//	sdk_version = "1.0"
//	description = "Arithmetic for agents."
//	files = ["README.md"]           # extra files to ship (optional)
//
//	[module]
//	kind = "wasm"                   # or "goplugin"
//	path = "calculator.wasm"
//	sha256 = "9f86d0…"              # written by Build
//
//	[limits]                        # limits.Limits (optional)
//	timeout = "1s"
//
//	[permissions]                   # contract.Permissions (optional)
//	host_functions = ["log"]
//
//	[[tools]]
//	name = "arith"
//	description = "Apply op to a and b."
//	parameters = '''{"type": "object", "properties": {"a": {"type": "number"}}}'''
//
// parameters (and the optional returns) is a JSON Schema written either as
// a JSON string, as above, or as a TOML table ([tools.parameters]).
type Manifest struct {
	// Name is the pack's name: the key of its configuration
	// ([train.pack_config.NAME]) and what errors call it.
	Name string `json:"name"`
	// Version is the pack's own version, for display.
	Version string `json:"version"`
	// SDKVersion is the sdk.Version the module was built against.
	SDKVersion string `json:"sdk_version"`
	// Description says what the tools are for, for people.
	Description string `json:"description,omitempty"`
	// Files are other files the pack ships (data the module reads),
	// relative to the pack root.
	Files []string `json:"files,omitempty"`
	// Module is the module that implements the tools.
	Module ModuleRef `json:"module"`
	// Limits and Permissions are what the module asks for; the user's
	// configuration overrides the limits and grants the permissions.
	Limits      limits.Limits        `json:"limits"`
	Permissions contract.Permissions `json:"permissions"`
	// Tools are the tools the module serves, as the model sees them; each
	// call's arguments are checked against their parameters schema.
	Tools []sdk.ToolSpec `json:"tools"`
}

// ModuleRef names a pack's module and its expected digest.
type ModuleRef struct {
	// Kind is how the module runs: a WebAssembly file or a go-plugin
	// executable.
	Kind ModuleKind `json:"kind"`
	// Path is relative to the pack root, with forward slashes.
	Path string `json:"path"`
	// SHA256 is the lower-case hex digest of the module file.
	SHA256 string `json:"sha256"`
}

// rawManifest is the TOML shape; parameters stay untyped until converted
// to JSON.
type rawManifest struct {
	Name        string               `toml:"name"`
	Version     string               `toml:"version"`
	SDKVersion  string               `toml:"sdk_version"`
	Description string               `toml:"description"`
	Files       []string             `toml:"files"`
	Module      rawModule            `toml:"module"`
	Limits      limits.Limits        `toml:"limits"`
	Permissions contract.Permissions `toml:"permissions"`
	Tools       []rawTool            `toml:"tools"`
}

type rawModule struct {
	Kind   string `toml:"kind"`
	Path   string `toml:"path"`
	SHA256 string `toml:"sha256"`
}

type rawTool struct {
	Name        string `toml:"name"`
	Description string `toml:"description"`
	Parameters  any    `toml:"parameters"`
	Returns     any    `toml:"returns"`
}

var (
	// Names become directory names in a pack directory: keep them plain.
	nameRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	versionRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)
	// The function-name rule of the common tool-calling APIs.
	toolRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	hexRe  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// BurntSushi/toml's type errors are plain errors; restate them as
	// file:line like every other manifest error.
	typeErrRe = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)
)

// ParseManifest decodes and checks a toolpack.toml (named name in errors).
// Decoding is strict: an unknown key, a value of the wrong type or a
// missing required field is an error matching [ErrBadManifest] that names
// the file, the line where known, and the key. The module's sha256 may be
// empty (Build fills it); every tool's schema must compile.
func ParseManifest(name string, data []byte) (Manifest, error) {
	if len(data) > MaxManifestBytes {
		return Manifest{}, fmt.Errorf("%w: %s: %d bytes, limit %d", ErrBadManifest, name, len(data), MaxManifestBytes)
	}
	src := string(data)
	var raw rawManifest
	md, err := toml.Decode(src, &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			if pe.LastKey != "" {
				return Manifest{}, fmt.Errorf("%w: %s:%d: key %s: %s", ErrBadManifest, name, pe.Position.Line, pe.LastKey, pe.Message)
			}
			return Manifest{}, fmt.Errorf("%w: %s:%d: %s", ErrBadManifest, name, pe.Position.Line, pe.Message)
		}
		if m := typeErrRe.FindStringSubmatch(err.Error()); m != nil {
			return Manifest{}, fmt.Errorf("%w: %s:%s: key %s: %s", ErrBadManifest, name, m[1], m[2], m[3])
		}
		return Manifest{}, fmt.Errorf("%w: %s: %w", ErrBadManifest, name, err)
	}
	for _, k := range md.Undecoded() {
		// Keys inside a schema table are decoded into `any` and yet
		// reported as undecoded; they belong to the schema.
		if len(k) >= 2 && k[0] == "tools" && (k[1] == "parameters" || k[1] == "returns") {
			continue
		}
		return Manifest{}, fmt.Errorf("%w: %s:%d: unknown key %q", ErrBadManifest, name, keyLine(src, k), k.String())
	}
	bad := func(key, format string, args ...any) error {
		line := keyLine(src, strings.Split(key, "."))
		return fmt.Errorf("%w: %s:%d: %s: %s", ErrBadManifest, name, line, key, fmt.Sprintf(format, args...))
	}
	m := Manifest{
		Name: raw.Name, Version: raw.Version, SDKVersion: raw.SDKVersion, Description: raw.Description,
		Files:       raw.Files,
		Module:      ModuleRef{Kind: ModuleKind(raw.Module.Kind), Path: raw.Module.Path, SHA256: raw.Module.SHA256},
		Limits:      raw.Limits,
		Permissions: raw.Permissions,
	}
	switch {
	case !nameRe.MatchString(m.Name):
		return Manifest{}, bad("name", "got %q, want 1-64 of a-z 0-9 . _ - starting with a letter or digit", m.Name)
	case !versionRe.MatchString(m.Version):
		return Manifest{}, bad("version", "got %q, want a version such as 0.1.0", m.Version)
	case m.SDKVersion == "":
		return Manifest{}, bad("sdk_version", "missing; the SDK version the module was built against, e.g. %q", sdk.Version)
	case m.Module.Kind != ModuleWASM && m.Module.Kind != ModuleGoPlugin:
		return Manifest{}, bad("module.kind", "got %q, want %q or %q", m.Module.Kind, ModuleWASM, ModuleGoPlugin)
	case m.Module.SHA256 != "" && !hexRe.MatchString(m.Module.SHA256):
		return Manifest{}, bad("module.sha256", "got %q, want 64 lower-case hex digits", m.Module.SHA256)
	case len(raw.Tools) == 0:
		return Manifest{}, bad("tools", "a tool pack declares at least one [[tools]]")
	}
	if _, _, err := sdk.ParseVersion(m.SDKVersion); err != nil {
		return Manifest{}, bad("sdk_version", "%v", err)
	}
	if err := checkPath(m.Module.Path); err != nil {
		return Manifest{}, bad("module.path", "%v", err)
	}
	for i, f := range m.Files {
		if err := checkPath(f); err != nil {
			return Manifest{}, bad("files", "entry %d: %v", i, err)
		}
		if f == ManifestName || f == m.Module.Path {
			return Manifest{}, bad("files", "entry %d: %q is always packed", i, f)
		}
	}
	switch {
	case m.Limits.Timeout < 0:
		return Manifest{}, bad("limits.timeout", "negative")
	case m.Limits.MaxOutputBytes < 0:
		return Manifest{}, bad("limits.max_output_bytes", "negative")
	case m.Limits.MaxInstances < 0:
		return Manifest{}, bad("limits.max_instances", "negative")
	case m.Limits.MemoryPages > 65536:
		return Manifest{}, bad("limits.memory_pages", "%d is above the 65536 pages of wasm32", m.Limits.MemoryPages)
	}
	for i, t := range raw.Tools {
		// A tool's problems point at its [[tools]] header.
		badTool := func(key, format string, args ...any) error {
			return fmt.Errorf("%w: %s:%d: tools[%d].%s: %s", ErrBadManifest, name, toolLine(src, i), i, key, fmt.Sprintf(format, args...))
		}
		if !toolRe.MatchString(t.Name) {
			return Manifest{}, badTool("name", "got %q, want 1-64 of A-Z a-z 0-9 _ -", t.Name)
		}
		if strings.TrimSpace(t.Description) == "" {
			return Manifest{}, badTool("description", "tool %q: missing; the model reads it to choose the tool", t.Name)
		}
		params, err := schemaJSON(t.Parameters)
		if err != nil {
			return Manifest{}, badTool("parameters", "tool %q: %v", t.Name, err)
		}
		returns, err := schemaJSON(t.Returns)
		if err != nil {
			return Manifest{}, badTool("returns", "tool %q: %v", t.Name, err)
		}
		m.Tools = append(m.Tools, sdk.ToolSpec{Name: t.Name, Description: t.Description, Parameters: params, Returns: returns})
	}
	if _, err := schema.NewSet(m.Tools); err != nil {
		return Manifest{}, fmt.Errorf("%w: %s: %w", ErrBadManifest, name, err)
	}
	return m, nil
}

// schemaJSON turns a TOML value (a JSON string or a table) into compact JSON.
func schemaJSON(v any) (json.RawMessage, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(x)); err != nil {
			return nil, fmt.Errorf("not JSON: %v", err)
		}
		if buf.Len() == 0 || buf.Bytes()[0] != '{' {
			return nil, errors.New("a JSON Schema here is an object")
		}
		return buf.Bytes(), nil
	case map[string]any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	return nil, fmt.Errorf("got a TOML %T, want a JSON string or a table", v)
}

// checkPath accepts a clean relative slash path inside the pack.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty")
	case strings.Contains(p, `\`) || strings.ContainsRune(p, 0):
		return fmt.Errorf("%q: use forward slashes and no NUL", p)
	case path.IsAbs(p) || path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("%q is not a clean path inside the pack", p)
	case len(p) > 255:
		return fmt.Errorf("%q is longer than 255 bytes", p)
	}
	return nil
}

// keyLine finds the line that defines the dotted key k in src, for error
// messages (BurntSushi/toml keeps key positions private). It follows table
// headers and dotted keys, and returns 0 when it cannot tell.
func keyLine(src string, k []string) int {
	want := strings.Join(k, ".")
	table := ""
	for i, line := range strings.Split(src, "\n") {
		s := strings.TrimSpace(line)
		if s == "" || s[0] == '#' {
			continue
		}
		if s[0] == '[' {
			h := strings.Trim(strings.SplitN(s, "]", 2)[0]+"]", "[]")
			table = normKey(h)
			if table == want {
				return i + 1
			}
			continue
		}
		key, _, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		full := normKey(key)
		if table != "" {
			full = table + "." + full
		}
		if full == want || strings.HasPrefix(want, full+".") {
			return i + 1
		}
	}
	return 0
}

// toolLine is the line of the i-th [[tools]] header, 0 if not found (an
// inline array of tables).
func toolLine(src string, i int) int {
	n := 0
	for l, line := range strings.Split(src, "\n") {
		if s := strings.ReplaceAll(strings.TrimSpace(line), " ", ""); strings.HasPrefix(s, "[[tools]]") {
			if n == i {
				return l + 1
			}
			n++
		}
	}
	return 0
}

// normKey strips spaces and quotes around the parts of a dotted key.
func normKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}
