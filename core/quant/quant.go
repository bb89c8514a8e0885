// Package quant quantizes linear-layer weights for inference and QLoRA, in
// the formats bitsandbytes writes into Hugging Face checkpoints, and
// dequantizes them inside a gomlx graph.
//
// Two formats are supported:
//
//   - [Int8]: LLM.int8 per-output-channel absmax. Row o of a [out, in] weight
//     keeps SCB[o] = max|W[o,:]| and int8 codes q = round(W * 127/SCB[o]);
//     W ≈ q * SCB[o] / 127. Stored as `weight` (I8 [out, in]) and `SCB`
//     (F32 [out]).
//   - [NF4]: 4-bit NormalFloat in blocks of 64 over the row-major flattened
//     weight, one float32 absmax per block, two codes per byte (first value
//     in the high nibble), optionally with the absmax values themselves
//     quantized to 8 bits ("double quantization"). Stored as `weight` (U8),
//     `weight.absmax`, `weight.quant_map`, optionally
//     `weight.nested_absmax` and `weight.nested_quant_map`, and the JSON
//     quant state `weight.quant_state.bitsandbytes__nf4`.
//
// The arithmetic follows bitsandbytes' reference ("default" backend) code
// operation by operation in float32, so that the in-graph dequantization,
// the Go dequantization and bitsandbytes agree bit for bit (see
// [DequantizeNF4Graph]).
//
// # Why dequantize inside the graph
//
// The packed weights enter the graph in their storage dtype (uint8/int8) and
// are expanded to float32 there, next to the matmul that consumes them. The
// float32 copy then only lives as a graph intermediate during execution, and
// the same graph runs unchanged on the XLA backend, where the expansion is
// fused with its consumer. ToolBrain's "cpu" backend (core/backend/cpu)
// recognises the ops DequantizeInt8Graph's codes (ConvertDType) and
// DequantizeNF4Graph emit when a DotGeneral consumes them, and multiplies
// with the codes directly: no float32 copy exists at all. Its TestCodedDot
// builds graphs with this package's functions and fails if a change here
// stops them from being recognised.
package quant

import (
	"errors"
	"fmt"
	"math"
)

// Errors returned by this package. They are wrapped with context; test with
// [errors.Is].
var (
	// ErrShape reports lengths or shapes that do not agree: a weight of the
	// wrong length for its shape, a tensor whose byte size does not match
	// its dtype and shape, a negative dimension.
	ErrShape = errors.New("quant: shape mismatch")
	// ErrNonFinite reports a NaN or infinite weight, which has no
	// quantized representation.
	ErrNonFinite = errors.New("quant: non-finite weight")
	// ErrBlockSize reports an unusable block size.
	ErrBlockSize = errors.New("quant: invalid block size")
	// ErrMissingTensor reports a tensor that a format needs and the
	// checkpoint lacks.
	ErrMissingTensor = errors.New("quant: missing tensor")
	// ErrQuantState reports a bitsandbytes quant state that cannot be
	// parsed or contradicts the tensors it describes.
	ErrQuantState = errors.New("quant: invalid quant state")
	// ErrUnsupported reports a valid bitsandbytes layout that this package
	// does not implement (FP4, int8 weights in a tiled layout, ...).
	ErrUnsupported = errors.New("quant: unsupported format")
)

// Safetensors dtype names used by the tensors this package reads and writes.
const (
	DTypeU8  = "U8"
	DTypeI8  = "I8"
	DTypeF32 = "F32"
)

// Tensor is one named tensor as stored in a safetensors file: Data holds the
// little-endian bytes of the row-major values.
//
// # Notes
//
// core/safetensors was being written concurrently with this package and had
// no exported type yet; this mirror keeps the dtype as the safetensors string
// ("U8", "I8", "F32", ...) so converting to and from that package's Tensor is
// a field copy.
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// numElements returns the product of shape, or an error for a negative
// dimension or an overflowing product.
func numElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("dimension %d in %v: %w", d, shape, ErrShape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v too large: %w", shape, ErrShape)
		}
		n *= d
	}
	return n, nil
}

// checkFinite returns ErrNonFinite with the index of the first NaN or Inf.
func checkFinite(w []float32) error {
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("element %d is %v: %w", i, v, ErrNonFinite)
		}
	}
	return nil
}

func absf(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// dtypeSize is the byte size of the safetensors dtypes this package reads;
// 0 for unknown names.
func dtypeSize(dtype string) int {
	switch dtype {
	case "U8", "I8", "BOOL", "F8_E4M3", "F8_E5M2":
		return 1
	case "F16", "BF16", "I16", "U16":
		return 2
	case "F32", "I32", "U32":
		return 4
	case "F64", "I64", "U64":
		return 8
	}
	return 0
}

// checkTensor verifies t's dtype and that its byte size agrees with its
// shape, returning its element count.
func checkTensor(t Tensor, dtype string) (int, error) {
	if t.DType != dtype {
		return 0, fmt.Errorf("tensor %q has dtype %s, want %s: %w", t.Name, t.DType, dtype, ErrShape)
	}
	n, err := numElements(t.Shape)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if len(t.Data) != n*dtypeSize(dtype) {
		return 0, fmt.Errorf("tensor %q: %d bytes for %s%v, want %d: %w",
			t.Name, len(t.Data), dtype, t.Shape, n*dtypeSize(dtype), ErrShape)
	}
	return n, nil
}

func float32sToBytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		u := math.Float32bits(x)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

func bytesToFloat32s(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
	return v
}

// joinName joins a module prefix and a tensor suffix the way PyTorch state
// dicts do ("model.q_proj" + "weight" -> "model.q_proj.weight").
func joinName(module, suffix string) string {
	if module == "" {
		return suffix
	}
	return module + "." + suffix
}
