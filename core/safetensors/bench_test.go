package safetensors

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchFile writes one rows×cols tensor of dtype dt and opens it.
func benchFile(b *testing.B, dt DType, rows, cols int) *File {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 1))
	v := make([]float32, rows*cols)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	var data []byte
	switch dt {
	case F32:
		data = EncodeF32(v)
	case BF16:
		data = EncodeBF16(v)
	case F16:
		data = EncodeF16(v)
	}
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	if err := Write(path, []Tensor{{Name: "w", DType: dt, Shape: []int{rows, cols}, Data: data}}, nil); err != nil {
		b.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

// BenchmarkFloat32 reads a 4096×1024 tensor (a mid-size projection matrix) and
// converts it; MB/s counts the bytes on disk.
func BenchmarkFloat32(b *testing.B) {
	for _, dt := range []DType{BF16, F16, F32} {
		b.Run(string(dt), func(b *testing.B) {
			f := benchFile(b, dt, 4096, 1024)
			info, _ := f.Info("w")
			b.SetBytes(info.End - info.Begin)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := f.Float32("w"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseHeader(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(modelsDir, "qwen2-tiny-bf16/model.safetensors"))
	if err != nil {
		b.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	hdr, dataSize := raw[8:8+n], int64(len(raw))-8-int64(n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHeader(hdr, dataSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	data := make([]byte, 8<<20)
	dir := b.TempDir()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := Write(filepath.Join(dir, "w.safetensors"), []Tensor{{Name: "w", DType: BF16, Shape: []int{4096, 1024}, Data: data}}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFloat32 isolates the conversion (no I/O, no page faults):
// 1 Mi elements into a reused buffer.
func BenchmarkDecodeFloat32(b *testing.B) {
	const n = 1 << 20
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i%1000) / 7
	}
	for _, tc := range []struct {
		dt  DType
		raw []byte
	}{{BF16, EncodeBF16(v)}, {F16, EncodeF16(v)}, {F32, EncodeF32(v)}} {
		b.Run(string(tc.dt), func(b *testing.B) {
			out := make([]float32, n)
			b.SetBytes(int64(len(tc.raw)))
			for b.Loop() {
				decodeInto(tc.dt, out, tc.raw)
			}
		})
	}
}
