package quant

import (
	"fmt"
	"math"
)

// int8Recip is bitsandbytes' 1/127 (int8_vectorwise_dequant multiplies by
// this float32 constant rather than dividing), kept so dequantized values
// match bitsandbytes bit for bit.
const int8Recip = float32(7.874015718698502e-3)

// Int8 is a [Rows, Cols] weight quantized per output channel (row) in the
// bitsandbytes LLM.int8 layout.
//
// Element (o, i) dequantizes to float32(Q[o*Cols+i]) * SCB[o] * (1/127):
// the quantization step of row o is SCB[o]/127 and every element is within
// half a step of its original value.
type Int8 struct {
	// Q holds the codes, row-major [Rows, Cols], in [-127, 127].
	Q []int8
	// SCB holds max|W[o,:]| per row (bitsandbytes' "SCB" tensor).
	SCB        []float32
	Rows, Cols int
}

// QuantizeInt8 quantizes the row-major [rows, cols] weight w per row:
// SCB[o] = max|w[o,:]|, q = round-half-even(w * (127/SCB[o])), computed in
// float32 as bitsandbytes does. An all-zero row gets SCB 0 and zero codes.
//
// It returns ErrShape when len(w) != rows*cols and ErrNonFinite for NaN or
// Inf weights.
func QuantizeInt8(w []float32, rows, cols int) (*Int8, error) {
	if rows < 0 || cols < 0 {
		return nil, fmt.Errorf("quantize int8 [%d, %d]: %w", rows, cols, ErrShape)
	}
	n, err := numElements([]int{rows, cols})
	if err != nil {
		return nil, fmt.Errorf("quantize int8: %w", err)
	}
	if len(w) != n {
		return nil, fmt.Errorf("quantize int8 [%d, %d]: %d values: %w", rows, cols, len(w), ErrShape)
	}
	if err := checkFinite(w); err != nil {
		return nil, fmt.Errorf("quantize int8: %w", err)
	}
	q := &Int8{Q: make([]int8, n), SCB: make([]float32, rows), Rows: rows, Cols: cols}
	for o := range rows {
		row := w[o*cols : (o+1)*cols]
		var absmax float32
		for _, v := range row {
			absmax = max(absmax, absf(v))
		}
		q.SCB[o] = absmax
		if absmax == 0 {
			continue // codes stay 0; 127/0 would turn them into NaN.
		}
		mul := 127 / absmax
		dst := q.Q[o*cols : (o+1)*cols]
		for i, v := range row {
			// float32() keeps the product rounded to float32 before
			// rounding to an integer, as in torch.
			r := math.RoundToEven(float64(float32(v * mul)))
			dst[i] = int8(max(-127, min(127, r)))
		}
	}
	return q, nil
}

// Dequantize returns the float32 [Rows, Cols] weight, row-major.
func (q *Int8) Dequantize() []float32 {
	out := make([]float32, len(q.Q))
	for o := range q.Rows {
		s := q.SCB[o]
		for i := o * q.Cols; i < (o+1)*q.Cols; i++ {
			// Two separately rounded products, the order bitsandbytes uses.
			out[i] = float32(float32(q.Q[i])*s) * int8Recip
		}
	}
	return out
}

// Bytes returns the storage size: one byte per code and four per row scale.
func (q *Int8) Bytes() int64 {
	return int64(len(q.Q)) + 4*int64(len(q.SCB))
}

// Tensors returns the checkpoint tensors of the weight of module (for
// example "model.layers.0.mlp.down_proj"), named as bitsandbytes'
// Linear8bitLt saves them: module.weight (I8 [Rows, Cols]), module.SCB
// (F32 [Rows]) and module.weight_format (U8 scalar 0, row-major).
func (q *Int8) Tensors(module string) []Tensor {
	data := make([]byte, len(q.Q))
	for i, v := range q.Q {
		data[i] = byte(v)
	}
	return []Tensor{
		{Name: joinName(module, "weight"), DType: DTypeI8, Shape: []int{q.Rows, q.Cols}, Data: data},
		{Name: joinName(module, "SCB"), DType: DTypeF32, Shape: []int{q.Rows}, Data: float32sToBytes(q.SCB)},
		{Name: joinName(module, "weight_format"), DType: DTypeU8, Shape: []int{}, Data: []byte{0}},
	}
}

// ReadInt8 reads the int8 weight of module from tensors, keyed by full
// tensor name. module.weight_format may be absent (older bitsandbytes); when
// present it must say row-major (0).
func ReadInt8(module string, tensors map[string]Tensor) (*Int8, error) {
	wName, sName := joinName(module, "weight"), joinName(module, "SCB")
	wt, ok := tensors[wName]
	if !ok {
		return nil, fmt.Errorf("read int8 %s: %w", wName, ErrMissingTensor)
	}
	st, ok := tensors[sName]
	if !ok {
		return nil, fmt.Errorf("read int8 %s: %w", sName, ErrMissingTensor)
	}
	if len(wt.Shape) != 2 {
		return nil, fmt.Errorf("read int8 %s: shape %v is not 2-D: %w", wName, wt.Shape, ErrShape)
	}
	if _, err := checkTensor(wt, DTypeI8); err != nil {
		return nil, fmt.Errorf("read int8: %w", err)
	}
	if _, err := checkTensor(st, DTypeF32); err != nil {
		return nil, fmt.Errorf("read int8: %w", err)
	}
	rows, cols := wt.Shape[0], wt.Shape[1]
	if len(st.Shape) != 1 || st.Shape[0] != rows {
		return nil, fmt.Errorf("read int8 %s: shape %v, want [%d]: %w", sName, st.Shape, rows, ErrShape)
	}
	if ft, ok := tensors[joinName(module, "weight_format")]; ok {
		if len(ft.Data) == 0 || ft.Data[0] != 0 {
			return nil, fmt.Errorf("read int8 %s: weight_format %v is not row-major: %w", ft.Name, ft.Data, ErrUnsupported)
		}
	}
	q := &Int8{Q: make([]int8, len(wt.Data)), SCB: bytesToFloat32s(st.Data), Rows: rows, Cols: cols}
	for i, b := range wt.Data {
		q.Q[i] = int8(b)
	}
	for o, s := range q.SCB {
		if !(s >= 0) || math.IsInf(float64(s), 0) {
			return nil, fmt.Errorf("read int8 %s: row %d scale %v: %w", sName, o, s, ErrNonFinite)
		}
	}
	return q, nil
}
