package cpu

import (
	"reflect"
	"unsafe"
)

// rawBytes views a buffer's elements as bytes, for ops that only move
// elements (transpose, slice, gather…): one implementation serves every
// dtype.
func rawBytes(b *buffer) []byte {
	v := reflect.ValueOf(b.flat)
	n := v.Len() * int(v.Type().Elem().Size())
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(v.UnsafePointer()), n)
}
