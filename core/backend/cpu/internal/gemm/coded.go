package gemm

// # Why B may be coded
//
// A quantised weight (int8 codes, or NF4 codes two to a byte with one
// scale per block) is decoded into float32 one packed panel at a time, in
// the buffer the GEMM packs B into anyway, so a product with it never
// holds the whole float32 weight: at most kc×NR floats per worker (the
// dot-product path: 4 columns of k floats). The decoded values are exactly
// the dequantised weight's, so the product is bit for bit the product
// with the dequantised weight.

// Decoder yields the float32 values of a matrix held in another form,
// indexed by their row-major position.
type Decoder interface {
	// Decode sets dst[i] to element off+i for i < len(dst), with kn's
	// CPU path: every path gives the same values.
	Decode(kn Kernel, dst []float32, off int)
}

// Coded is a strided view of a coded matrix: element (i, j) is element
// Offset + i·RowStride + j·ColStride of Src.
type Coded struct {
	Src                          Decoder
	Offset, RowStride, ColStride int
}

// MulCoded sets the m×n row-major c (row stride ldc) to a·b for a coded b,
// as Mul does for a float32 one.
func (kn Kernel) MulCoded(c []float32, ldc int, a Matrix, b Coded, m, n, k, workers int) {
	kn.mul(c, ldc, a, b, m, n, k, workers)
}

func (b Coded) columnMajor() bool { return b.RowStride == 1 }

func (b Coded) columns(kn Kernel, j0, cnt, k int, scratch []float32) ([]float32, int) {
	for j := range cnt {
		b.Src.Decode(kn, scratch[j*k:(j+1)*k], b.Offset+(j0+j)*b.ColStride)
	}
	return scratch, k
}

func (b Coded) pack(kn Kernel, dst []float32, p0, j0, kb, cols int) {
	nr := kn.NR
	base := b.Offset + p0*b.RowStride + j0*b.ColStride
	switch {
	case b.ColStride == 1: // rows of the panel are runs of Src
		for p := range kb {
			row := dst[p*nr : (p+1)*nr]
			b.Src.Decode(kn, row[:cols], base+p*b.RowStride)
			clear(row[cols:])
		}
	case b.RowStride == 1: // columns are runs: decode them, then transpose
		tmp := getBuf(cols * kb)
		defer putBuf(tmp)
		for j := range cols {
			b.Src.Decode(kn, (*tmp)[j*kb:(j+1)*kb], base+j*b.ColStride)
		}
		kn.packB(dst, Matrix{Data: *tmp, RowStride: 1, ColStride: kb}, 0, 0, kb, cols)
	default:
		for p := range kb {
			row := dst[p*nr : (p+1)*nr]
			for j := range cols {
				b.Src.Decode(kn, row[j:j+1], base+p*b.RowStride+j*b.ColStride)
			}
			clear(row[cols:])
		}
	}
}

// Int8Codes decodes int8 codes as float32(q): the row scales of an int8
// weight are applied to the product, not to the weight.
type Int8Codes []int8

// Decode implements Decoder.
func (q Int8Codes) Decode(kn Kernel, dst []float32, off int) {
	src := q[off : off+len(dst)]
	if kn.int8 != nil && len(dst) > 0 {
		done := kn.int8(&dst[0], &src[0], len(dst))
		dst, src = dst[done:], src[done:]
	}
	for i, v := range src {
		dst[i] = float32(v)
	}
}

// NF4Codes decodes 4-bit codes packed two to a byte, the first in the high
// nibble: value i is Pairs[2·b + i%2]·Absmax[i/BlockSize] where b is byte
// i/2 (Pairs maps every byte to its two codes' values, as the graph's
// lookup table does).
type NF4Codes struct {
	Packed    []uint8
	Pairs     []float32 // 512: byte b → (value of b>>4, value of b&15)
	Absmax    []float32
	BlockSize int
	// table is the 16-entry code map when Pairs is the pair table of one
	// (always so for a table built from a map); ok records that.
	table [16]float32
	ok    bool
}

// NewNF4Codes returns the decoder of packed codes with pair table pairs
// (512 floats), block scales absmax and block size blockSize.
func NewNF4Codes(packed []uint8, pairs, absmax []float32, blockSize int) *NF4Codes {
	d := &NF4Codes{Packed: packed, Pairs: pairs, Absmax: absmax, BlockSize: blockSize}
	for c := range 16 {
		d.table[c] = pairs[2*c+1]
	}
	d.ok = true
	for b := range 256 {
		// Bit comparison: a NaN entry must match itself too.
		if !same(pairs[2*b], d.table[b>>4]) || !same(pairs[2*b+1], d.table[b&15]) {
			d.ok = false
			break
		}
	}
	return d
}

func same(x, y float32) bool { return x == y || x != x && y != y }

// Decode implements Decoder.
func (d *NF4Codes) Decode(kn Kernel, dst []float32, off int) {
	bs := d.BlockSize
	vector := d.ok && kn.nf4 != nil && bs%32 == 0
	for len(dst) > 0 {
		blk := off / bs
		if vector && off%bs == 0 && len(dst) >= bs {
			// Whole blocks at once on the CPU path's vector code.
			nb := len(dst) / bs
			kn.nf4(&dst[0], &d.Packed[off/2], &d.Absmax[blk], nb, bs/32, &d.table)
			dst, off = dst[nb*bs:], off+nb*bs
			continue
		}
		n := min(len(dst), (blk+1)*bs-off) // to the end of the block
		part := dst[:n]
		if vector {
			// Part of a block (a panel row of dY·W is 16–32 values):
			// its runs of 32 aligned values on the vector code, which
			// decodes 32 at a time with one scale, the rest in Go.
			head := min(n, (32-off%32)%32)
			mid := (n - head) / 32 * 32
			if mid > 0 {
				kn.nf4(&part[head], &d.Packed[(off+head)/2], &d.Absmax[blk], 1, mid/32, &d.table)
				d.decodeBlock(part[head+mid:], off+head+mid, d.Absmax[blk])
				part = part[:head]
			}
		}
		d.decodeBlock(part, off, d.Absmax[blk])
		dst, off = dst[n:], off+n
	}
}

// decodeBlock decodes len(dst) values from off, all scaled by am.
func (d *NF4Codes) decodeBlock(dst []float32, off int, am float32) {
	if len(dst) == 0 {
		return
	}
	if !d.ok {
		for i := range dst {
			b := d.Packed[(off+i)/2]
			dst[i] = d.Pairs[2*int(b)+(off+i)%2] * am
		}
		return
	}
	// One multiplication per table entry gives the same float32 as one
	// per value: code·am either way.
	var t [16]float32
	for c, v := range d.table {
		t[c] = v * am
	}
	i := 0
	if off%2 == 1 {
		dst[0] = t[d.Packed[off/2]&15]
		i = 1
	}
	pk := d.Packed[(off+i)/2:]
	for ; i+1 < len(dst); i += 2 {
		b := pk[0]
		pk = pk[1:]
		dst[i], dst[i+1] = t[b>>4], t[b&15]
	}
	if i < len(dst) {
		dst[i] = t[pk[0]>>4]
	}
}
