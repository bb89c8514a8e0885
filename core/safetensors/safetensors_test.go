package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

const modelsDir = "../../testdata/models"

// refFile is one entry of testdata/reference_values.json, made by
// testdata/make_reference.py with the Python standard library alone.
type refFile struct {
	Metadata map[string]string `json:"metadata"`
	Tensors  map[string]struct {
		DType string    `json:"dtype"`
		Shape []int     `json:"shape"`
		Head  []float64 `json:"head"`
		Tail  []float64 `json:"tail"`
		Sum   float64   `json:"sum"`
	} `json:"tensors"`
}

func loadReference(t testing.TB) map[string]refFile {
	t.Helper()
	b, err := os.ReadFile("testdata/reference_values.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]refFile
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestOpen_ReferenceFiles(t *testing.T) {
	for file, want := range loadReference(t) {
		t.Run(file, func(t *testing.T) {
			f, err := Open(filepath.Join(modelsDir, file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if !reflect.DeepEqual(f.Header().Metadata, want.Metadata) {
				t.Errorf("metadata = %v, want %v", f.Header().Metadata, want.Metadata)
			}
			if got, w := len(f.Names()), len(want.Tensors); got != w {
				t.Errorf("%d tensors, want %d", got, w)
			}
			if !sort.StringsAreSorted(f.Names()) {
				t.Errorf("names not sorted: %v", f.Names())
			}
			for name, wt := range want.Tensors {
				info, ok := f.Info(name)
				if !ok {
					t.Fatalf("tensor %q missing", name)
				}
				if string(info.DType) != wt.DType || !reflect.DeepEqual(info.Shape, wt.Shape) {
					t.Errorf("%s: %s %v, want %s %v", name, info.DType, info.Shape, wt.DType, wt.Shape)
				}
				v, shape, err := f.Float32(name)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(shape, wt.Shape) {
					t.Errorf("%s: Float32 shape %v, want %v", name, shape, wt.Shape)
				}
				n := len(v)
				for i, w := range wt.Head {
					if v[i] != float32(w) {
						t.Errorf("%s[%d] = %v, want %v", name, i, v[i], w)
					}
				}
				for i, w := range wt.Tail {
					if j := n - len(wt.Tail) + i; v[j] != float32(w) {
						t.Errorf("%s[%d] = %v, want %v", name, j, v[j], w)
					}
				}
				// Python's sum() adds the same float64 values in the same order: exact.
				var sum float64
				for _, x := range v {
					sum += float64(x)
				}
				if sum != wt.Sum {
					t.Errorf("%s: sum %v, want %v", name, sum, wt.Sum)
				}
			}
		})
	}
}

// modelConfig is the part of a Hugging Face config.json that fixes tensor shapes.
type modelConfig struct {
	Hidden       int  `json:"hidden_size"`
	Intermediate int  `json:"intermediate_size"`
	Heads        int  `json:"num_attention_heads"`
	KVHeads      int  `json:"num_key_value_heads"`
	Layers       int  `json:"num_hidden_layers"`
	Vocab        int  `json:"vocab_size"`
	Tied         bool `json:"tie_word_embeddings"`
	ModelType    string
}

// expectedShapes derives the Llama/Qwen2 parameter shapes from a config.
func expectedShapes(c modelConfig, qkvBias bool) map[string][]int {
	hd := c.Hidden / c.Heads
	m := map[string][]int{
		"model.embed_tokens.weight": {c.Vocab, c.Hidden},
		"model.norm.weight":         {c.Hidden},
	}
	if !c.Tied {
		m["lm_head.weight"] = []int{c.Vocab, c.Hidden}
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		m[p+"input_layernorm.weight"] = []int{c.Hidden}
		m[p+"post_attention_layernorm.weight"] = []int{c.Hidden}
		m[p+"self_attn.q_proj.weight"] = []int{c.Heads * hd, c.Hidden}
		m[p+"self_attn.k_proj.weight"] = []int{c.KVHeads * hd, c.Hidden}
		m[p+"self_attn.v_proj.weight"] = []int{c.KVHeads * hd, c.Hidden}
		m[p+"self_attn.o_proj.weight"] = []int{c.Hidden, c.Heads * hd}
		m[p+"mlp.gate_proj.weight"] = []int{c.Intermediate, c.Hidden}
		m[p+"mlp.up_proj.weight"] = []int{c.Intermediate, c.Hidden}
		m[p+"mlp.down_proj.weight"] = []int{c.Hidden, c.Intermediate}
		if qkvBias {
			m[p+"self_attn.q_proj.bias"] = []int{c.Heads * hd}
			m[p+"self_attn.k_proj.bias"] = []int{c.KVHeads * hd}
			m[p+"self_attn.v_proj.bias"] = []int{c.KVHeads * hd}
		}
	}
	return m
}

func TestOpenDir_ShapesMatchConfig(t *testing.T) {
	tests := []struct {
		name    string
		dir     string
		dtype   DType
		qkvBias bool
	}{
		{name: "llama-tiny F32", dir: "llama-tiny", dtype: F32},
		{name: "qwen2-tiny BF16", dir: "qwen2-tiny-bf16", dtype: BF16, qkvBias: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(modelsDir, tt.dir)
			b, err := os.ReadFile(filepath.Join(dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var cfg modelConfig
			if err := json.Unmarshal(b, &cfg); err != nil {
				t.Fatal(err)
			}
			want := expectedShapes(cfg, tt.qkvBias)
			s, err := OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if len(s.Names()) != len(want) {
				t.Errorf("%d tensors, want %d: %v", len(s.Names()), len(want), s.Names())
			}
			for name, shape := range want {
				info, ok := s.Info(name)
				if !ok {
					t.Errorf("missing %s", name)
					continue
				}
				if !reflect.DeepEqual(info.Shape, shape) || info.DType != tt.dtype {
					t.Errorf("%s: %s %v, want %s %v", name, info.DType, info.Shape, tt.dtype, shape)
				}
				v, _, err := s.Float32(name)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(v)) != info.NumElements() {
					t.Errorf("%s: %d values, want %d", name, len(v), info.NumElements())
				}
			}
		})
	}
}

// readAll returns every tensor of a file as Write input.
func readAll(t testing.TB, f *File) []Tensor {
	t.Helper()
	var ts []Tensor
	for _, info := range f.Header().Tensors {
		raw, err := f.Raw(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, Tensor{Name: info.Name, DType: info.DType, Shape: info.Shape, Data: raw})
	}
	return ts
}

// The shared checkpoints were written by the reference implementation (Python
// safetensors over its Rust core); writing their tensors back must reproduce them
// byte for byte, padding and ordering included.
func TestWrite_ReproducesReferenceBytes(t *testing.T) {
	for _, file := range []string{"llama-tiny/model.safetensors", "qwen2-tiny-bf16/model.safetensors", "llama-tiny-lora/adapter_model.safetensors"} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(modelsDir, file)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			out := filepath.Join(t.TempDir(), "out.safetensors")
			// Shuffle the input order: Write must impose the reference order itself.
			ts := readAll(t, f)
			for i, j := 0, len(ts)-1; i < j; i, j = i+1, j-1 {
				ts[i], ts[j] = ts[j], ts[i]
			}
			if err := Write(out, ts, f.Header().Metadata); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, orig) {
				n := min(len(got), len(orig))
				i := 0
				for i < n && got[i] == orig[i] {
					i++
				}
				t.Fatalf("output differs from reference at byte %d (len %d vs %d)", i, len(got), len(orig))
			}
		})
	}
}

func TestWrite_RoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rt.safetensors")
	f32 := []float32{1, -2.5, float32(math.Inf(1)), 3.14159, 0, float32(math.Copysign(0, -1))}
	in := []Tensor{
		{Name: "a.f32", DType: F32, Shape: []int{2, 3}, Data: EncodeF32(f32)},
		{Name: "b.bf16", DType: BF16, Shape: []int{6}, Data: EncodeBF16(f32)},
		{Name: "c.f16", DType: F16, Shape: []int{3, 2}, Data: EncodeF16(f32)},
		{Name: "d.f64", DType: F64, Shape: []int{1}, Data: binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1))},
		{Name: "e.i8", DType: I8, Shape: []int{3}, Data: []byte{1, 0xff, 7}},
		{Name: "f.empty", DType: F32, Shape: []int{0, 4}, Data: nil},
		{Name: "g.scalar", DType: I64, Shape: []int{}, Data: binary.LittleEndian.AppendUint64(nil, 42)},
		{Name: "h \"odd\"\n\tname\\ü", DType: BOOL, Shape: []int{2}, Data: []byte{1, 0}},
		{Name: "i.empty2", DType: U8, Shape: []int{0}, Data: nil},
	}
	meta := map[string]string{"format": "pt", "note": "multi\nline \"quoted\" ✓"}
	if err := Write(path, in, meta); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temp files left behind: %v", ents)
	}
	b, _ := os.ReadFile(path)
	if n := binary.LittleEndian.Uint64(b); n%8 != 0 {
		t.Errorf("header length %d not padded to 8", n)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !reflect.DeepEqual(f.Header().Metadata, meta) {
		t.Errorf("metadata %v, want %v", f.Header().Metadata, meta)
	}
	for _, want := range in {
		raw, err := f.Raw(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		info, _ := f.Info(want.Name)
		if !bytes.Equal(raw, want.Data) || info.DType != want.DType || !reflect.DeepEqual(info.Shape, want.Shape) {
			t.Errorf("%q: got %s %v %x, want %s %v %x", want.Name, info.DType, info.Shape, raw, want.DType, want.Shape, want.Data)
		}
	}
	for _, name := range []string{"a.f32", "b.bf16", "c.f16"} {
		v, shape, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		// -0 and +0 compare equal, 3.14159 is rounded by the 16-bit formats.
		want := []float32{1, -2.5, float32(math.Inf(1)), 0, 0, 0}
		for i := range v {
			if i == 3 {
				continue
			}
			if v[i] != want[i] {
				t.Errorf("%s[%d] = %v, want %v (shape %v)", name, i, v[i], want[i], shape)
			}
		}
		if math.Abs(float64(v[3])-3.14159) > 3.14159/128 {
			t.Errorf("%s[3] = %v, want ≈3.14159", name, v[3])
		}
	}
	if v, _, err := f.Float32("d.f64"); err != nil || v[0] != float32(0.1) {
		t.Errorf("d.f64 = %v, %v", v, err)
	}
	if v, shape, err := f.Float32("f.empty"); err != nil || len(v) != 0 || !reflect.DeepEqual(shape, []int{0, 4}) {
		t.Errorf("f.empty = %v %v %v", v, shape, err)
	}
	if _, _, err := f.Float32("e.i8"); !errors.Is(err, ErrUnsupportedDType) {
		t.Errorf("Float32 of I8: err = %v, want ErrUnsupportedDType", err)
	}
}

func TestWrite_Errors(t *testing.T) {
	tests := []struct {
		name    string
		tensors []Tensor
		want    error
	}{
		{"short data", []Tensor{{Name: "x", DType: F32, Shape: []int{2}, Data: make([]byte, 7)}}, ErrInvalidTensor},
		{"negative dim", []Tensor{{Name: "x", DType: F32, Shape: []int{-1}, Data: nil}}, ErrInvalidTensor},
		{"unknown dtype", []Tensor{{Name: "x", DType: "F128", Shape: []int{1}, Data: make([]byte, 16)}}, ErrUnsupportedDType},
		{"duplicate", []Tensor{{Name: "x", DType: U8, Shape: []int{1}, Data: []byte{1}}, {Name: "x", DType: U8, Shape: []int{1}, Data: []byte{1}}}, ErrInvalidTensor},
		{"metadata name", []Tensor{{Name: "__metadata__", DType: U8, Shape: []int{1}, Data: []byte{1}}}, ErrInvalidTensor},
		{"invalid utf8", []Tensor{{Name: "\xff", DType: U8, Shape: []int{1}, Data: []byte{1}}}, ErrInvalidTensor},
		{"huge shape", []Tensor{{Name: "x", DType: U8, Shape: []int{1 << 40, 1 << 40}, Data: nil}}, ErrInvalidTensor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.safetensors")
			os.WriteFile(path, []byte("old"), 0o644)
			err := Write(path, tt.tensors, nil)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want %v naming %s", err, tt.want, path)
			}
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Errorf("failed Write replaced the file")
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("temp files left behind: %v", ents)
			}
		})
	}
}

func TestOpenDir_Sharded(t *testing.T) {
	dir := t.TempDir()
	a := []Tensor{{Name: "w1", DType: F32, Shape: []int{2}, Data: EncodeF32([]float32{1, 2})}}
	b := []Tensor{
		{Name: "w2", DType: BF16, Shape: []int{3}, Data: EncodeBF16([]float32{0.5, -1, 4})},
		{Name: "w3", DType: F16, Shape: []int{1}, Data: EncodeF16([]float32{-8})},
	}
	if err := Write(filepath.Join(dir, "model-00001-of-00002.safetensors"), a, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "model-00002-of-00002.safetensors"), b, nil); err != nil {
		t.Fatal(err)
	}
	writeIndex := func(wm map[string]string) {
		t.Helper()
		js, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 22}, "weight_map": wm})
		if err := os.WriteFile(filepath.Join(dir, IndexFileName), js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := map[string]string{
		"w1": "model-00001-of-00002.safetensors",
		"w2": "model-00002-of-00002.safetensors",
		"w3": "model-00002-of-00002.safetensors",
	}
	writeIndex(good)
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Names(); !reflect.DeepEqual(got, []string{"w1", "w2", "w3"}) {
		t.Errorf("Names = %v", got)
	}
	if s.Metadata["total_size"] != float64(22) {
		t.Errorf("Metadata = %v", s.Metadata)
	}
	for name, want := range map[string][]float32{"w1": {1, 2}, "w2": {0.5, -1, 4}, "w3": {-8}} {
		v, _, err := s.Float32(name)
		if err != nil || !reflect.DeepEqual(v, want) {
			t.Errorf("%s = %v, %v; want %v", name, v, err, want)
		}
	}
	if raw, err := s.Raw("w1"); err != nil || !bytes.Equal(raw, a[0].Data) {
		t.Errorf("Raw(w1) = %x, %v", raw, err)
	}
	if _, err := s.Raw("nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Raw(nope) err = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	errCases := []struct {
		name     string
		wm       map[string]string
		want     error
		contains string
	}{
		{"missing shard", map[string]string{"w1": "model-00001-of-00002.safetensors", "w9": "model-00003-of-00003.safetensors"}, ErrMissingShard, "model-00003-of-00003.safetensors"},
		{"tensor not in shard", map[string]string{"w2": "model-00001-of-00002.safetensors"}, ErrNotFound, "w2"},
		{"escaping path", map[string]string{"w1": "../model-00001-of-00002.safetensors"}, ErrInvalidHeader, "../"},
		{"empty map", map[string]string{}, ErrInvalidHeader, "weight_map"},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) {
			writeIndex(tt.wm)
			_, err := OpenDir(dir)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("err = %v, want %v containing %q", err, tt.want, tt.contains)
			}
		})
	}
}

func TestOpenDir_Empty(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenDir(dir)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), dir) {
		t.Errorf("err = %v, want ErrNotFound naming %s", err, dir)
	}
	os.WriteFile(filepath.Join(dir, IndexFileName), []byte("{not json"), 0o644)
	if _, err := OpenDir(dir); !errors.Is(err, ErrInvalidHeader) {
		t.Errorf("garbage index: err = %v", err)
	}
}

// file builds a safetensors file from a header string and a data section.
func file(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestOpen_Errors(t *testing.T) {
	good := file(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8))
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty file", nil, ErrTruncated},
		{"short length", []byte{1, 2, 3}, ErrTruncated},
		{"header longer than file", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), ErrHeaderTooLarge},
		{"huge header length", append(binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "{}"...), ErrHeaderTooLarge},
		{"json garbage", file(`{"x":`, nil), ErrInvalidHeader},
		{"data truncated", good[:len(good)-3], ErrTruncated},
		{"extra data", append(append([]byte{}, good...), 0), ErrInvalidOffsets},
		{"offsets lie", file(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}}`, make([]byte, 12)), ErrInvalidOffsets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want %v naming the file", err, tt.want)
			}
		})
	}
	if _, err := Open(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}

func TestFile_NotFound(t *testing.T) {
	path := filepath.Join(modelsDir, "llama-tiny/model.safetensors")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, call := range []func() error{
		func() error { _, err := f.Raw("no.such.tensor"); return err },
		func() error { _, _, err := f.Float32("no.such.tensor"); return err },
	} {
		err := call()
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no.such.tensor") {
			t.Errorf("err = %v, want ErrNotFound naming file and tensor", err)
		}
	}
	if _, ok := f.Info("no.such.tensor"); ok {
		t.Error("Info found a missing tensor")
	}
}

func TestParseHeader_Errors(t *testing.T) {
	tests := []struct {
		name     string
		header   string
		dataSize int64
		want     error
	}{
		{"empty", ``, 0, ErrInvalidHeader},
		{"not an object", `[1,2]`, 0, ErrInvalidHeader},
		{"leading space", ` {}`, 0, ErrInvalidHeader},
		{"unterminated", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`, 4, ErrInvalidHeader},
		{"trailing garbage", `{}x`, 0, ErrInvalidHeader},
		{"two objects", `{}{}`, 0, ErrInvalidHeader},
		{"tensor not object", `{"a":3}`, 0, ErrInvalidHeader},
		{"missing dtype", `{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4, ErrInvalidHeader},
		{"missing shape", `{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4, ErrInvalidHeader},
		{"missing offsets", `{"a":{"dtype":"F32","shape":[1]}}`, 4, ErrInvalidHeader},
		{"unknown dtype", `{"a":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}}`, 1, ErrUnsupportedDType},
		{"lower-case dtype", `{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}`, 4, ErrUnsupportedDType},
		{"negative dim", `{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4, ErrInvalidHeader},
		{"fractional dim", `{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4, ErrInvalidHeader},
		{"exponent dim", `{"a":{"dtype":"F32","shape":[1e1],"data_offsets":[0,40]}}`, 40, ErrInvalidHeader},
		{"string dim", `{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, 4, ErrInvalidHeader},
		{"shape overflow", `{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, 4, ErrInvalidOffsets},
		{"byte size overflow", `{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,4]}}`, 4, ErrInvalidOffsets},
		{"one offset", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, 4, ErrInvalidHeader},
		{"three offsets", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 4, ErrInvalidHeader},
		{"negative offset", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, 4, ErrInvalidOffsets},
		{"offset overflow", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551615,3]}}`, 4, ErrInvalidOffsets},
		{"end before begin", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, 4, ErrInvalidOffsets},
		{"size mismatch", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4, ErrInvalidOffsets},
		{"past the data", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 2, ErrTruncated},
		{"gap at start", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8, ErrInvalidOffsets},
		{"gap between", `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}`, 3, ErrInvalidOffsets},
		{"overlap", `{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, 3, ErrInvalidOffsets},
		{"same range twice", `{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 2, ErrInvalidOffsets},
		{"data not covered", `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 2, ErrInvalidOffsets},
		{"duplicate name", `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2, ErrInvalidHeader},
		{"metadata not strings", `{"__metadata__":{"a":1}}`, 0, ErrInvalidHeader},
		{"metadata not object", `{"__metadata__":"x"}`, 0, ErrInvalidHeader},
		{"negative data size", `{}`, -1, ErrInvalidOffsets},
		{"key case differs", `{"a":{"dtYpe":"U8","shape":[1],"data_offsets":[0,1]}}`, 1, ErrInvalidHeader},
		{"duplicate field", `{"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, 1, ErrInvalidHeader},
		{"null shape", `{"a":{"dtype":"U8","shape":null,"data_offsets":[0,1]}}`, 1, ErrInvalidHeader},
		{"dtype not string", `{"a":{"dtype":8,"shape":[1],"data_offsets":[0,1]}}`, 1, ErrInvalidHeader},
		{"invalid utf-8", "{\"\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, ErrInvalidHeader},
		{"duplicate metadata key", `{"__metadata__":{"k":"a","k":"b"}}`, 0, ErrInvalidHeader},
		{"metadata array", `{"__metadata__":["k"]}`, 0, ErrInvalidHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader([]byte(tt.header), tt.dataSize)
			if !errors.Is(err, tt.want) {
				t.Errorf("ParseHeader(%s) = %v, %v; want %v", tt.header, h, err, tt.want)
			}
		})
	}
}

func TestParseHeader_Valid(t *testing.T) {
	tests := []struct {
		name     string
		header   string
		dataSize int64
		want     *Header
	}{
		{"empty object", `{}`, 0, &Header{}},
		{"padded", `{}      `, 0, &Header{}},
		{"null metadata", `{"__metadata__":null}`, 0, &Header{}},
		{"unknown field tolerated", `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":true}}`, 1,
			&Header{Tensors: []TensorInfo{{Name: "a", DType: U8, Shape: []int{1}, Begin: 0, End: 1}}}},
		{"zero-size tensors share an offset", `{"z":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},"a":{"dtype":"I16","shape":[],"data_offsets":[0,2]},"y":{"dtype":"F32","shape":[3,0],"data_offsets":[2,2]}}`, 2,
			&Header{Tensors: []TensorInfo{
				{Name: "a", DType: I16, Shape: []int{}, Begin: 0, End: 2},
				{Name: "y", DType: F32, Shape: []int{3, 0}, Begin: 2, End: 2},
				{Name: "z", DType: F32, Shape: []int{0}, Begin: 2, End: 2},
			}}},
		{"sorted by name, any offset order", `{"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]},"__metadata__":{"k":"v"}}`, 3,
			&Header{Tensors: []TensorInfo{
				{Name: "a", DType: U8, Shape: []int{2}, Begin: 1, End: 3},
				{Name: "b", DType: U8, Shape: []int{1}, Begin: 0, End: 1},
			}, Metadata: map[string]string{"k": "v"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader([]byte(tt.header), tt.dataSize)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("got %+v, want %+v", h, tt.want)
			}
		})
	}
}

// FuzzParseHeader checks that no input panics, and that every accepted header
// re-encodes (with Write's encoder) to a header that parses to the same value.
func FuzzParseHeader(f *testing.F) {
	for _, p := range []string{"llama-tiny/model.safetensors", "qwen2-tiny-bf16/model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(modelsDir, p))
		if err != nil {
			f.Fatal(err)
		}
		n := binary.LittleEndian.Uint64(b)
		f.Add(b[8:8+n], int64(len(b))-8-int64(n))
	}
	f.Add([]byte(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"__metadata__":{"k":"v"}}`), int64(1))
	f.Add([]byte(`{"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}  `), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, dataSize int64) {
		h, err := ParseHeader(b, dataSize)
		if err != nil {
			return
		}
		ts := make([]Tensor, len(h.Tensors))
		var total int64
		for i, ti := range h.Tensors {
			if i > 0 && h.Tensors[i-1].Name >= ti.Name {
				t.Fatalf("tensors not sorted: %q, %q", h.Tensors[i-1].Name, ti.Name)
			}
			if ti.End-ti.Begin != ti.NumElements()*int64(ti.DType.Size()) {
				t.Fatalf("%q: size mismatch accepted", ti.Name)
			}
			total += ti.End - ti.Begin
			// Data contents do not matter to the header; a shared backing array
			// keeps huge-but-valid declared sizes cheap.
			ts[i] = Tensor{Name: ti.Name, DType: ti.DType, Shape: ti.Shape}
		}
		if total != dataSize {
			t.Fatalf("tensors cover %d bytes, data is %d", total, dataSize)
		}
		if total > 1<<20 {
			return // too big to materialise for the round trip
		}
		for i, ti := range h.Tensors {
			ts[i].Data = make([]byte, ti.End-ti.Begin)
		}
		enc, _, err := encodeHeader(ts, h.Metadata)
		if err != nil {
			// Only names/metadata that are not valid UTF-8 may be refused.
			if !errors.Is(err, ErrInvalidTensor) {
				t.Fatalf("re-encode: %v", err)
			}
			return
		}
		h2, err := ParseHeader(enc, dataSize)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", enc, err)
		}
		if len(h2.Tensors) != len(h.Tensors) || len(h2.Metadata) != len(h.Metadata) {
			t.Fatalf("round trip changed the header: %+v vs %+v", h, h2)
		}
		for i := range h.Tensors {
			a, b := h.Tensors[i], h2.Tensors[i]
			if a.Name != b.Name || a.DType != b.DType || !reflect.DeepEqual(a.Shape, b.Shape) || a.End-a.Begin != b.End-b.Begin {
				t.Fatalf("round trip changed %+v into %+v", a, b)
			}
		}
	})
}
