package quant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/toolbrain/toolbrain/internal/pyfloat"
)

// QuantStatePrefix starts the name suffix of the tensor that holds
// bitsandbytes' JSON quant state; the quant type follows
// ("weight.quant_state.bitsandbytes__nf4").
const QuantStatePrefix = "quant_state.bitsandbytes__"

// QuantState is the non-tensor part of a bitsandbytes 4-bit quant state,
// which checkpoints store as UTF-8 JSON in a U8 tensor. Nested fields are set
// only with double quantization.
type QuantState struct {
	QuantType       string   `json:"quant_type"`
	BlockSize       int      `json:"blocksize"`
	DType           string   `json:"dtype"`
	Shape           []int    `json:"shape"`
	NestedBlockSize int      `json:"nested_blocksize,omitempty"`
	NestedDType     string   `json:"nested_dtype,omitempty"`
	NestedOffset    *float64 `json:"nested_offset,omitempty"`
}

// Nested reports whether the state describes double quantization.
func (s *QuantState) Nested() bool {
	return s.NestedBlockSize != 0 || s.NestedDType != "" || s.NestedOffset != nil
}

// MarshalJSON writes the state byte for byte as bitsandbytes does
// (Python's json.dumps of the dict in QuantState.as_dict order, with ", " and
// ": " separators and repr floats), so re-saved checkpoints diff cleanly.
func (s *QuantState) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	str := func(v string) string { q, _ := json.Marshal(v); return string(q) }
	fmt.Fprintf(&b, `{"quant_type": %s, "blocksize": %d, "dtype": %s, "shape": [`,
		str(s.QuantType), s.BlockSize, str(s.DType))
	for i, d := range s.Shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteString("]")
	if s.Nested() {
		off := 0.0
		if s.NestedOffset != nil {
			off = *s.NestedOffset
		}
		fmt.Fprintf(&b, `, "nested_blocksize": %d, "nested_dtype": %s, "nested_offset": %s`,
			s.NestedBlockSize, str(s.NestedDType), pyfloat.JSON(off))
	}
	b.WriteString("}")
	return b.Bytes(), nil
}

// ParseQuantState parses and validates the JSON quant state of a 4-bit
// weight. It returns ErrQuantState for malformed JSON or missing or
// inconsistent fields; fields it does not know are ignored.
func ParseQuantState(data []byte) (*QuantState, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse quant state: %v: %w", err, ErrQuantState)
	}
	for _, k := range []string{"quant_type", "blocksize", "shape"} {
		if _, ok := raw[k]; !ok {
			return nil, fmt.Errorf("parse quant state: no %q: %w", k, ErrQuantState)
		}
	}
	var s QuantState
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parse quant state: %v: %w", err, ErrQuantState)
	}
	if s.BlockSize <= 0 {
		return nil, fmt.Errorf("parse quant state: blocksize %d: %w", s.BlockSize, ErrQuantState)
	}
	if s.Shape == nil {
		return nil, fmt.Errorf("parse quant state: shape is null: %w", ErrQuantState)
	}
	if _, err := numElements(s.Shape); err != nil {
		return nil, fmt.Errorf("parse quant state: %v: %w", err, ErrQuantState)
	}
	if s.Nested() {
		if s.NestedBlockSize <= 0 || s.NestedOffset == nil {
			return nil, fmt.Errorf("parse quant state: incomplete nested fields (blocksize %d, offset set %v): %w",
				s.NestedBlockSize, s.NestedOffset != nil, ErrQuantState)
		}
		if math.IsNaN(*s.NestedOffset) || math.IsInf(*s.NestedOffset, 0) {
			return nil, fmt.Errorf("parse quant state: nested_offset %v: %w", *s.NestedOffset, ErrQuantState)
		}
	}
	return &s, nil
}

// State returns q's quant state as bitsandbytes records it.
func (q *NF4) State() *QuantState {
	s := &QuantState{QuantType: "nf4", BlockSize: q.BlockSize, DType: q.DType, Shape: append([]int(nil), q.Shape...)}
	if a := q.Nested; a != nil {
		off := float64(a.Offset)
		s.NestedBlockSize, s.NestedDType, s.NestedOffset = a.BlockSize, a.DType, &off
	}
	return s
}

// Tensors returns the checkpoint tensors of the weight of module (for
// example "model.layers.0.self_attn.q_proj"), named and shaped as
// bitsandbytes' Linear4bit saves them: module.weight (U8 [ceil(n/2), 1]),
// module.weight.absmax (F32, or U8 with double quantization),
// module.weight.quant_map (F32 [16]), with double quantization
// module.weight.nested_absmax (F32) and module.weight.nested_quant_map
// (F32 [256]), and module.weight.quant_state.bitsandbytes__nf4 (the JSON
// state as U8).
func (q *NF4) Tensors(module string) []Tensor {
	w := joinName(module, "weight")
	state, _ := q.State().MarshalJSON() // never fails
	ts := []Tensor{
		{Name: w, DType: DTypeU8, Shape: []int{len(q.Packed), 1}, Data: append([]byte(nil), q.Packed...)},
	}
	if a := q.Nested; a != nil {
		ts = append(ts, Tensor{Name: w + ".absmax", DType: DTypeU8, Shape: []int{len(a.Q)}, Data: append([]byte(nil), a.Q...)})
	} else {
		ts = append(ts, Tensor{Name: w + ".absmax", DType: DTypeF32, Shape: []int{len(q.Absmax)}, Data: float32sToBytes(q.Absmax)})
	}
	ts = append(ts, Tensor{Name: w + ".quant_map", DType: DTypeF32, Shape: []int{16}, Data: float32sToBytes(q.QuantMap[:])})
	if a := q.Nested; a != nil {
		ts = append(ts,
			Tensor{Name: w + ".nested_absmax", DType: DTypeF32, Shape: []int{len(a.Absmax)}, Data: float32sToBytes(a.Absmax)},
			Tensor{Name: w + ".nested_quant_map", DType: DTypeF32, Shape: []int{len(a.Code)}, Data: float32sToBytes(a.Code)})
	}
	ts = append(ts, Tensor{Name: w + "." + QuantStatePrefix + "nf4", DType: DTypeU8, Shape: []int{len(state)}, Data: state})
	return ts
}

// Format is the quantization a checkpoint uses for one weight.
type Format int

// Formats recognised by [Detect].
const (
	FormatNone Format = iota // plain (unquantized) or absent
	FormatInt8               // bitsandbytes LLM.int8
	FormatNF4                // bitsandbytes 4-bit (NF4, or FP4 which ReadNF4 rejects)
)

// Detect tells which quantization the weight of module uses, from the names
// and dtypes of the tensors present.
func Detect(module string, tensors map[string]Tensor) Format {
	w := joinName(module, "weight")
	for _, qt := range []string{"nf4", "fp4"} {
		if _, ok := tensors[w+"."+QuantStatePrefix+qt]; ok {
			return FormatNF4
		}
	}
	if t, ok := tensors[w]; ok && t.DType == DTypeI8 {
		if _, ok := tensors[joinName(module, "SCB")]; ok {
			return FormatInt8
		}
	}
	return FormatNone
}

// ReadNF4 reads the 4-bit weight of module from tensors, keyed by full tensor
// name, as written by bitsandbytes (through transformers or PEFT) or by
// [NF4.Tensors]. The packed weight may be stored as U8 or, as with
// bitsandbytes' quant_storage option, any other dtype whose bytes hold the
// packed codes.
//
// It returns ErrMissingTensor, ErrQuantState (bad JSON, state that
// contradicts the tensor sizes), ErrShape (byte sizes that disagree with
// shapes), ErrUnsupported (FP4) or ErrNonFinite (NaN or Inf scales).
func ReadNF4(module string, tensors map[string]Tensor) (*NF4, error) {
	w := joinName(module, "weight")
	get := func(name string) (Tensor, error) {
		t, ok := tensors[name]
		if !ok {
			return t, fmt.Errorf("read nf4 %s: %w", name, ErrMissingTensor)
		}
		return t, nil
	}
	if _, ok := tensors[w+"."+QuantStatePrefix+"fp4"]; ok {
		return nil, fmt.Errorf("read nf4 %s: quant type fp4: %w", w, ErrUnsupported)
	}
	st, err := get(w + "." + QuantStatePrefix + "nf4")
	if err != nil {
		return nil, err
	}
	if _, err := checkTensor(st, DTypeU8); err != nil {
		return nil, fmt.Errorf("read nf4: %w", err)
	}
	s, err := ParseQuantState(st.Data)
	if err != nil {
		return nil, fmt.Errorf("read nf4 %s: %w", st.Name, err)
	}
	if s.QuantType != "nf4" {
		return nil, fmt.Errorf("read nf4 %s: quant_type %q: %w", st.Name, s.QuantType, ErrUnsupported)
	}
	n, _ := numElements(s.Shape) // validated by ParseQuantState
	nb := (n + s.BlockSize - 1) / s.BlockSize

	pt, err := get(w)
	if err != nil {
		return nil, err
	}
	if dtypeSize(pt.DType) == 0 {
		return nil, fmt.Errorf("read nf4 %s: dtype %q: %w", w, pt.DType, ErrShape)
	}
	if _, err := checkTensor(pt, pt.DType); err != nil {
		return nil, fmt.Errorf("read nf4: %w", err)
	}
	// bitsandbytes pads the packed storage to whole storage elements.
	if want := (n + 1) / 2; len(pt.Data) < want || len(pt.Data) >= want+dtypeSize(pt.DType) {
		return nil, fmt.Errorf("read nf4 %s: %d bytes for %d values: %w", w, len(pt.Data), n, ErrQuantState)
	}
	qmt, err := get(w + ".quant_map")
	if err != nil {
		return nil, err
	}
	if k, err := checkTensor(qmt, DTypeF32); err != nil || k != 16 {
		return nil, fmt.Errorf("read nf4 %s: want F32 [16]: %w", qmt.Name, orShape(err))
	}
	q := &NF4{
		Packed:    append([]uint8(nil), pt.Data[:(n+1)/2]...),
		Shape:     s.Shape,
		BlockSize: s.BlockSize,
		DType:     s.DType,
	}
	copy(q.QuantMap[:], bytesToFloat32s(qmt.Data))
	if err := checkScales(qmt.Name, q.QuantMap[:]); err != nil {
		return nil, err
	}
	at, err := get(w + ".absmax")
	if err != nil {
		return nil, err
	}
	if !s.Nested() {
		if k, err := checkTensor(at, DTypeF32); err != nil || k != nb {
			return nil, fmt.Errorf("read nf4 %s: want F32 with %d blocks: %w", at.Name, nb, orShape(err))
		}
		q.Absmax = bytesToFloat32s(at.Data)
		if err := checkScales(at.Name, q.Absmax); err != nil {
			return nil, err
		}
		return q, nil
	}
	if k, err := checkTensor(at, DTypeU8); err != nil || k != nb {
		return nil, fmt.Errorf("read nf4 %s: want U8 with %d blocks: %w", at.Name, nb, orShape(err))
	}
	nat, err := get(w + ".nested_absmax")
	if err != nil {
		return nil, err
	}
	nnb := (nb + s.NestedBlockSize - 1) / s.NestedBlockSize
	if k, err := checkTensor(nat, DTypeF32); err != nil || k != nnb {
		return nil, fmt.Errorf("read nf4 %s: want F32 with %d blocks: %w", nat.Name, nnb, orShape(err))
	}
	nmt, err := get(w + ".nested_quant_map")
	if err != nil {
		return nil, err
	}
	if k, err := checkTensor(nmt, DTypeF32); err != nil || k != 256 {
		return nil, fmt.Errorf("read nf4 %s: want F32 [256]: %w", nmt.Name, orShape(err))
	}
	q.Nested = &NestedAbsmax{
		Q:         append([]uint8(nil), at.Data...),
		Absmax:    bytesToFloat32s(nat.Data),
		Code:      bytesToFloat32s(nmt.Data),
		Offset:    float32(*s.NestedOffset),
		BlockSize: s.NestedBlockSize,
		DType:     s.NestedDType,
	}
	if err := checkScales(nat.Name, q.Nested.Absmax); err != nil {
		return nil, err
	}
	if err := checkScales(nmt.Name, q.Nested.Code); err != nil {
		return nil, err
	}
	return q, nil
}

// orShape returns err, or ErrShape when err is nil (a tensor that is valid on
// its own but has the wrong element count).
func orShape(err error) error {
	if err == nil {
		return ErrShape
	}
	return err
}

func checkScales(name string, v []float32) error {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("read nf4 %s: element %d is %v: %w", name, i, x, ErrNonFinite)
		}
	}
	return nil
}
