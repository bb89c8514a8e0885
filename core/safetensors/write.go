package safetensors

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Tensor is one tensor to write: Data holds its little-endian bytes, exactly
// numel(Shape) × DType.Size() of them.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// Write stores tensors and metadata at path atomically: it writes a temporary file
// in the same directory, fsyncs it, and renames it over path, so a crash leaves
// either the old file or the complete new one. The layout matches the reference
// serializer byte for byte (tensors ordered by dtype then name, compact JSON,
// "__metadata__" last, header padded with spaces to a multiple of 8); metadata keys
// are sorted. Nil or empty metadata writes no "__metadata__" entry.
func Write(path string, tensors []Tensor, metadata map[string]string) (err error) {
	header, order, err := encodeHeader(tensors, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("safetensors: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("safetensors: write %s: %w", path, err)
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	w.Write(lenBuf[:])
	w.Write(header)
	for _, i := range order {
		w.Write(tensors[i].Data)
	}
	if err = w.Flush(); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; checkpoints are meant to be shared like any
	// other file the user writes.
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable; best effort, as some file systems refuse it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// encodeHeader validates tensors and returns the padded JSON header and the order
// in which the tensors' data follow it.
func encodeHeader(tensors []Tensor, metadata map[string]string) ([]byte, []int, error) {
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		if err := checkTensor(t); err != nil {
			return nil, nil, err
		}
		if seen[t.Name] {
			return nil, nil, fmt.Errorf("%w: duplicate name %q", ErrInvalidTensor, t.Name)
		}
		seen[t.Name] = true
	}
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	// The reference serializer sorts by dtype (largest enum value first, which keeps
	// wide types aligned) and then by name.
	sort.Slice(order, func(a, b int) bool {
		x, y := tensors[order[a]], tensors[order[b]]
		if rx, ry := dtypeInfo[x.DType].rank, dtypeInfo[y.DType].rank; rx != ry {
			return rx > ry
		}
		return x.Name < y.Name
	})
	b := []byte{'{'}
	var off int64
	for n, i := range order {
		t := tensors[i]
		if n > 0 {
			b = append(b, ',')
		}
		b = appendString(b, t.Name)
		b = append(b, `:{"dtype":`...)
		b = appendString(b, string(t.DType))
		b = append(b, `,"shape":[`...)
		for k, d := range t.Shape {
			if k > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendInt(b, off, 10)
		off += int64(len(t.Data))
		b = append(b, ',')
		b = strconv.AppendInt(b, off, 10)
		b = append(b, "]}"...)
	}
	if len(metadata) > 0 {
		if len(tensors) > 0 {
			b = append(b, ',')
		}
		b = append(b, `"__metadata__":{`...)
		for k, key := range sortedKeys(metadata) {
			if !utf8.ValidString(key) || !utf8.ValidString(metadata[key]) {
				return nil, nil, fmt.Errorf("%w: metadata %q is not valid UTF-8", ErrInvalidTensor, key)
			}
			if k > 0 {
				b = append(b, ',')
			}
			b = appendString(b, key)
			b = append(b, ':')
			b = appendString(b, metadata[key])
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	return b, order, nil
}

func checkTensor(t Tensor) error {
	if t.Name == metaKey || !utf8.ValidString(t.Name) {
		return fmt.Errorf("%w: name %q", ErrInvalidTensor, t.Name)
	}
	if !t.DType.Valid() {
		return fmt.Errorf("%w: tensor %q: %q", ErrUnsupportedDType, t.Name, t.DType)
	}
	numel := int64(1)
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("%w: tensor %q: negative dimension in %v", ErrInvalidTensor, t.Name, t.Shape)
		}
		if numel > 0 && int64(d) > (1<<62)/numel {
			return fmt.Errorf("%w: tensor %q: shape %v too large", ErrInvalidTensor, t.Name, t.Shape)
		}
		numel *= int64(d)
	}
	if want := numel * int64(t.DType.Size()); int64(len(t.Data)) != want {
		return fmt.Errorf("%w: tensor %q: %d bytes for shape %v of %s (want %d)", ErrInvalidTensor, t.Name, len(t.Data), t.Shape, t.DType, want)
	}
	return nil
}

// appendString writes s as a JSON string the way serde_json does: only '"', '\\'
// and control characters are escaped, everything else (non-ASCII included) is
// kept as UTF-8.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
