package quant

import (
	"reflect"
	"testing"
)

// FuzzParseQuantState: any bytes either fail with an error or parse into a
// state that re-serializes and parses back to itself.
func FuzzParseQuantState(f *testing.F) {
	f.Add([]byte(`{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [4096, 11008]}`))
	f.Add([]byte(`{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [97, 201], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.13493692874908447}`))
	f.Add([]byte(`{"quant_type": "fp4", "blocksize": 128, "shape": []}`))
	f.Add([]byte(`{"blocksize": 1e3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseQuantState(data)
		if err != nil {
			return
		}
		out, err := s.MarshalJSON()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := ParseQuantState(out)
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		if !reflect.DeepEqual(back.Shape, s.Shape) || back.BlockSize != s.BlockSize || back.QuantType != s.QuantType ||
			back.Nested() != s.Nested() {
			t.Fatalf("round trip %+v -> %s -> %+v", s, out, back)
		}
	})
}

// FuzzReadNF4 feeds arbitrary quant states and tensor bytes to ReadNF4: it
// must return an error or a weight that dequantizes to NumElements values,
// never panic.
func FuzzReadNF4(f *testing.F) {
	q, _ := QuantizeNF4(randWeights(1, 2*64, 0.1), []int{2, 64}, NF4Options{})
	d, _ := QuantizeNF4(randWeights(2, 3*50, 0.1), []int{3, 50}, NF4Options{DoubleQuant: true})
	for _, x := range []*NF4{q, d} {
		m := tensorMap(x.Tensors("w"))
		nested := m["w.weight.nested_absmax"].Data
		f.Add(m["w.weight.quant_state.bitsandbytes__nf4"].Data, m["w.weight"].Data, m["w.weight.absmax"].Data,
			nested, x.Nested != nil)
	}
	f.Fuzz(func(t *testing.T, state, packed, absmax, nested []byte, dq bool) {
		m := map[string]Tensor{
			"w.weight.quant_state.bitsandbytes__nf4": {Name: "s", DType: DTypeU8, Shape: []int{len(state)}, Data: state},
			"w.weight":                               {Name: "w", DType: DTypeU8, Shape: []int{len(packed), 1}, Data: packed},
			"w.weight.quant_map":                     {Name: "m", DType: DTypeF32, Shape: []int{16}, Data: float32sToBytes(NF4Code[:])},
		}
		if dq {
			m["w.weight.absmax"] = Tensor{Name: "a", DType: DTypeU8, Shape: []int{len(absmax)}, Data: absmax}
			m["w.weight.nested_absmax"] = Tensor{Name: "n", DType: DTypeF32, Shape: []int{len(nested) / 4}, Data: nested[:len(nested)/4*4]}
			m["w.weight.nested_quant_map"] = Tensor{Name: "c", DType: DTypeF32, Shape: []int{256}, Data: float32sToBytes(DynamicMap())}
		} else {
			m["w.weight.absmax"] = Tensor{Name: "a", DType: DTypeF32, Shape: []int{len(absmax) / 4}, Data: absmax[:len(absmax)/4*4]}
		}
		w, err := ReadNF4("w", m)
		if err != nil {
			return
		}
		if got := len(w.Dequantize()); got != w.NumElements() {
			t.Fatalf("dequantized %d values, want %d", got, w.NumElements())
		}
	})
}
