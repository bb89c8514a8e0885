package model

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/toolbrain/toolbrain/core/quant"
)

// Quantization formats for LoadOptions.Quant.
const (
	QuantNone = ""
	QuantInt8 = "int8" // LLM.int8 per-output-channel absmax
	QuantNF4  = "nf4"  // 4-bit NormalFloat, blocks of 64
)

// RawSource is a Source that also returns stored bytes; Load needs it to
// read checkpoints saved quantized (bitsandbytes layout). SetSource
// implements it.
type RawSource interface {
	Source
	// Raw returns a tensor's safetensors dtype ("I8", "U8", "F32", ...),
	// shape and little-endian bytes.
	Raw(name string) (dtype string, shape []int, data []byte, err error)
}

// Raw implements RawSource.
func (s SetSource) Raw(name string) (string, []int, []byte, error) {
	info, ok := s.Info(name)
	if !ok {
		return "", nil, nil, fmt.Errorf("%w: %s", ErrMissingTensor, name)
	}
	data, err := s.Set.Raw(name)
	if err != nil {
		return "", nil, nil, err
	}
	return string(info.DType), slices.Clone(info.Shape), data, nil
}

var _ RawSource = SetSource{}

// storage says how one weight is held on the device.
type storage struct {
	format    quant.Format
	blockSize int // NF4 only
}

// StoredQuant lists the quantization formats its projection weights are held
// in (QuantInt8, QuantNF4), sorted and without repeats; nil for float32
// weights. A checkpoint stored quantized keeps its format whatever
// LoadOptions.Quant says, so callers that promise a format check this.
func (m *Model) StoredQuant() []string {
	var out []string
	for _, st := range m.storage {
		f := ""
		switch st.format {
		case quant.FormatInt8:
			f = QuantInt8
		case quant.FormatNF4:
			f = QuantNF4
		}
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// inputs is the number of device tensors a weight occupies.
func (s storage) inputs() int {
	switch s.format {
	case quant.FormatInt8:
		return 2 // codes, SCB
	case quant.FormatNF4:
		return 3 // packed codes, absmax, quant map
	}
	return 1
}

// dequant builds the float32 weight node from its stored inputs, and for
// int8 the per-output-row scale that Linear applies after the product
// (nil otherwise): see quant.Int8RowScaleGraph.
func (s storage) dequant(in []*graph.Node, shape []int) (w, rowScale *graph.Node) {
	switch s.format {
	case quant.FormatInt8:
		return graph.ConvertDType(in[0], dtypes.Float32), quant.Int8RowScaleGraph(in[1])
	case quant.FormatNF4:
		return quant.DequantizeNF4GraphWithMap(in[0], in[1], in[2], shape, s.blockSize), nil
	}
	return in[0], nil
}

// quantSuffixes are the tensor-name suffixes bitsandbytes stores beside a
// quantized weight, relative to the module path.
var quantSuffixes = []string{
	".weight", ".SCB", ".weight_format", ".weight.absmax", ".weight.quant_map",
	".weight.nested_absmax", ".weight.nested_quant_map",
	".weight." + quant.QuantStatePrefix + "nf4", ".weight." + quant.QuantStatePrefix + "fp4",
}

// readStoredQuant returns the module's quantized weight if src holds it
// quantized, or nil.
func readStoredQuant(src Source, module string) (*quant.Int8, *quant.NF4, error) {
	raw, ok := src.(RawSource)
	if !ok {
		return nil, nil, nil
	}
	var present []string
	for _, suf := range quantSuffixes {
		if src.Has(module + suf) {
			present = append(present, module+suf)
		}
	}
	if len(present) == 1 && present[0] == module+".weight" {
		return nil, nil, nil // plain weight: skip reading its bytes twice
	}
	ts := map[string]quant.Tensor{}
	for _, name := range present {
		dt, shape, data, err := raw.Raw(name)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", name, err)
		}
		ts[name] = quant.Tensor{Name: name, DType: dt, Shape: shape, Data: data}
	}
	switch quant.Detect(module, ts) {
	case quant.FormatInt8:
		q, err := quant.ReadInt8(module, ts)
		return q, nil, err
	case quant.FormatNF4:
		q, err := quant.ReadNF4(module, ts)
		return nil, q, err
	}
	if len(ts) > 0 {
		return nil, nil, fmt.Errorf("%w: %s has quantization tensors in no format this package reads", ErrUnsupported, module)
	}
	return nil, nil, nil
}

// loadLinear reads a projection weight and returns its device tensors,
// storage, resident bytes, quantizing it when opts ask and the checkpoint
// stores it in float. A checkpoint stored quantized stays in its format.
func (m *Model) loadLinear(src Source, s tensorSpec, opts LoadOptions) ([]*tensors.Tensor, storage, int64, error) {
	module := s.name[:len(s.name)-len(".weight")]
	q8, q4, err := readStoredQuant(src, module)
	if err != nil {
		return nil, storage{}, 0, err
	}
	if q8 == nil && q4 == nil {
		data, err := fetch(src, s)
		if err != nil {
			return nil, storage{}, 0, err
		}
		switch opts.Quant {
		case QuantNone:
			t, err := m.upload(data, s.shape)
			return []*tensors.Tensor{t}, storage{}, int64(len(data)) * 4, err
		case QuantInt8:
			if q8, err = quant.QuantizeInt8(data, s.shape[0], s.shape[1]); err != nil {
				return nil, storage{}, 0, fmt.Errorf("quantize %s: %w", s.name, err)
			}
		case QuantNF4:
			if q4, err = quant.QuantizeNF4(data, s.shape, quant.NF4Options{}); err != nil {
				return nil, storage{}, 0, fmt.Errorf("quantize %s: %w", s.name, err)
			}
		default:
			return nil, storage{}, 0, fmt.Errorf("%w: LoadOptions.Quant %q (want \"\", %q or %q)", ErrUnsupported, opts.Quant, QuantInt8, QuantNF4)
		}
	}
	if q8 != nil {
		if q8.Rows != s.shape[0] || q8.Cols != s.shape[1] {
			return nil, storage{}, 0, fmt.Errorf("%w: %s has shape [%d %d], want %v", ErrShape, s.name, q8.Rows, q8.Cols, s.shape)
		}
		codes, err := uploadAny(m, q8.Q, q8.Rows, q8.Cols)
		if err != nil {
			return nil, storage{}, 0, err
		}
		scb, err := m.upload(slices.Clone(q8.SCB), []int{q8.Rows})
		return []*tensors.Tensor{codes, scb}, storage{format: quant.FormatInt8}, q8.Bytes(), err
	}
	if !slices.Equal(q4.Shape, s.shape) {
		return nil, storage{}, 0, fmt.Errorf("%w: %s has shape %v, want %v", ErrShape, s.name, q4.Shape, s.shape)
	}
	// Double-quantized absmax is expanded once here: 4 bytes per block of
	// 64 instead of about 1, and no second dequantization per call.
	absmax := slices.Clone(q4.BlockAbsmax())
	packed, err := uploadAny(m, q4.Packed, len(q4.Packed))
	if err != nil {
		return nil, storage{}, 0, err
	}
	am, err := m.upload(absmax, []int{len(absmax)})
	if err != nil {
		return nil, storage{}, 0, err
	}
	qm, err := m.upload(slices.Clone(q4.QuantMap[:]), []int{16})
	bytes := int64(len(q4.Packed)) + 4*int64(len(absmax)) + 64
	return []*tensors.Tensor{packed, am, qm}, storage{format: quant.FormatNF4, blockSize: q4.BlockSize}, bytes, err
}

// uploadAny is upload for integer element types.
func uploadAny[T int8 | uint8](m *Model, data []T, dims ...int) (t *tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	t = tensors.FromFlatDataAndDimensions(slices.Clone(data), dims...)
	if err := t.MaterializeOnDevice(m.backend, true, 0); err != nil {
		return nil, err
	}
	return t, nil
}

// hostQuant rebuilds the quantized form of weight i from the device.
func (m *Model) hostQuant(i int) (*quant.Int8, *quant.NF4, error) {
	s, st, ts := m.specs[i], m.storage[i], m.params[i]
	switch st.format {
	case quant.FormatInt8:
		codes, err := tensors.CopyFlatData[int8](ts[0])
		if err != nil {
			return nil, nil, err
		}
		scb, err := tensors.CopyFlatData[float32](ts[1])
		return &quant.Int8{Q: codes, SCB: scb, Rows: s.shape[0], Cols: s.shape[1]}, nil, err
	case quant.FormatNF4:
		packed, err := tensors.CopyFlatData[uint8](ts[0])
		if err != nil {
			return nil, nil, err
		}
		absmax, err := tensors.CopyFlatData[float32](ts[1])
		if err != nil {
			return nil, nil, err
		}
		qm, err := tensors.CopyFlatData[float32](ts[2])
		if err != nil {
			return nil, nil, err
		}
		q := &quant.NF4{Packed: packed, Absmax: absmax, Shape: slices.Clone(s.shape), BlockSize: st.blockSize, DType: "float32"}
		copy(q.QuantMap[:], qm)
		return nil, q, nil
	}
	return nil, nil, nil
}
