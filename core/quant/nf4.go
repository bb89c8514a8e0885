package quant

import (
	"fmt"
	"math"
	"sort"
)

// NF4Code is the 4-bit NormalFloat code table of QLoRA (Dettmers et al.
// 2023) exactly as bitsandbytes defines it (functional.get_4bit_type("nf4")):
// code i dequantizes to NF4Code[i] * absmax.
var NF4Code = [16]float32{
	-1.0,
	-0.6961928009986877,
	-0.5250730514526367,
	-0.39491748809814453,
	-0.28444138169288635,
	-0.18477343022823334,
	-0.09105003625154495,
	0.0,
	0.07958029955625534,
	0.16093020141124725,
	0.24611230194568634,
	0.33791524171829224,
	0.44070982933044434,
	0.5626170039176941,
	0.7229568362236023,
	1.0,
}

// nf4Zero is the index of 0.0 in NF4Code.
const nf4Zero = 7

// Default block sizes, as bitsandbytes and Hugging Face use them.
const (
	DefaultNF4BlockSize    = 64
	DefaultNestedBlockSize = 256
)

// DynamicMap returns bitsandbytes' signed dynamic 8-bit map
// (functional.create_dynamic_map(signed=True)), the code table for the
// double-quantized absmax: 127 negative and 127 positive values over seven
// decades, 0 and 1, sorted ascending.
//
// The values are computed as torch does in float32 (linspace, midpoints,
// decade scaling), reproducing torch's CPU linspace kernel with 8-lane
// vectors (the AVX2 build) bit for bit. A build with another vector width
// rounds some entries one ulp differently; this does not matter for reading,
// because checkpoints carry the map they were quantized with
// (weight.nested_quant_map) and readers use that.
func DynamicMap() []float32 {
	const maxExpBits = 7
	data := make([]float32, 0, 256)
	for i := range maxExpBits {
		items := 1<<i + 1
		b := torchLinspace32(0.1, 1, items)
		scale := float32(math.Pow10(i - (maxExpBits - 1)))
		for j := 0; j+1 < items; j++ {
			mean := float32(b[j]+b[j+1]) / 2
			v := float32(scale * mean)
			data = append(data, v, -v)
		}
	}
	data = append(data, 0, 1)
	sort.Slice(data, func(a, b int) bool { return data[a] < data[b] })
	return data
}

// torchLinspace32 is torch.linspace(start, end, steps, dtype=float32) as the
// CPU kernel computes it: the first half counts up from start, the second
// half down from end (so both ends are exact); the vectorised loop takes two
// 8-lane vectors at a time, each lane base + k*step from a base computed
// with a fused multiply-add, and the scalar tail is fused too.
func torchLinspace32(start, end float32, steps int) []float32 {
	out := make([]float32, steps)
	if steps == 1 {
		out[0] = start
		return out
	}
	step := (end - start) / float32(steps-1)
	half := steps / 2
	fma := func(a, b, c float32) float32 {
		// Exact in float64 for these magnitudes, so rounding once to
		// float32 is a true float32 FMA.
		return float32(float64(a)*float64(b) + float64(c))
	}
	at := func(i int) float32 {
		if i < half {
			return fma(step, float32(i), start)
		}
		return fma(-step, float32(steps-i-1), end)
	}
	const lanes = 8
	i := 0
	for ; i+2*lanes <= steps; i += 2 * lanes {
		for v := i; v < i+2*lanes; v += lanes {
			base := at(v)
			for k := range lanes {
				out[v+k] = base + float32(step*float32(k))
			}
		}
	}
	for ; i < steps; i++ {
		out[i] = at(i)
	}
	return out
}

// NF4Options configure [QuantizeNF4]. The zero value means bitsandbytes'
// defaults: blocks of 64, no double quantization, original dtype float32.
type NF4Options struct {
	// BlockSize is the number of consecutive values sharing one absmax;
	// a power of two from 32 to 4096. 0 means 64.
	BlockSize int
	// DoubleQuant also quantizes the absmax values (bitsandbytes'
	// compress_statistics / bnb_4bit_use_double_quant): saves about
	// 0.37 bits per weight.
	DoubleQuant bool
	// DType names the dtype the weight had and dequantizes to, as the quant
	// state records it ("float32", "bfloat16", "float16"). "" means
	// "float32". Quantization itself always reads float32 values.
	DType string
}

// NestedAbsmax holds double-quantized block absmax values:
// absmax[b] = float32(Code[Q[b]] * Absmax[b/BlockSize]) + Offset.
type NestedAbsmax struct {
	Q         []uint8
	Absmax    []float32 // one per BlockSize entries of Q
	Code      []float32 // 256 values, usually DynamicMap()
	Offset    float32   // the mean of the original absmax values
	BlockSize int
	DType     string // dtype of the original absmax, "float32"
}

// NF4 is a weight quantized to 4-bit NormalFloat in the bitsandbytes layout.
//
// The weight is flattened row-major; value i belongs to block
// i/BlockSize and has code c_i, stored in Packed[i/2] (high nibble for even
// i, low nibble for odd i; with an odd count the last low nibble holds the
// code of 0.0, 7, as bitsandbytes pads). It
// dequantizes to QuantMap[c_i] * absmax[i/BlockSize].
type NF4 struct {
	Packed []uint8
	// Absmax holds one float32 per block; nil when Nested is set.
	Absmax []float32
	// Nested holds the double-quantized absmax; nil without double quant.
	Nested *NestedAbsmax
	// QuantMap is the 4-bit code table, NF4Code unless read otherwise.
	QuantMap  [16]float32
	Shape     []int
	BlockSize int
	DType     string // dtype the quant state records, e.g. "float32"
}

// QuantizeNF4 quantizes w, the row-major values of a tensor of the given
// shape, to NF4 as bitsandbytes does: per block absmax = max|x|, each value
// scaled by float32(1/absmax), clamped to [-1, 1] and mapped to the nearest
// NF4 code (the lower code on an exact tie, like torch.argmin). An all-zero
// block gets absmax 0 and the code of 0.0.
//
// It returns ErrShape when len(w) does not match shape, ErrBlockSize for an
// unsupported block size and ErrNonFinite for NaN or Inf weights.
func QuantizeNF4(w []float32, shape []int, opts NF4Options) (*NF4, error) {
	bs := opts.BlockSize
	if bs == 0 {
		bs = DefaultNF4BlockSize
	}
	if bs < 32 || bs > 4096 || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("quantize nf4: block size %d (want a power of two in [32, 4096]): %w", bs, ErrBlockSize)
	}
	n, err := numElements(shape)
	if err != nil {
		return nil, fmt.Errorf("quantize nf4: %w", err)
	}
	if len(w) != n {
		return nil, fmt.Errorf("quantize nf4 %v: %d values: %w", shape, len(w), ErrShape)
	}
	if err := checkFinite(w); err != nil {
		return nil, fmt.Errorf("quantize nf4: %w", err)
	}
	dtype := opts.DType
	if dtype == "" {
		dtype = "float32"
	}
	q := &NF4{
		Packed:    make([]uint8, (n+1)/2),
		QuantMap:  NF4Code,
		Shape:     append([]int(nil), shape...),
		BlockSize: bs,
		DType:     dtype,
	}
	absmax := blockAbsmax(w, bs)
	for b, am := range absmax {
		lo, hi := b*bs, min((b+1)*bs, n)
		if am == 0 {
			for i := lo; i < hi; i++ {
				setNibble(q.Packed, i, nf4Zero)
			}
			continue
		}
		inv := 1 / am
		for i := lo; i < hi; i++ {
			s := max(-1, min(1, float32(w[i]*inv)))
			setNibble(q.Packed, i, nearestNF4(s))
		}
	}
	if n%2 == 1 {
		// bitsandbytes pads an odd count with one 0.0, which quantizes to
		// the code of 0.0.
		setNibble(q.Packed, n, nf4Zero)
	}
	if opts.DoubleQuant {
		q.Nested = quantizeNested(absmax)
	} else {
		q.Absmax = absmax
	}
	return q, nil
}

// blockAbsmax returns max|w| over consecutive blocks of bs (the last one
// possibly partial).
func blockAbsmax(w []float32, bs int) []float32 {
	out := make([]float32, (len(w)+bs-1)/bs)
	for b := range out {
		var m float32
		for _, v := range w[b*bs : min((b+1)*bs, len(w))] {
			m = max(m, absf(v))
		}
		out[b] = m
	}
	return out
}

func setNibble(p []uint8, i int, c uint8) {
	if i%2 == 0 {
		p[i/2] |= c << 4
	} else {
		p[i/2] |= c
	}
}

// nf4Mid are the midpoints between consecutive NF4 codes, padded with +Inf
// to 16; nearestNF4 uses them to find the candidate code in four steps.
var nf4Mid = func() (m [16]float32) {
	for i := range 15 {
		m[i] = float32((float64(NF4Code[i]) + float64(NF4Code[i+1])) / 2)
	}
	m[15] = float32(math.Inf(1))
	return m
}()

// nearestNF4 returns the index of the NF4 code nearest to s in float32
// distance, the lower index on a tie: the result of torch.argmin over
// |s - code| that bitsandbytes computes.
func nearestNF4(s float32) uint8 {
	// Binary search over the midpoints gives the nearest code up to
	// rounding; checking the neighbours settles ties the argmin way.
	i := 0
	for step := 8; step > 0; step >>= 1 {
		if s > nf4Mid[i+step-1] {
			i += step
		}
	}
	for i > 0 && absf(s-NF4Code[i-1]) <= absf(s-NF4Code[i]) {
		i--
	}
	for i < 15 && absf(s-NF4Code[i+1]) < absf(s-NF4Code[i]) {
		i++
	}
	return uint8(i)
}

// nearestCode returns argmin_k |s - code[k]| (lowest k on ties) for an
// ascending code table.
func nearestCode(code []float32, s float32) uint8 {
	lo, hi := 0, len(code) // first k with code[k] >= s
	for lo < hi {
		mid := (lo + hi) / 2
		if code[mid] < s {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	i := min(lo, len(code)-1)
	for i > 0 && absf(s-code[i-1]) <= absf(s-code[i]) {
		i--
	}
	for i+1 < len(code) && absf(s-code[i+1]) < absf(s-code[i]) {
		i++
	}
	return uint8(i)
}

// quantizeNested is bitsandbytes' double quantization: subtract the mean,
// then quantize blockwise (256) with the dynamic map.
//
// The mean is accumulated in float64 and rounded once. torch sums float32
// with vectorised partial sums, so bitsandbytes' offset can differ in the
// last bit; the offset is stored, so both dequantize consistently.
func quantizeNested(absmax []float32) *NestedAbsmax {
	var sum float64
	for _, v := range absmax {
		sum += float64(v)
	}
	var offset float32
	if len(absmax) > 0 {
		offset = float32(sum / float64(len(absmax)))
	}
	return quantizeNestedOffset(absmax, offset)
}

// quantizeNestedOffset double-quantizes absmax around the given offset.
func quantizeNestedOffset(absmax []float32, offset float32) *NestedAbsmax {
	centered := make([]float32, len(absmax))
	for i, v := range absmax {
		centered[i] = v - offset
	}
	code := DynamicMap()
	zero := nearestCode(code, 0)
	bs := DefaultNestedBlockSize
	nest := &NestedAbsmax{
		Q:         make([]uint8, len(absmax)),
		Absmax:    blockAbsmax(centered, bs),
		Code:      code,
		Offset:    offset,
		BlockSize: bs,
		DType:     "float32",
	}
	for b, am := range nest.Absmax {
		lo, hi := b*bs, min((b+1)*bs, len(centered))
		if am == 0 {
			for i := lo; i < hi; i++ {
				nest.Q[i] = zero
			}
			continue
		}
		inv := 1 / am
		for i := lo; i < hi; i++ {
			nest.Q[i] = nearestCode(code, max(-1, min(1, float32(centered[i]*inv))))
		}
	}
	return nest
}

// Values returns the dequantized absmax, one per block.
func (a *NestedAbsmax) Values() []float32 {
	out := make([]float32, len(a.Q))
	for i, c := range a.Q {
		// float32() stops the compiler from fusing into an FMA: the
		// product is rounded first, as in bitsandbytes and in the graph.
		out[i] = float32(a.Code[c]*a.Absmax[i/a.BlockSize]) + a.Offset
	}
	return out
}

// BlockAbsmax returns the float32 absmax of every block, dequantizing the
// nested absmax when double quantization is used.
func (q *NF4) BlockAbsmax() []float32 {
	if q.Nested != nil {
		return q.Nested.Values()
	}
	return q.Absmax
}

// NumElements returns the number of weight values.
func (q *NF4) NumElements() int {
	n := 1
	for _, d := range q.Shape {
		n *= d
	}
	return n
}

// Codes returns the unpacked 4-bit code of every value.
func (q *NF4) Codes() []uint8 {
	n := q.NumElements()
	out := make([]uint8, n)
	for i := range out {
		b := q.Packed[i/2]
		if i%2 == 0 {
			out[i] = b >> 4
		} else {
			out[i] = b & 0xF
		}
	}
	return out
}

// Dequantize returns the float32 weight, row-major in Shape.
func (q *NF4) Dequantize() []float32 {
	n := q.NumElements()
	absmax := q.BlockAbsmax()
	out := make([]float32, n)
	for i := 0; i+1 < n; i += 2 {
		b := q.Packed[i/2]
		out[i] = q.QuantMap[b>>4] * absmax[i/q.BlockSize]
		out[i+1] = q.QuantMap[b&0xF] * absmax[(i+1)/q.BlockSize]
	}
	if n%2 == 1 {
		out[n-1] = q.QuantMap[q.Packed[n/2]>>4] * absmax[(n-1)/q.BlockSize]
	}
	return out
}

// Bytes returns the storage size: the packed codes, the block absmax (4
// bytes each, or 1 byte each plus the nested absmax, map and offset with
// double quantization) and the 16-entry code table.
func (q *NF4) Bytes() int64 {
	b := int64(len(q.Packed)) + 4*16
	if q.Nested != nil {
		a := q.Nested
		return b + int64(len(a.Q)) + 4*int64(len(a.Absmax)) + 4*int64(len(a.Code)) + 4
	}
	return b + 4*int64(len(q.Absmax))
}
