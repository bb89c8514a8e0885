package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Names of the weight files in a Hugging Face checkpoint directory.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// Set is the weights of a checkpoint directory: one file or several shards joined
// by an index. Its methods are safe for concurrent use until Close.
type Set struct {
	dir    string
	files  []*File
	byName map[string]*File
	names  []string
	// Metadata is the index's "metadata" object (e.g. total_size), or the single
	// file's header metadata.
	Metadata map[string]any
}

// index is the layout of model.safetensors.index.json written by transformers.
type index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenDir opens the weights of a checkpoint directory. If IndexFileName exists its
// weight_map decides which shard holds each tensor (a missing shard, or a tensor
// absent from its shard, is an error naming it); otherwise SingleFileName is read.
func OpenDir(dir string) (*Set, error) {
	idxPath := filepath.Join(dir, IndexFileName)
	b, err := os.ReadFile(idxPath)
	switch {
	case err == nil:
		s, err := openIndexed(dir, idxPath, b)
		if err != nil {
			return nil, err
		}
		return s, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("safetensors: open %s: %w", idxPath, err)
	}
	single := filepath.Join(dir, SingleFileName)
	f, err := Open(single)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("safetensors: %s: no %s or %s: %w (%w)", dir, SingleFileName, IndexFileName, ErrNotFound, fs.ErrNotExist)
		}
		return nil, err
	}
	s := &Set{dir: dir, files: []*File{f}, byName: map[string]*File{}, names: f.Names()}
	for _, n := range s.names {
		s.byName[n] = f
	}
	if md := f.Header().Metadata; md != nil {
		s.Metadata = map[string]any{}
		for k, v := range md {
			s.Metadata[k] = v
		}
	}
	return s, nil
}

func openIndexed(dir, idxPath string, b []byte) (_ *Set, err error) {
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w: %w", idxPath, ErrInvalidHeader, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors: %s: %w: empty weight_map", idxPath, ErrInvalidHeader)
	}
	s := &Set{dir: dir, byName: make(map[string]*File, len(idx.WeightMap)), Metadata: idx.Metadata}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	shards := map[string]*File{}
	for _, name := range sortedKeys(idx.WeightMap) {
		shard := idx.WeightMap[name]
		// Shard names come from a downloaded file: never let them reach outside dir.
		if !filepath.IsLocal(shard) {
			return nil, fmt.Errorf("safetensors: %s: %w: shard %q of tensor %q is not a local file name", idxPath, ErrInvalidHeader, shard, name)
		}
		f := shards[shard]
		if f == nil {
			p := filepath.Join(dir, shard)
			if f, err = Open(p); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("safetensors: %s: shard %s (holding %q) does not exist: %w (%w)", idxPath, p, name, ErrMissingShard, fs.ErrNotExist)
				}
				return nil, err
			}
			shards[shard] = f
			s.files = append(s.files, f)
		}
		if _, ok := f.Info(name); !ok {
			return nil, fmt.Errorf("safetensors: %s: tensor %q listed in %s: %w", f.Path(), name, IndexFileName, ErrNotFound)
		}
		s.byName[name] = f
		s.names = append(s.names, name)
	}
	return s, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Dir returns the directory the set was opened from.
func (s *Set) Dir() string { return s.dir }

// Names returns every tensor name, sorted.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// Info returns the description of the named tensor.
func (s *Set) Info(name string) (TensorInfo, bool) {
	f := s.byName[name]
	if f == nil {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

func (s *Set) file(name string) (*File, error) {
	f := s.byName[name]
	if f == nil {
		return nil, fmt.Errorf("safetensors: %s: tensor %q: %w", s.dir, name, ErrNotFound)
	}
	return f, nil
}

// Raw returns a copy of the named tensor's bytes.
func (s *Set) Raw(name string) ([]byte, error) {
	f, err := s.file(name)
	if err != nil {
		return nil, err
	}
	return f.Raw(name)
}

// Float32 returns the named tensor converted to float32, with its shape.
func (s *Set) Float32(name string) ([]float32, []int, error) {
	f, err := s.file(name)
	if err != nil {
		return nil, nil, err
	}
	return f.Float32(name)
}

// Close closes every file of the set and returns the first error.
func (s *Set) Close() error {
	var first error
	for _, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.files = nil
	return first
}
