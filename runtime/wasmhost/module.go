package wasmhost

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/toolbrain/toolbrain/runtime/limits"
)

// wasmMagic starts every WebAssembly binary: "\0asm" and version 1.
var wasmMagic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// Limits of the module scan (see [scanModule]).
const (
	// MaxModuleBytes caps a WebAssembly module read from a file. The
	// largest real plugins (an interpreter for a whole language) are tens
	// of MiB; the decoder's memory grows with the module, so the module's
	// size is what bounds it.
	MaxModuleBytes = 128 << 20
	// maxFunctionLocals caps one function's locals, as browsers' engines
	// do (50,000 in V8 and SpiderMonkey): wazero allocates them all before
	// it reads further, so a 20-byte module could ask for 16 GiB.
	maxFunctionLocals = 50_000
	// maxTableElements caps a table's initial size, as V8 does (10
	// million): wazero allows 2^27 elements, a gigabyte of references an
	// instance would hold outside its memory limit.
	maxTableElements = 10_000_000
)

// Section ids of the binary format that the scan reads.
const (
	secCustom, secType, secImport, secFunction, secTable, secMemory = 0, 1, 2, 3, 4, 5
	secGlobal, secExport, secStart, secElement, secCode, secData    = 6, 7, 8, 9, 10, 11
	secDataCount, secTag                                            = 12, 13
)

// scanModule reads the structure of a WebAssembly binary before wazero
// decodes it, and returns the initial size in pages of every memory the
// module defines (exported or not: wazero shows only exported ones, and
// instantiating a hidden memory above the allocator's limit panicked inside
// it).
//
// # Why
//
// wazero's decoder allocates each vector at the length the binary declares
// before it reads the entries: a 16-byte module declaring 2^28 imports
// made it allocate 28 GiB and killed the process. The scan enforces one
// rule wherever the format has a length or a count: it is at most the
// bytes left in its section (every entry takes at least one), and the
// entries it announces are really there. Allocations then stay
// proportional to the module's size, which [MaxModuleBytes] bounds.
func scanModule(wasm []byte) ([]uint64, error) {
	if len(wasm) < len(wasmMagic) || string(wasm[:4]) != string(wasmMagic[:4]) {
		return nil, errors.New("no WebAssembly magic")
	}
	r := &leb{b: wasm, off: len(wasmMagic)}
	var mins []uint64
	for r.off < len(r.b) {
		at := r.off
		id := r.byte()
		size := r.uint()
		if r.err != nil || size > uint64(len(r.b)-r.off) {
			return nil, fmt.Errorf("section %d at byte %d: size %d past the end of the module", id, at, size)
		}
		s := &leb{b: r.b[:r.off+int(size)], off: r.off}
		r.off += int(size)
		switch id {
		case secCustom:
			if name := s.name(); name == "name" && s.err == nil {
				s.nameSection()
			}
		case secType:
			for range s.count() {
				if s.byte() != 0x60 && s.err == nil {
					s.fail("function type without 0x60")
				}
				s.skip(s.count()) // parameters
				s.skip(s.count()) // results
			}
		case secImport:
			for range s.count() {
				s.name()
				s.name()
				switch kind := s.byte(); kind {
				case 0: // function
					s.uint()
				case 1: // table
					s.table()
				case 2: // memory
					mins = append(mins, s.limits())
				case 3: // global
					s.refType()
					s.byte()
				case 4: // tag
					s.byte()
					s.uint()
				default:
					s.fail(fmt.Sprintf("import kind %d", kind))
				}
			}
		case secFunction, secGlobal, secTag:
			s.count() // entries of at least one byte each
		case secTable:
			for range s.count() {
				s.table()
			}
		case secMemory:
			for range s.count() {
				mins = append(mins, s.limits())
			}
		case secExport:
			for range s.count() {
				s.name()
				s.byte()
				s.uint()
			}
		case secElement:
			for range s.count() {
				s.elementSegment()
			}
		case secCode:
			for range s.count() {
				s.functionBody()
			}
		case secData:
			for range s.count() {
				switch flags := s.uint(); flags {
				case 0:
					s.constExpr()
				case 1:
				case 2:
					s.uint()
					s.constExpr()
				default:
					s.fail(fmt.Sprintf("data segment flags %d", flags))
				}
				s.skip(s.count())
			}
		}
		if s.err != nil {
			return nil, fmt.Errorf("section %d at byte %d: %w", id, at, s.err)
		}
	}
	return mins, nil
}

// leb reads a binary module: bytes, unsigned LEB128 numbers and the
// format's vectors, recording the first error; after one, every read
// returns zero. b ends where the current section ends.
type leb struct {
	b   []byte
	off int
	err error
}

func (r *leb) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
}

func (r *leb) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *leb) uint() uint64 {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 number longer than 64 bits")
	return 0
}

// count reads a vector's length and checks that many entries of at least
// one byte each can follow.
func (r *leb) count() uint64 {
	n := r.uint()
	if left := uint64(len(r.b) - r.off); r.err == nil && n > left {
		r.fail(fmt.Sprintf("declares %d entries with %d bytes left", n, left))
		return 0
	}
	return n
}

func (r *leb) skip(n uint64) {
	if r.err == nil {
		r.off += int(n) // count checked n against the bytes left
	}
}

func (r *leb) name() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

// limits reads a table's or memory's limits and returns the minimum.
func (r *leb) limits() uint64 {
	flags := r.byte()
	min := r.uint()
	if flags&1 != 0 {
		r.uint()
	}
	return min
}

// table reads a table type (with its initial value, for the form that has
// one) and checks its initial size against maxTableElements.
func (r *leb) table() {
	withInit := r.err == nil && r.off < len(r.b) && r.b[r.off] == 0x40
	if withInit {
		r.byte()
		r.byte() // reserved 0x00
	}
	r.refType()
	if min := r.limits(); r.err == nil && min > maxTableElements {
		r.fail(fmt.Sprintf("a table of %d elements at start, more than %d", min, maxTableElements))
	}
	if withInit {
		r.constExpr()
	}
}

// refType reads a value or reference type: one byte, or (ref null? ht)
// with its heap type.
func (r *leb) refType() {
	if c := r.byte(); c == 0x63 || c == 0x64 {
		r.uint()
	}
}

// constExpr skips a constant expression up to its end opcode.
func (r *leb) constExpr() {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0b: // end
			return
		case 0x41, 0x42, 0x23, 0xd2: // i32.const, i64.const, global.get, ref.func
			r.uint()
		case 0x43: // f32.const
			r.skipBytes(4)
		case 0x44: // f64.const
			r.skipBytes(8)
		case 0xd0: // ref.null
			r.uint()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant arithmetic
		case 0xfd: // v128.const
			r.uint()
			r.skipBytes(16)
		default:
			r.fail(fmt.Sprintf("opcode 0x%x in a constant expression", op))
		}
	}
}

func (r *leb) skipBytes(n int) {
	if r.err == nil && n > len(r.b)-r.off {
		r.fail("unexpected end")
	}
	r.skip(uint64(n))
}

func (r *leb) elementSegment() {
	flags := r.uint()
	if flags > 7 {
		r.fail(fmt.Sprintf("element segment flags %d", flags))
		return
	}
	if flags&2 != 0 && flags&1 == 0 { // explicit table index
		r.uint()
	}
	if flags&1 == 0 { // active: offset
		r.constExpr()
	}
	if flags&3 != 0 { // element kind or reference type
		if flags&4 != 0 {
			r.refType()
		} else {
			r.byte()
		}
	}
	for range r.count() {
		if flags&4 != 0 {
			r.constExpr()
		} else {
			r.uint()
		}
	}
}

// sized reads a byte length, checks it against the bytes left, and returns
// a reader of those bytes, which r then skips. After an error the reader is
// empty.
func (r *leb) sized(what string) *leb {
	size := r.uint()
	if left := uint64(len(r.b) - r.off); r.err == nil && size > left {
		r.fail(fmt.Sprintf("%s of %d bytes with %d left", what, size, left))
	}
	if r.err != nil {
		return &leb{}
	}
	sub := &leb{b: r.b[:r.off+int(size)], off: r.off}
	r.skip(size)
	return sub
}

// functionBody checks one code entry: its size, and its locals against
// maxFunctionLocals.
func (r *leb) functionBody() {
	body := r.sized("function body")
	var locals uint64
	for range body.count() {
		locals += body.uint()
		if locals > maxFunctionLocals {
			r.fail(fmt.Sprintf("a function declares more than %d locals", maxFunctionLocals))
			return
		}
		body.refType()
	}
	if body.err != nil {
		r.fail(body.err.Error())
	}
}

// nameSection checks the custom "name" section, which wazero decodes: its
// name maps are vectors too.
func (r *leb) nameSection() {
	for r.err == nil && r.off < len(r.b) {
		id := r.byte()
		sub := r.sized("name subsection")
		switch id {
		case 1: // function names
			sub.nameMap()
		case 2: // local names
			for range sub.count() {
				sub.uint()
				sub.nameMap()
			}
		}
		if sub.err != nil {
			r.fail("name section: " + sub.err.Error())
		}
	}
}

func (r *leb) nameMap() {
	for range r.count() {
		r.uint()
		r.name()
	}
}

// preflight checks what must hold before wazero decodes wasm, its size and
// its structure (see [scanModule]), and returns the initial sizes of the
// memories the module defines or imports.
func preflight(wasm []byte) ([]uint64, error) {
	if len(wasm) > MaxModuleBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d a module may have", ErrBadModule, len(wasm), MaxModuleBytes)
	}
	mins, err := scanModule(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadModule, err)
	}
	return mins, nil
}

// minPages is the largest initial size, in pages, of the module's
// memories: those the scan found and those wazero reports.
func minPages(compiled wazero.CompiledModule, scanned []uint64) uint64 {
	var m uint64
	for _, p := range scanned {
		m = max(m, p)
	}
	for _, mem := range compiled.ExportedMemories() {
		m = max(m, uint64(mem.Min()))
	}
	for _, mem := range compiled.ImportedMemories() {
		m = max(m, uint64(mem.Min()))
	}
	return m
}

// ValidateModule reports whether wasm is a WebAssembly module this host
// could load: the magic, a full compile (by wazero's interpreter, which
// validates as the compiler does, only faster), imports the host offers,
// and memories that fit the default limit. Pack build and verify call it,
// so that a pack whose module is not WebAssembly fails when it is made,
// not when it is first used.
func ValidateModule(ctx context.Context, wasm []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: wazero panicked: %v", ErrBadModule, r)
		}
	}()
	switch {
	case len(wasm) == 0:
		return fmt.Errorf("%w: empty file", ErrBadModule)
	case len(wasm) < 4 || string(wasm[:4]) != string(wasmMagic[:4]):
		return fmt.Errorf("%w: no \\0asm magic at the start (got % x)", ErrBadModule, wasm[:min(4, len(wasm))])
	}
	mins, err := preflight(wasm)
	if err != nil {
		return err
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	compiled, err := compileWithin(ctx, rt, wasm, limits.DefaultCompileTimeout)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadModule, err)
	}
	for _, f := range compiled.ImportedFunctions() {
		if err := knownImport(f); err != nil {
			return err
		}
	}
	if p := minPages(compiled, mins); p > 65536 {
		return fmt.Errorf("%w: module needs %d pages at start, more than the 4 GiB of wasm32", ErrMemoryLimit, p)
	}
	return nil
}
