package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
)

// wasmMagic starts every WebAssembly binary: "\0asm" and version 1.
var wasmMagic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// memorySection is the id of the binary format's memory section.
const memorySection = 5

// definedMemoryMins returns the initial size, in pages, of every memory the
// module defines, exported or not. wazero offers only the exported ones
// (CompiledModule.ExportedMemories), and instantiating a module whose
// hidden memory starts above the host's allocator limit panics inside
// wazero; so the memory section is read from the binary. wasm has already
// compiled: the scan trusts its structure but still checks every bound.
func definedMemoryMins(wasm []byte) ([]uint64, error) {
	if len(wasm) < len(wasmMagic) || string(wasm[:4]) != string(wasmMagic[:4]) {
		return nil, errors.New("no WebAssembly magic")
	}
	r := &leb{b: wasm, off: len(wasmMagic)}
	for r.off < len(r.b) {
		id := r.byte()
		size := r.uint()
		if r.err != nil || size > uint64(len(r.b)-r.off) {
			return nil, fmt.Errorf("section %d at byte %d: truncated", id, r.off)
		}
		end := r.off + int(size)
		if id != memorySection {
			r.off = end
			continue
		}
		n := r.uint()
		var mins []uint64
		for i := uint64(0); i < n && r.err == nil && r.off < end; i++ {
			flags := r.byte()
			mins = append(mins, r.uint())
			if flags&1 != 0 {
				r.uint() // maximum
			}
		}
		if r.err != nil {
			return nil, fmt.Errorf("memory section: %w", r.err)
		}
		return mins, nil
	}
	return nil, nil
}

// leb reads bytes and unsigned LEB128 numbers, recording the first error.
type leb struct {
	b   []byte
	off int
	err error
}

func (r *leb) byte() byte {
	if r.off >= len(r.b) {
		r.err = errors.New("unexpected end")
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
	r.err = errors.New("LEB128 number longer than 64 bits")
	return 0
}

// checkModule refuses what wazero would accept but this host must not run:
// a module whose memories, exported or not, start above the limit.
func checkModule(compiled wazero.CompiledModule, wasm []byte, pages uint32) error {
	mins, err := definedMemoryMins(wasm)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadModule, err)
	}
	for _, mem := range compiled.ExportedMemories() {
		mins = append(mins, uint64(mem.Min()))
	}
	for _, mem := range compiled.ImportedMemories() {
		mins = append(mins, uint64(mem.Min()))
	}
	for _, m := range mins {
		if m > uint64(pages) {
			return fmt.Errorf("%w: module needs %d pages at start, limit %d", ErrMemoryLimit, m, pages)
		}
	}
	return nil
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
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadModule, err)
	}
	for _, f := range compiled.ImportedFunctions() {
		if err := knownImport(f); err != nil {
			return err
		}
	}
	return checkModule(compiled, wasm, 65536)
}
