package quant

import (
	"errors"
	"reflect"
	"testing"
)

func tensorMap(ts []Tensor) map[string]Tensor {
	m := make(map[string]Tensor, len(ts))
	for _, t := range ts {
		m[t.Name] = t
	}
	return m
}

func TestNF4_TensorsRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		module string
		shape  []int
		opts   NF4Options
	}{
		{"plain", "model.layers.0.self_attn.q_proj", []int{12, 64}, NF4Options{}},
		{"odd", "m", []int{3, 7}, NF4Options{DType: "bfloat16"}},
		{"double_quant", "model.layers.1.mlp.down_proj", []int{100, 300}, NF4Options{DoubleQuant: true}},
		{"no_module", "", []int{64}, NF4Options{BlockSize: 32}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 1
			for _, d := range tc.shape {
				n *= d
			}
			q, err := QuantizeNF4(randWeights(uint64(n), n, 0.1), tc.shape, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			ts := tensorMap(q.Tensors(tc.module))
			wantNames := []string{"weight", "weight.absmax", "weight.quant_map", "weight.quant_state.bitsandbytes__nf4"}
			if tc.opts.DoubleQuant {
				wantNames = append(wantNames, "weight.nested_absmax", "weight.nested_quant_map")
			}
			if len(ts) != len(wantNames) {
				t.Errorf("%d tensors, want %d", len(ts), len(wantNames))
			}
			for _, s := range wantNames {
				if _, ok := ts[joinName(tc.module, s)]; !ok {
					t.Errorf("no tensor %q", joinName(tc.module, s))
				}
			}
			if Detect(tc.module, ts) != FormatNF4 {
				t.Errorf("Detect = %v, want FormatNF4", Detect(tc.module, ts))
			}
			back, err := ReadNF4(tc.module, ts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, q) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", back, q)
			}
		})
	}
}

func TestInt8_TensorsRoundTrip(t *testing.T) {
	q, err := QuantizeInt8(randWeights(3, 20*30, 0.1), 20, 30)
	if err != nil {
		t.Fatal(err)
	}
	ts := tensorMap(q.Tensors("model.layers.0.mlp.up_proj"))
	if Detect("model.layers.0.mlp.up_proj", ts) != FormatInt8 {
		t.Error("not detected as int8")
	}
	back, err := ReadInt8("model.layers.0.mlp.up_proj", ts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, q) {
		t.Error("round trip differs")
	}
	delete(ts, "model.layers.0.mlp.up_proj.weight_format") // older bitsandbytes
	if _, err := ReadInt8("model.layers.0.mlp.up_proj", ts); err != nil {
		t.Errorf("without weight_format: %v", err)
	}
}

// TestQuantState_JSON pins the exact bytes bitsandbytes writes
// (json.dumps of QuantState.as_dict's non-tensor items).
func TestQuantState_JSON(t *testing.T) {
	off := 0.0123
	tests := []struct {
		name  string
		state QuantState
		want  string
	}{
		{"plain", QuantState{QuantType: "nf4", BlockSize: 64, DType: "bfloat16", Shape: []int{4096, 11008}},
			`{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [4096, 11008]}`},
		{"nested", QuantState{QuantType: "nf4", BlockSize: 64, DType: "float16", Shape: []int{896, 4864},
			NestedBlockSize: 256, NestedDType: "float32", NestedOffset: &off},
			`{"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [896, 4864], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.0123}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.state.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			back, err := ParseQuantState(got)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*back, tc.state) {
				t.Errorf("parsed %+v, want %+v", *back, tc.state)
			}
		})
	}
}

func TestReadNF4_Errors(t *testing.T) {
	const mod = "layer"
	q, err := QuantizeNF4(randWeights(5, 40*64, 0.1), []int{40, 64}, NF4Options{DoubleQuant: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := QuantizeNF4(randWeights(6, 4*64, 0.1), []int{4, 64}, NF4Options{})
	if err != nil {
		t.Fatal(err)
	}
	state := "layer.weight.quant_state.bitsandbytes__nf4"
	tests := []struct {
		name   string
		base   *NF4
		mutate func(m map[string]Tensor)
		want   error
	}{
		{"no_state", q, func(m map[string]Tensor) { delete(m, state) }, ErrMissingTensor},
		{"no_weight", q, func(m map[string]Tensor) { delete(m, "layer.weight") }, ErrMissingTensor},
		{"no_nested_absmax", q, func(m map[string]Tensor) { delete(m, "layer.weight.nested_absmax") }, ErrMissingTensor},
		{"no_quant_map", p, func(m map[string]Tensor) { delete(m, "layer.weight.quant_map") }, ErrMissingTensor},
		{"bad_json", q, setData(state, []byte(`{"quant_type": "nf4", "blocksize": 64,`)), ErrQuantState},
		{"json_not_object", q, setData(state, []byte(`[1, 2]`)), ErrQuantState},
		{"no_blocksize", q, setData(state, []byte(`{"quant_type": "nf4", "shape": [40, 64]}`)), ErrQuantState},
		{"zero_blocksize", q, setData(state, []byte(`{"quant_type": "nf4", "blocksize": 0, "shape": [40, 64]}`)), ErrQuantState},
		{"float_blocksize", q, setData(state, []byte(`{"quant_type": "nf4", "blocksize": 64.5, "shape": [40, 64]}`)), ErrQuantState},
		{"null_shape", q, setData(state, []byte(`{"quant_type": "nf4", "blocksize": 64, "shape": null}`)), ErrQuantState},
		{"negative_shape", q, setData(state, []byte(`{"quant_type": "nf4", "blocksize": 64, "shape": [-2, 64]}`)), ErrQuantState},
		{"shape_disagrees", p, setData(state, []byte(`{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [8, 64]}`)), ErrQuantState},
		{"nested_without_offset", q, setData(state, []byte(`{"quant_type": "nf4", "blocksize": 64, "shape": [40, 64], "nested_blocksize": 256}`)), ErrQuantState},
		{"fp4_type", p, setData(state, []byte(`{"quant_type": "fp4", "blocksize": 64, "dtype": "float32", "shape": [4, 64]}`)), ErrUnsupported},
		{"fp4_key", p, func(m map[string]Tensor) {
			m["layer.weight.quant_state.bitsandbytes__fp4"] = m[state]
			delete(m, state)
		}, ErrUnsupported},
		{"absmax_short", p, setData("layer.weight.absmax", make([]byte, 12)), ErrShape},
		{"absmax_blocks", p, func(m map[string]Tensor) {
			m["layer.weight.absmax"] = Tensor{Name: "layer.weight.absmax", DType: DTypeF32, Shape: []int{3}, Data: make([]byte, 12)}
		}, ErrShape},
		{"absmax_dtype", q, func(m map[string]Tensor) {
			t := m["layer.weight.absmax"]
			t.DType = DTypeF32
			m["layer.weight.absmax"] = t
		}, ErrShape},
		{"quant_map_len", p, func(m map[string]Tensor) {
			m["layer.weight.quant_map"] = Tensor{Name: "layer.weight.quant_map", DType: DTypeF32, Shape: []int{8}, Data: make([]byte, 32)}
		}, ErrShape},
		{"nested_map_len", q, func(m map[string]Tensor) {
			m["layer.weight.nested_quant_map"] = Tensor{Name: "layer.weight.nested_quant_map", DType: DTypeF32, Shape: []int{16}, Data: make([]byte, 64)}
		}, ErrShape},
		{"nan_absmax", p, setData("layer.weight.absmax", append([]byte{0, 0, 0xc0, 0x7f}, make([]byte, 12)...)), ErrNonFinite},
		{"packed_short", p, func(m map[string]Tensor) {
			m["layer.weight"] = Tensor{Name: "layer.weight", DType: DTypeU8, Shape: []int{10, 1}, Data: make([]byte, 10)}
		}, ErrQuantState},
		{"packed_unknown_dtype", p, func(m map[string]Tensor) {
			w := m["layer.weight"]
			w.DType = "Q4"
			m["layer.weight"] = w
		}, ErrShape},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tensorMap(tc.base.Tensors(mod))
			tc.mutate(m)
			_, err := ReadNF4(mod, m)
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// setData replaces a tensor's bytes, keeping a 1-D shape consistent with
// them so only the content is wrong.
func setData(name string, data []byte) func(map[string]Tensor) {
	return func(m map[string]Tensor) {
		t := m[name]
		t.Data = data
		t.Shape = []int{len(data) / max(1, dtypeSize(t.DType))}
		m[name] = t
	}
}

func TestReadNF4_PackedStorageDType(t *testing.T) {
	// bitsandbytes' quant_storage option stores the packed bytes as another
	// dtype (e.g. BF16 for FSDP); the bytes are the same.
	q, err := QuantizeNF4(randWeights(9, 8*64, 0.1), []int{8, 64}, NF4Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := tensorMap(q.Tensors("x"))
	w := m["x.weight"]
	w.DType, w.Shape = "BF16", []int{len(w.Data) / 2, 1}
	m["x.weight"] = w
	back, err := ReadNF4("x", m)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Packed) != string(q.Packed) {
		t.Error("packed bytes differ")
	}
}

func TestReadInt8_Errors(t *testing.T) {
	q, err := QuantizeInt8(randWeights(3, 4*8, 0.1), 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(m map[string]Tensor)
		want   error
	}{
		{"no_weight", func(m map[string]Tensor) { delete(m, "l.weight") }, ErrMissingTensor},
		{"no_scb", func(m map[string]Tensor) { delete(m, "l.SCB") }, ErrMissingTensor},
		{"scb_rows", func(m map[string]Tensor) {
			m["l.SCB"] = Tensor{Name: "l.SCB", DType: DTypeF32, Shape: []int{3}, Data: make([]byte, 12)}
		}, ErrShape},
		{"weight_bytes", func(m map[string]Tensor) {
			w := m["l.weight"]
			w.Data = w.Data[:5]
			m["l.weight"] = w
		}, ErrShape},
		{"weight_1d", func(m map[string]Tensor) {
			w := m["l.weight"]
			w.Shape = []int{32}
			m["l.weight"] = w
		}, ErrShape},
		{"weight_f32", func(m map[string]Tensor) {
			w := m["l.weight"]
			w.DType = DTypeF32
			m["l.weight"] = w
		}, ErrShape},
		{"col_format", func(m map[string]Tensor) {
			m["l.weight_format"] = Tensor{Name: "l.weight_format", DType: DTypeU8, Shape: []int{}, Data: []byte{2}}
		}, ErrUnsupported},
		{"negative_scale", func(m map[string]Tensor) {
			m["l.SCB"] = Tensor{Name: "l.SCB", DType: DTypeF32, Shape: []int{4}, Data: float32sToBytes([]float32{1, -1, 1, 1})}
		}, ErrNonFinite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tensorMap(q.Tensors("l"))
			tc.mutate(m)
			if _, err := ReadInt8("l", m); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	if got := Detect("a", map[string]Tensor{"a.weight": {Name: "a.weight", DType: DTypeF32}}); got != FormatNone {
		t.Errorf("plain weight: %v", got)
	}
	if got := Detect("a", nil); got != FormatNone {
		t.Errorf("absent: %v", got)
	}
}
