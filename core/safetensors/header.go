// Package safetensors reads and writes the safetensors checkpoint format used by
// Hugging Face: an 8-byte little-endian header length N, N bytes of JSON describing
// every tensor (dtype, shape, byte offsets into the data section), then the raw
// little-endian tensor bytes.
//
// The reader is strict in the same places as the reference Rust implementation
// (huggingface/safetensors): offsets must tile the data section exactly, each
// tensor's byte size must equal numel × dtype size, and the header may be followed
// only by space padding. Bad input yields an error wrapping one of the sentinels
// below, never a panic.
//
// Tensor data is read lazily with ReadAt, so opening a multi-gigabyte checkpoint
// costs only the header, and concurrent reads of different tensors are safe.
package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Sentinel errors. Every error returned by this package wraps one of these, with
// the file and tensor named in the message.
var (
	// ErrTruncated: the file ends before the header or data section it declares.
	ErrTruncated = errors.New("safetensors: file truncated")
	// ErrHeaderTooLarge: the declared header length exceeds the file or MaxHeaderSize.
	ErrHeaderTooLarge = errors.New("safetensors: header too large")
	// ErrInvalidHeader: the header is not the JSON object the format prescribes.
	ErrInvalidHeader = errors.New("safetensors: invalid header")
	// ErrInvalidOffsets: tensor offsets overlap, leave gaps, run past the data, or
	// disagree with shape × dtype size.
	ErrInvalidOffsets = errors.New("safetensors: invalid tensor offsets")
	// ErrUnsupportedDType: a dtype this package does not know, or one that cannot be
	// converted as asked (e.g. Float32 of an I64 tensor).
	ErrUnsupportedDType = errors.New("safetensors: unsupported dtype")
	// ErrNotFound: no tensor of that name, or no weights file in a directory.
	ErrNotFound = errors.New("safetensors: not found")
	// ErrMissingShard: an index names a shard file that does not exist.
	ErrMissingShard = errors.New("safetensors: missing shard")
	// ErrInvalidTensor: a tensor given to Write is inconsistent (size, name, dtype).
	ErrInvalidTensor = errors.New("safetensors: invalid tensor")
)

// MaxHeaderSize bounds the JSON header, as the reference implementation does
// (100 MB); a larger declared length is treated as corruption rather than allocated.
const MaxHeaderSize = 100_000_000

// DType names an element type exactly as it appears in the header ("F32", "BF16", ...).
type DType string

// The element types this package knows. Sub-byte types (F4, F6_*) are rejected
// with ErrUnsupportedDType.
const (
	BOOL    DType = "BOOL"
	U8      DType = "U8"
	I8      DType = "I8"
	F8E5M2  DType = "F8_E5M2"
	F8E4M3  DType = "F8_E4M3"
	F8E8M0  DType = "F8_E8M0"
	I16     DType = "I16"
	U16     DType = "U16"
	F16     DType = "F16"
	BF16    DType = "BF16"
	I32     DType = "I32"
	U32     DType = "U32"
	F32     DType = "F32"
	F64     DType = "F64"
	I64     DType = "I64"
	U64     DType = "U64"
	metaKey       = "__metadata__"
)

// dtypeInfo holds each known dtype's element size and its rank in the reference
// implementation's Dtype enum; Write orders tensors by rank (descending) then name,
// as the reference serializer does, so that equal inputs give byte-equal files.
var dtypeInfo = map[DType]struct{ size, rank int }{
	BOOL: {1, 0}, U8: {1, 1}, I8: {1, 2}, F8E5M2: {1, 3}, F8E4M3: {1, 4}, F8E8M0: {1, 5},
	I16: {2, 6}, U16: {2, 7}, F16: {2, 8}, BF16: {2, 9}, I32: {4, 10}, U32: {4, 11},
	F32: {4, 12}, F64: {8, 13}, I64: {8, 14}, U64: {8, 15},
}

// Size returns the element size in bytes, or 0 for an unknown dtype.
func (d DType) Size() int { return dtypeInfo[d].size }

// Valid reports whether d is a dtype this package can read and write.
func (d DType) Valid() bool { _, ok := dtypeInfo[d]; return ok }

// TensorInfo describes one tensor. Begin and End are byte offsets relative to the
// start of the data section (after the 8-byte length and the header).
type TensorInfo struct {
	Name       string
	DType      DType
	Shape      []int
	Begin, End int64
}

// NumElements returns the product of Shape (1 for a scalar).
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Header is a parsed safetensors header.
type Header struct {
	// Tensors, sorted by name.
	Tensors []TensorInfo
	// Metadata is the free-form "__metadata__" string map; nil when absent.
	Metadata map[string]string
}

// Find returns the tensor of that name by binary search.
func (h *Header) Find(name string) (TensorInfo, bool) {
	i := sort.Search(len(h.Tensors), func(i int) bool { return h.Tensors[i].Name >= name })
	if i < len(h.Tensors) && h.Tensors[i].Name == name {
		return h.Tensors[i], true
	}
	return TensorInfo{}, false
}

// ParseHeader parses the JSON header b (without the 8-byte length prefix) of a file
// whose data section is dataSize bytes long, and checks it strictly: known dtypes,
// non-negative dims whose product does not overflow, End-Begin == numel × size, and
// offsets that, sorted, tile [0, dataSize) exactly with no gap or overlap. Duplicate
// keys, keys that differ from the spec only in case, invalid UTF-8, anything but
// whitespace after the object, and non-string metadata values
// are errors.
func ParseHeader(b []byte, dataSize int64) (*Header, error) {
	if dataSize < 0 {
		return nil, fmt.Errorf("%w: negative data size %d", ErrInvalidOffsets, dataSize)
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: header does not start with '{'", ErrInvalidHeader)
	}
	if !utf8.Valid(b) {
		// The reference implementation parses the header as a UTF-8 str;
		// encoding/json would silently substitute U+FFFD instead.
		return nil, fmt.Errorf("%w: header is not valid UTF-8", ErrInvalidHeader)
	}
	members, end, err := decodeObject(b)
	if err != nil {
		return nil, err
	}
	h := &Header{}
	for _, m := range members {
		if m.key == metaKey {
			if h.Metadata, err = parseMetadata(m.val); err != nil {
				return nil, err
			}
			continue
		}
		ti, err := parseTensorInfo(m.key, m.val)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, ti)
	}
	// The reference writer pads the header with spaces to a multiple of 8; allow any
	// JSON whitespace there but nothing else.
	if rest := b[end:]; len(bytes.Trim(rest, " \t\r\n")) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes after header object", ErrInvalidHeader)
	}
	if err := checkOffsets(h.Tensors, dataSize); err != nil {
		return nil, err
	}
	sort.Slice(h.Tensors, func(i, j int) bool { return h.Tensors[i].Name < h.Tensors[j].Name })
	return h, nil
}

// member is one key/value pair of a JSON object.
type member struct {
	key string
	val json.RawMessage
}

// decodeObject reads the JSON object at the start of b, member by member, and
// returns the members and the offset just past the object. Keys must be unique:
// encoding/json would silently keep the last of duplicates.
func decodeObject(b []byte) ([]member, int64, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, 0, fmt.Errorf("%w: expected an object: %s", ErrInvalidHeader, truncate(b))
	}
	var ms []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrInvalidHeader, err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, 0, fmt.Errorf("%w: unexpected %v", ErrInvalidHeader, tok)
		}
		if seen[key] {
			return nil, 0, fmt.Errorf("%w: duplicate key %q", ErrInvalidHeader, key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, 0, fmt.Errorf("%w: value of %q: %w", ErrInvalidHeader, key, err)
		}
		ms = append(ms, member{key, raw})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalidHeader, err)
	}
	return ms, dec.InputOffset(), nil
}

func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	bad := fmt.Errorf("%w: __metadata__ must be an object of strings: %s", ErrInvalidHeader, truncate(raw))
	if len(raw) == 0 || raw[0] != '{' {
		return nil, bad
	}
	ms, _, err := decodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("__metadata__: %w", err)
	}
	m := make(map[string]string, len(ms))
	for _, kv := range ms {
		var v string
		if len(kv.val) == 0 || kv.val[0] != '"' || json.Unmarshal(kv.val, &v) != nil {
			return nil, bad
		}
		m[kv.key] = v
	}
	return m, nil
}

func parseTensorInfo(name string, raw json.RawMessage) (TensorInfo, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: not an object", ErrInvalidHeader, name)
	}
	ms, _, err := decodeObject(raw)
	if err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	// Keys match exactly (encoding/json would accept "DType"); unknown keys are
	// tolerated, as the reference implementation does; missing ones are not.
	var dtype string
	var shape, offsets []json.RawMessage
	var have int
	for _, kv := range ms {
		var err error
		switch kv.key {
		case "dtype":
			have |= 1
			if len(kv.val) == 0 || kv.val[0] != '"' {
				err = errNotString
			} else {
				err = json.Unmarshal(kv.val, &dtype)
			}
		case "shape":
			have |= 2
			err = unmarshalArray(kv.val, &shape)
		case "data_offsets":
			have |= 4
			err = unmarshalArray(kv.val, &offsets)
		}
		if err != nil {
			return TensorInfo{}, fmt.Errorf("%w: tensor %q: %s: %w", ErrInvalidHeader, name, kv.key, err)
		}
	}
	if have != 7 {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: needs dtype, shape and data_offsets", ErrInvalidHeader, name)
	}
	ti := TensorInfo{Name: name, DType: DType(dtype)}
	if !ti.DType.Valid() {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: %q", ErrUnsupportedDType, name, dtype)
	}
	numel := uint64(1)
	ti.Shape = make([]int, len(shape))
	for i, n := range shape {
		d, err := parseUint(n)
		if err != nil || d > math.MaxInt {
			return TensorInfo{}, fmt.Errorf("%w: tensor %q: bad dimension %s", ErrInvalidHeader, name, n)
		}
		hi, lo := bits.Mul64(numel, d)
		if hi != 0 || lo > math.MaxInt64 {
			return TensorInfo{}, fmt.Errorf("%w: tensor %q: shape %s overflows", ErrInvalidOffsets, name, truncate(raw))
		}
		numel = lo
		ti.Shape[i] = int(d)
	}
	if len(offsets) != 2 {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: data_offsets needs 2 numbers", ErrInvalidHeader, name)
	}
	begin, err1 := parseUint(offsets[0])
	end, err2 := parseUint(offsets[1])
	if err1 != nil || err2 != nil || begin > math.MaxInt64 || end > math.MaxInt64 {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: bad data_offsets %s", ErrInvalidOffsets, name, raw)
	}
	if end < begin {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: end %d before begin %d", ErrInvalidOffsets, name, end, begin)
	}
	hi, want := bits.Mul64(numel, uint64(ti.DType.Size()))
	if hi != 0 || want != end-begin {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: %d bytes for shape %v of %s (want %d)",
			ErrInvalidOffsets, name, end-begin, ti.Shape, ti.DType, numel*uint64(ti.DType.Size()))
	}
	ti.Begin, ti.End = int64(begin), int64(end)
	return ti, nil
}

var errNotString = errors.New("not a string")

// unmarshalArray decodes a JSON array (not null) into raw elements.
func unmarshalArray(b json.RawMessage, out *[]json.RawMessage) error {
	if len(b) == 0 || b[0] != '[' {
		return errors.New("not an array")
	}
	return json.Unmarshal(b, out)
}

// parseUint accepts only plain non-negative JSON integers: no sign, fraction,
// exponent or quotes (json.Number would accept the string "1").
func parseUint(n json.RawMessage) (uint64, error) { return strconv.ParseUint(string(n), 10, 64) }

// checkOffsets verifies that the tensors, ordered by offset, tile [0, dataSize).
func checkOffsets(ts []TensorInfo, dataSize int64) error {
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := ts[order[a]], ts[order[b]]
		if x.Begin != y.Begin {
			return x.Begin < y.Begin
		}
		return x.End < y.End
	})
	var pos int64
	for _, i := range order {
		t := ts[i]
		if t.Begin != pos {
			return fmt.Errorf("%w: tensor %q starts at %d, expected %d (gap or overlap)", ErrInvalidOffsets, t.Name, t.Begin, pos)
		}
		pos = t.End
	}
	if pos != dataSize {
		if pos > dataSize {
			return fmt.Errorf("%w: tensors need %d data bytes, file has %d", ErrTruncated, pos, dataSize)
		}
		return fmt.Errorf("%w: tensors cover %d of %d data bytes", ErrInvalidOffsets, pos, dataSize)
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// readFullAt is io.ReadFull over a ReaderAt, mapping a short read to ErrTruncated.
func readFullAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		return ErrTruncated
	}
	return err
}
