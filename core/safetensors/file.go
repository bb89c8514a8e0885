package safetensors

import (
	"encoding/binary"
	"fmt"
	"os"
)

// File is an open safetensors file. Its methods are safe for concurrent use
// until Close.
type File struct {
	path    string
	f       *os.File
	header  *Header
	dataOff int64 // file offset of the data section
}

// Open reads and validates the header of the safetensors file at path. Tensor data
// is read on demand; keep the File open while reading and Close it afterwards.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: open %s: %w", path, err)
	}
	file, err := newFile(path, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("safetensors: open %s: %w", path, err)
	}
	return file, nil
}

func newFile(path string, f *os.File) (*File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	var lenBuf [8]byte
	if err := readFullAt(f, lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("reading header length (file is %d bytes): %w", size, err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > uint64(size-8) {
		return nil, fmt.Errorf("%w: header length %d exceeds the %d bytes after it", ErrHeaderTooLarge, n, size-8)
	}
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header length %d > %d", ErrHeaderTooLarge, n, MaxHeaderSize)
	}
	hb := make([]byte, n)
	if err := readFullAt(f, hb, 8); err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	h, err := ParseHeader(hb, size-8-int64(n))
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f, header: h, dataOff: 8 + int64(n)}, nil
}

// Path returns the path the file was opened with.
func (f *File) Path() string { return f.path }

// Header returns the parsed header. Callers must not modify it.
func (f *File) Header() *Header { return f.header }

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	names := make([]string, len(f.header.Tensors))
	for i, t := range f.header.Tensors {
		names[i] = t.Name
	}
	return names
}

// Info returns the description of the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) { return f.header.Find(name) }

func (f *File) info(name string) (TensorInfo, error) {
	t, ok := f.header.Find(name)
	if !ok {
		return t, fmt.Errorf("safetensors: %s: tensor %q: %w", f.path, name, ErrNotFound)
	}
	return t, nil
}

// Raw returns a fresh copy of the named tensor's little-endian bytes.
func (f *File) Raw(name string) ([]byte, error) {
	t, err := f.info(name)
	if err != nil {
		return nil, err
	}
	b := make([]byte, t.End-t.Begin)
	if err := f.readAt(t, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (f *File) readAt(t TensorInfo, b []byte) error {
	if err := readFullAt(f.f, b, f.dataOff+t.Begin); err != nil {
		return fmt.Errorf("safetensors: %s: reading tensor %q: %w", f.path, t.Name, err)
	}
	return nil
}

// Float32 returns the named tensor converted to float32, with its shape. F32, F16
// and BF16 convert exactly; F64 rounds to nearest. Other dtypes give
// ErrUnsupportedDType.
func (f *File) Float32(name string) ([]float32, []int, error) {
	t, err := f.info(name)
	if err != nil {
		return nil, nil, err
	}
	if !isFloat(t.DType) {
		return nil, nil, fmt.Errorf("safetensors: %s: tensor %q is %s: %w", f.path, name, t.DType, ErrUnsupportedDType)
	}
	out := make([]float32, t.NumElements())
	buf := float32Bytes(out)
	switch {
	case t.DType == F32 && nativeLE:
		// The file's bytes are already the in-memory layout.
		err = f.readAt(t, buf)
	case t.DType == F16 || t.DType == BF16:
		// Read into the upper half of the output and widen in place, front to
		// back: one allocation and no extra copy.
		raw := buf[len(buf)-int(t.End-t.Begin):]
		if err = f.readAt(t, raw); err == nil {
			decodeInto(t.DType, out, raw)
		}
	default:
		raw := make([]byte, t.End-t.Begin)
		if err = f.readAt(t, raw); err == nil {
			decodeInto(t.DType, out, raw)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return out, append([]int(nil), t.Shape...), nil
}

// Close releases the file. Later reads fail.
func (f *File) Close() error { return f.f.Close() }
