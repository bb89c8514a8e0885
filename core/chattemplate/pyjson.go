package chattemplate

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/toolbrain/toolbrain/internal/pyfloat"
)

// jsonOptions mirrors the keyword arguments of the tojson filter that
// transformers installs, which forwards them to Python's json.dumps.
type jsonOptions struct {
	ensureASCII bool
	indent      string // "" with hasIndent false: one line
	hasIndent   bool
	itemSep     string
	keySep      string
	sortKeys    bool
	// limit, when positive, caps the output: checked before each
	// separator, line break and element, so that a huge indent or a
	// deeply indented large value fails before it is written.
	limit int
}

// maxJSONDepth bounds recursion on self-referencing values a template could
// build (Python raises "Circular reference detected" there).
const maxJSONDepth = 200

// pyJSON writes v as Python's json.dumps would, byte for byte: ", " and ": "
// separators by default, floats as Python's repr, non-ASCII kept unless
// ensureASCII, and dict keys in insertion order.
func pyJSON(sb *strings.Builder, v any, o *jsonOptions, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("tojson: nesting deeper than %d", maxJSONDepth)
	}
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
		return nil
	case *exec.Value:
		if x == nil || x.IsNil() {
			sb.WriteString("null")
			return nil
		}
		return pyJSON(sb, x.Interface(), o, depth)
	case string:
		writePyString(sb, x, o.ensureASCII)
		return nil
	case bool:
		if x {
			sb.WriteString("true")
		} else {
			sb.WriteString("false")
		}
		return nil
	case int:
		sb.WriteString(strconv.Itoa(x))
		return nil
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
		return nil
	case float64:
		sb.WriteString(pyfloat.JSON(x))
		return nil
	case *exec.Dict:
		if x == nil {
			sb.WriteString("null")
			return nil
		}
		return pyJSONPairs(sb, x.Pairs, o, depth)
	case exec.Dict:
		return pyJSONPairs(sb, x.Pairs, o, depth)
	case []any:
		return pyJSONList(sb, len(x), func(i int) any { return x[i] }, o, depth)
	case map[string]any:
		pairs := make([]*exec.Pair, 0, len(x))
		for _, k := range sortedKeys(x) {
			pairs = append(pairs, &exec.Pair{Key: exec.AsValue(k), Value: exec.AsValue(x[k])})
		}
		return pyJSONPairs(sb, pairs, o, depth)
	}
	// Whatever else the engine produced (typed slices, tuples from filters,
	// other numeric kinds): go by reflection.
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			sb.WriteString("null")
			return nil
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		sb.WriteString(strconv.FormatInt(rv.Int(), 10))
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		sb.WriteString(strconv.FormatUint(rv.Uint(), 10))
		return nil
	case reflect.Float32, reflect.Float64:
		sb.WriteString(pyfloat.JSON(rv.Float()))
		return nil
	case reflect.String:
		writePyString(sb, rv.String(), o.ensureASCII)
		return nil
	case reflect.Bool:
		return pyJSON(sb, rv.Bool(), o, depth)
	case reflect.Slice, reflect.Array:
		return pyJSONList(sb, rv.Len(), func(i int) any { return rv.Index(i).Interface() }, o, depth)
	case reflect.Map:
		pairs := make([]*exec.Pair, 0, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			pairs = append(pairs, &exec.Pair{Key: exec.AsValue(iter.Key().Interface()), Value: exec.AsValue(iter.Value().Interface())})
		}
		// Go maps have no order; sort for a deterministic result.
		slices.SortFunc(pairs, func(a, b *exec.Pair) int { return strings.Compare(a.Key.String(), b.Key.String()) })
		return pyJSONPairs(sb, pairs, o, depth)
	}
	return fmt.Errorf("tojson: object of type %s is not JSON serializable", rv.Type())
}

func pyJSONList(sb *strings.Builder, n int, at func(int) any, o *jsonOptions, depth int) error {
	if n == 0 {
		sb.WriteString("[]")
		return nil
	}
	sb.WriteByte('[')
	for i := range n {
		if err := separate(sb, o, i, depth+1); err != nil {
			return err
		}
		if err := pyJSON(sb, at(i), o, depth+1); err != nil {
			return err
		}
	}
	if err := newline(sb, o, depth); err != nil {
		return err
	}
	sb.WriteByte(']')
	return nil
}

func pyJSONPairs(sb *strings.Builder, pairs []*exec.Pair, o *jsonOptions, depth int) error {
	if len(pairs) == 0 {
		sb.WriteString("{}")
		return nil
	}
	if o.sortKeys {
		pairs = slices.Clone(pairs)
		slices.SortStableFunc(pairs, func(a, b *exec.Pair) int { return strings.Compare(jsonKey(a.Key), jsonKey(b.Key)) })
	}
	sb.WriteByte('{')
	for i, p := range pairs {
		if err := separate(sb, o, i, depth+1); err != nil {
			return err
		}
		writePyString(sb, jsonKey(p.Key), o.ensureASCII)
		sb.WriteString(o.keySep)
		if err := pyJSON(sb, p.Value, o, depth+1); err != nil {
			return err
		}
	}
	if err := newline(sb, o, depth); err != nil {
		return err
	}
	sb.WriteByte('}')
	return nil
}

// jsonKey converts a dict key the way json.dumps does for non-string keys.
func jsonKey(k *exec.Value) string {
	switch {
	case k == nil || k.IsNil():
		return "null"
	case k.IsBool():
		if k.Bool() {
			return "true"
		}
		return "false"
	case k.IsFloat():
		return pyfloat.JSON(k.Float())
	}
	return k.String()
}

// separate writes what goes before element i of a list or dict: the item
// separator (after the first) and the line break, within the limit.
func separate(sb *strings.Builder, o *jsonOptions, i, depth int) error {
	if i > 0 {
		if err := o.room(sb, len(o.itemSep)); err != nil {
			return err
		}
		sb.WriteString(o.itemSep)
	}
	return newline(sb, o, depth)
}

func newline(sb *strings.Builder, o *jsonOptions, depth int) error {
	if !o.hasIndent {
		return nil
	}
	if err := o.room(sb, 1+depth*len(o.indent)); err != nil {
		return err
	}
	sb.WriteByte('\n')
	for range depth {
		sb.WriteString(o.indent)
	}
	return nil
}

// room fails when writing n more bytes would pass the limit.
func (o *jsonOptions) room(sb *strings.Builder, n int) error {
	if o.limit > 0 && sb.Len()+n > o.limit {
		return fmt.Errorf("%w: tojson output longer than %d bytes", ErrBudget, o.limit)
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// writePyString quotes s as json.dumps does: only ", \, and control
// characters are escaped, plus everything non-ASCII when ensureASCII.
func writePyString(sb *strings.Builder, s string, ensureASCII bool) {
	sb.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				sb.WriteString(`\"`)
			case '\\':
				sb.WriteString(`\\`)
			case '\n':
				sb.WriteString(`\n`)
			case '\r':
				sb.WriteString(`\r`)
			case '\t':
				sb.WriteString(`\t`)
			case '\b':
				sb.WriteString(`\b`)
			case '\f':
				sb.WriteString(`\f`)
			default:
				if c < 0x20 {
					writeU(sb, rune(c))
				} else {
					sb.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !ensureASCII {
			sb.WriteString(s[i : i+size])
		} else if r >= 0x10000 {
			// UTF-16 surrogate pair, as Python writes astral characters.
			r -= 0x10000
			writeU(sb, 0xd800|(r>>10)&0x3ff)
			writeU(sb, 0xdc00|r&0x3ff)
		} else {
			writeU(sb, r)
		}
		i += size
	}
	sb.WriteByte('"')
}

func writeU(sb *strings.Builder, r rune) {
	sb.WriteString(`\u`)
	sb.WriteByte(hexDigits[r>>12&0xf])
	sb.WriteByte(hexDigits[r>>8&0xf])
	sb.WriteByte(hexDigits[r>>4&0xf])
	sb.WriteByte(hexDigits[r&0xf])
}
