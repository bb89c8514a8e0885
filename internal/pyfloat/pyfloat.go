// Package pyfloat spells a float64 as Python does, so that what ToolBrain
// writes matches what Python code (a chat template's tojson, a Hugging Face
// checkpoint's quant state, a CodeAct program's print) writes for the same
// value: the shortest digits that round-trip, positional when the decimal
// exponent is in [-4, 16) with ".0" on integral values, otherwise
// scientific with a sign and at least two exponent digits ("1e+16",
// "1e-05").
//
// It is the one home of that rule for core/chattemplate, core/quant and the
// Starlark interpreter (plugins/interpreter), which is compiled to
// WebAssembly: keep it to the standard library.
package pyfloat

import (
	"math"
	"strconv"
	"strings"
)

// Repr is CPython's repr(float) (also its str): "0.1", "1.0", "-0.0",
// "1e+16", "1e-05", "nan", "inf", "-inf".
func Repr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	// Go's 'e' format already spells the exponent as Python does: a sign
	// and at least two digits.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// JSON is a float as Python's json.dumps writes it: [Repr], with the
// non-finite values spelled as JavaScript does ("NaN", "Infinity",
// "-Infinity"), which Python's json.loads reads back.
func JSON(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return Repr(f)
}
