// Package gemm multiplies float32 matrices fast on a CPU: a packed,
// cache-blocked GEMM whose inner tile is a micro-kernel in Go assembly
// (AVX-512 or AVX2+FMA, chosen at run time) or in portable Go.
//
// # Why this shape
//
// gomlx's pure-Go matmul is scalar Go (2–12 GFLOP/s on the reference
// machine) and gonum's reaches ~16; a register-tiled kernel reaches ~200 on
// one core. The kernel only reaches that when its operands stream from
// cache, so the matrices are copied ("packed") into the order the kernel
// reads them: B in kc×NR panels that stay in L1, A in MR×kc panels of an
// mc×kc block that stays in L2 (the BLIS loop order). Packing also absorbs
// transposes and strides, so callers pass any strided view.
//
// Work is split over goroutines by rows of C when there are enough rows
// (each worker packs its own A blocks, with no barrier but the shared B
// block), otherwise by column panels.
package gemm

import (
	"runtime"
	"sync"
)

// Matrix is a read-only strided view of float32s: element (i, j) is
// Data[i*RowStride+j*ColStride].
type Matrix struct {
	Data                 []float32
	RowStride, ColStride int
}

// RowMajor is the view of a dense rows×cols row-major matrix.
func RowMajor(data []float32, cols int) Matrix {
	return Matrix{Data: data, RowStride: cols, ColStride: 1}
}

// T is the transposed view of m.
func (m Matrix) T() Matrix {
	return Matrix{Data: m.Data, RowStride: m.ColStride, ColStride: m.RowStride}
}

// Blocking: kc·NR floats of B stay in L1 (32 KiB at NR=32), mc·kc of A in
// L2, kc·nc of B in L3. mc is a multiple of every kernel's MR.
const (
	blockK = 256
	blockM = 192
	blockN = 2048
	// minParallelFlops: below this many multiply-adds one goroutine is
	// faster than waking another.
	minParallelFlops = 1 << 16
)

// Mul sets the m×n row-major c (row stride ldc) to a·b with the best
// kernel, using up to workers goroutines (≤ 0: GOMAXPROCS).
func Mul(c []float32, ldc int, a, b Matrix, m, n, k, workers int) {
	best.Mul(c, ldc, a, b, m, n, k, workers)
}

// Mul sets the m×n row-major c (row stride ldc) to a·b, where a is m×k and
// b is k×n, using this kernel and up to workers goroutines (≤ 0:
// GOMAXPROCS).
func (kn Kernel) Mul(c []float32, ldc int, a, b Matrix, m, n, k, workers int) {
	kn.mul(c, ldc, a, b, m, n, k, workers)
}

// operandB is B as the GEMM reads it: a float32 Matrix, or a Coded one
// decoded panel by panel.
type operandB interface {
	// pack copies rows [p0, p0+kb) × columns [j0, j0+cols) into one
	// NR-column panel of dst, zero-padding missing columns.
	pack(kn Kernel, dst []float32, p0, j0, kb, cols int)
	// columnMajor reports whether each column's k values are contiguous
	// (a transposed B, as in x·Wᵀ), which the dot-product path needs.
	columnMajor() bool
	// columns returns columns [j0, j0+cnt) over rows [0, k): column j
	// starts at base[(j-j0)*ld]. scratch (cnt·k floats) may hold them.
	columns(kn Kernel, j0, cnt, k int, scratch []float32) (base []float32, ld int)
}

func (b Matrix) pack(kn Kernel, dst []float32, p0, j0, kb, cols int) {
	kn.packB(dst, b, p0, j0, kb, cols)
}

func (b Matrix) columnMajor() bool { return b.RowStride == 1 }

func (b Matrix) columns(_ Kernel, j0, _, _ int, _ []float32) ([]float32, int) {
	return b.Data[j0*b.ColStride:], b.ColStride
}

func (kn Kernel) mul(c []float32, ldc int, a Matrix, b operandB, m, n, k, workers int) {
	if k == 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
	}
	if m == 0 || n == 0 || k == 0 {
		return
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if m*n*k < minParallelFlops {
		workers = 1
	}
	if kn.dot != nil && m <= maxDotRows && k >= 16 && a.ColStride == 1 && b.columnMajor() {
		kn.mulDot(c, ldc, a, b, m, n, k, workers)
		return
	}
	splitRows := workers > 1 && m >= 2*workers*kn.MR
	nb0 := min(blockN, roundUp(n, kn.NR))
	kb0 := min(blockK, k)
	bpack := getBuf(kb0 * nb0)
	defer putBuf(bpack)
	var apack *[]float32
	if !splitRows {
		apack = getBuf(kb0 * min(blockM, roundUp(m, kn.MR)))
		defer putBuf(apack)
	}
	for jc := 0; jc < n; jc += blockN {
		nb := min(blockN, n-jc)
		panelsB := ceilDiv(nb, kn.NR)
		for pc := 0; pc < k; pc += blockK {
			kb := min(blockK, k-pc)
			bp := (*bpack)[:panelsB*kb*kn.NR]
			kn.parallel(workers, panelsB, func(lo, hi int) {
				for jp := lo; jp < hi; jp++ {
					b.pack(kn, bp[jp*kb*kn.NR:(jp+1)*kb*kn.NR], pc, jc+jp*kn.NR, kb, min(kn.NR, nb-jp*kn.NR))
				}
			})
			blk := block{c: c, ldc: ldc, jc: jc, nb: nb, kb: kb, bp: bp, acc: min(pc, 1)}
			if splitRows {
				panelsA := ceilDiv(m, kn.MR)
				kn.parallel(workers, panelsA, func(lo, hi int) {
					ap := getBuf(kb * min(blockM, (hi-lo)*kn.MR))
					defer putBuf(ap)
					for ic := lo * kn.MR; ic < min(m, hi*kn.MR); ic += blockM {
						mb := min(blockM, min(m, hi*kn.MR)-ic)
						kn.packA((*ap)[:ceilDiv(mb, kn.MR)*kn.MR*kb], a, ic, pc, mb, kb)
						kn.macro(blk, *ap, ic, mb, 0, panelsB)
					}
				})
				continue
			}
			for ic := 0; ic < m; ic += blockM {
				mb := min(blockM, m-ic)
				kn.packA((*apack)[:ceilDiv(mb, kn.MR)*kn.MR*kb], a, ic, pc, mb, kb)
				kn.parallel(workers, panelsB, func(lo, hi int) {
					kn.macro(blk, *apack, ic, mb, lo, hi)
				})
			}
		}
	}
}

// maxDotRows: products with at most this many rows of A (a decode step's
// batch) against a transposed B (x·Wᵀ) run as dot products: packing B
// would cost as much as multiplying by it.
const maxDotRows = 8

// mulDot computes c = a·b as dot products of A's rows and B's columns,
// which are both contiguous, 4×4 at a time on the dot kernel, reading B
// once; the workers split B's columns.
func (kn Kernel) mulDot(c []float32, ldc int, a Matrix, b operandB, m, n, k, workers int) {
	chunks := k / 16
	tail := chunks*16 < k
	rows := roundUp(m, 4)
	if rows != m { // pad A with zero rows so that every row runs on the kernel
		pad := getBuf(rows * k)
		defer putBuf(pad)
		for i := range m {
			copy((*pad)[i*k:(i+1)*k], a.Data[i*a.RowStride:i*a.RowStride+k])
		}
		clear((*pad)[m*k:])
		a = Matrix{Data: *pad, RowStride: k, ColStride: 1}
	}
	dot := func(i int, br []float32, from int) float32 {
		ar := a.Data[i*a.RowStride:]
		var s float32
		for p := from; p < k; p++ {
			s += ar[p] * br[p]
		}
		return s
	}
	kn.parallel(workers, ceilDiv(n, 4), func(lo, hi int) {
		var acc [64]float32
		scratch := getBuf(4 * k)
		defer putBuf(scratch)
		for j0 := lo * 4; j0 < min(hi*4, n); j0 += 4 {
			cnt := min(4, n-j0)
			base, ld := b.columns(kn, j0, cnt, k, *scratch)
			if cnt < 4 { // the last columns
				for j := j0; j < n; j++ {
					for i := range m {
						c[i*ldc+j] = dot(i, base[(j-j0)*ld:], 0)
					}
				}
				break
			}
			for i0 := 0; i0 < rows; i0 += 4 {
				kn.dot(chunks, &a.Data[i0*a.RowStride], a.RowStride, &base[0], ld, &acc)
				for i := i0; i < min(i0+4, m); i++ {
					// acc[(i-i0)·16 + j·4 + lane]: row i times column j0+j.
					l := acc[(i-i0)*16 : (i-i0)*16+16 : (i-i0)*16+16]
					ci := c[i*ldc+j0 : i*ldc+j0+4 : i*ldc+j0+4]
					if tail {
						for j := range 4 {
							ci[j] = (l[j*4] + l[j*4+1]) + (l[j*4+2] + l[j*4+3]) + dot(i, base[j*ld:], chunks*16)
						}
						continue
					}
					// No call per element where K is a multiple of 16
					// (a model's K always is): the tile's sums alone.
					ci[0] = (l[0] + l[1]) + (l[2] + l[3])
					ci[1] = (l[4] + l[5]) + (l[6] + l[7])
					ci[2] = (l[8] + l[9]) + (l[10] + l[11])
					ci[3] = (l[12] + l[13]) + (l[14] + l[15])
				}
			}
		}
	})
}

// block is the packed B block being multiplied and where its product goes.
type block struct {
	c      []float32
	ldc    int
	jc, nb int // first column of C and columns in the block
	kb     int // depth of the block
	bp     []float32
	acc    int // 0: the first block along K, which overwrites C
}

// macro adds the packed A rows [ic, ic+mb) times B panels [jlo, jhi) of blk
// to C.
func (kn Kernel) macro(blk block, ap []float32, ic, mb, jlo, jhi int) {
	mr, nr, kb := kn.MR, kn.NR, blk.kb
	var tmp [32 * 32]float32 // an edge tile: MR·NR ≤ 12·32
	for jp := jlo; jp < jhi; jp++ {
		col := blk.jc + jp*nr
		cols := min(nr, blk.nb-jp*nr)
		bpan := &blk.bp[jp*kb*nr]
		for ip := 0; ip*mr < mb; ip++ {
			row := ic + ip*mr
			rows := min(mr, mb-ip*mr)
			apan := &ap[ip*kb*mr]
			if rows == mr && cols == nr {
				kn.fn(kb, apan, bpan, &blk.c[row*blk.ldc+col], blk.ldc, blk.acc)
				continue
			}
			t := tmp[:mr*nr]
			kn.fn(kb, apan, bpan, &t[0], nr, 0)
			for i := range rows {
				dst := blk.c[(row+i)*blk.ldc+col : (row+i)*blk.ldc+col+cols]
				src := t[i*nr : i*nr+cols]
				if blk.acc == 0 {
					copy(dst, src)
					continue
				}
				for j, v := range src {
					dst[j] += v
				}
			}
		}
	}
}

// packA copies rows [i0, i0+mb) × columns [p0, p0+kb) of a into MR-row
// panels, each stored step by step (MR floats per step), zero-padding the
// last panel's missing rows. Each loop order reads memory in its layout's
// order: a transposed A (RowStride 1, as in a weight gradient) is copied a
// step at a time.
func (kn Kernel) packA(dst []float32, a Matrix, i0, p0, mb, kb int) {
	mr := kn.MR
	for ip := 0; ip*mr < mb; ip++ {
		pan := dst[ip*mr*kb : (ip+1)*mr*kb]
		rows := min(mr, mb-ip*mr)
		base := (i0+ip*mr)*a.RowStride + p0*a.ColStride
		switch {
		case a.RowStride == 1:
			for p := range kb {
				o := base + p*a.ColStride
				step := pan[p*mr : p*mr+mr]
				copy(step, a.Data[o:o+rows])
				clear(step[rows:])
			}
		case a.ColStride == 1 && rows == mr:
			var src [32][]float32
			for i := range mr {
				o := base + i*a.RowStride
				src[i] = a.Data[o : o+kb]
			}
			for p := range kb {
				step := pan[p*mr : p*mr+mr]
				for i := range step {
					step[i] = src[i][p]
				}
			}
		default:
			for i := range rows {
				o := base + i*a.RowStride
				for p := range kb {
					pan[p*mr+i] = a.Data[o+p*a.ColStride]
				}
			}
			for i := rows; i < mr; i++ {
				for p := range kb {
					pan[p*mr+i] = 0
				}
			}
		}
	}
}

// packB copies rows [p0, p0+kb) × columns [j0, j0+cols) of b into one
// NR-column panel, row by row, zero-padding missing columns. A transposed
// B (ColStride ≠ 1, as in x·Wᵀ) is read a column at a time.
func (kn Kernel) packB(dst []float32, b Matrix, p0, j0, kb, cols int) {
	nr := kn.NR
	base := p0*b.RowStride + j0*b.ColStride
	if b.ColStride == 1 {
		for p := range kb {
			row := dst[p*nr : (p+1)*nr]
			o := base + p*b.RowStride
			copy(row, b.Data[o:o+cols])
			clear(row[cols:])
		}
		return
	}
	if b.RowStride == 1 {
		var src [32][]float32 // NR ≤ 32
		for j := range cols {
			o := base + j*b.ColStride
			src[j] = b.Data[o : o+kb]
		}
		for p := range kb {
			row := dst[p*nr : p*nr+cols]
			for j := range row {
				row[j] = src[j][p]
			}
		}
	} else {
		for p := range kb {
			for j := range cols {
				dst[p*nr+j] = b.Data[base+p*b.RowStride+j*b.ColStride]
			}
		}
	}
	if cols < nr {
		for p := range kb {
			clear(dst[p*nr+cols : (p+1)*nr])
		}
	}
}

// Splitter runs fn over [0, n) split into up to workers contiguous ranges,
// possibly concurrently, and returns when every range is done. Parallel is
// one; the cpu backend passes its worker pool's (see Kernel.WithSplitter).
type Splitter func(workers, n int, fn func(lo, hi int))

// WithSplitter returns the kernel that splits its work with s instead of
// Parallel's fresh goroutines (nil: Parallel).
func (kn Kernel) WithSplitter(s Splitter) Kernel {
	kn.split = s
	return kn
}

// parallel splits work with the kernel's Splitter.
func (kn Kernel) parallel(workers, n int, fn func(lo, hi int)) {
	if kn.split != nil {
		kn.split(workers, n, fn)
		return
	}
	Parallel(workers, n, fn)
}

// Parallel splits [0, n) into up to workers contiguous ranges and runs fn
// on each, one on the calling goroutine and the others on new goroutines.
func Parallel(workers, n int, fn func(lo, hi int)) {
	workers = min(workers, n)
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(w*n/workers, (w+1)*n/workers)
		}()
	}
	fn(0, n/workers)
	wg.Wait()
}

var bufPool sync.Pool

// getBuf returns a scratch slice of at least n floats (contents undefined).
func getBuf(n int) *[]float32 {
	if p, ok := bufPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

func putBuf(p *[]float32) { bufPool.Put(p) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }
