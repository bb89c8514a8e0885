package chattemplate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Values handed to the engine follow one convention so that templates see
// what Python's Jinja sees:
//   - JSON objects become *exec.Dict (the engine's own ordered dict) so that
//     iteration and tojson keep insertion order as Python dicts do; an empty
//     object becomes an empty map[string]any instead, because the engine
//     treats every Dict struct as true while Python's {} is false.
//   - arrays are []any, integers int, other numbers float64.

func newDict(n int) *exec.Dict { return &exec.Dict{Pairs: make([]*exec.Pair, 0, n)} }

func addPair(d *exec.Dict, k string, v any) {
	d.Pairs = append(d.Pairs, &exec.Pair{Key: exec.AsValue(k), Value: exec.AsValue(v)})
}

func finishDict(d *exec.Dict) any {
	if len(d.Pairs) == 0 {
		return map[string]any{}
	}
	return d
}

// convert turns a caller's Go value into the template representation.
// map[string]any keys are sorted (Go maps keep no order); json.RawMessage and
// structs (through encoding/json) keep the order they have.
func convert(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, int, float64:
		return x, nil
	case int64:
		return int(x), nil
	case int32:
		return int(x), nil
	case float32:
		return float64(x), nil
	case json.Number:
		return numberValue(string(x))
	case json.RawMessage:
		return decodeOrdered(x)
	case map[string]any:
		d := newDict(len(x))
		for _, k := range sortedKeys(x) {
			cv, err := convert(x[k])
			if err != nil {
				return nil, err
			}
			addPair(d, k, cv)
		}
		return finishDict(d), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			cv, err := convert(e)
			if err != nil {
				return nil, err
			}
			out[i] = cv
		}
		return out, nil
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return decodeOrdered(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// decodeOrdered decodes JSON keeping object key order.
func decodeOrdered(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode JSON: trailing data")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			d := newDict(4)
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				setPair(d, k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return finishDict(d), nil
		case '[':
			out := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return out, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		return numberValue(string(t))
	default: // string, bool, nil
		return t, nil
	}
}

// setPair keeps Python's semantics for a repeated key: the last value wins,
// at the position of the first.
func setPair(d *exec.Dict, k string, v any) {
	for _, p := range d.Pairs {
		if p.Key.String() == k {
			p.Value = exec.AsValue(v)
			return
		}
	}
	addPair(d, k, v)
}

// numberValue types a JSON number as Python's json module does: int when
// written without fraction or exponent, float otherwise.
func numberValue(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 0); err == nil {
			return int(i), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return f, nil // ±Inf, as Python's float() gives
		}
		return nil, fmt.Errorf("number %q: %w", s, err)
	}
	return f, nil
}

// messageValue builds the dict a Hugging Face caller would pass for m:
// role and content always, every other key only when set, so that
// `message.tool_calls is defined` behaves as with Python dicts.
func messageValue(m *Message) (any, error) {
	d := newDict(4 + len(m.Extra))
	addPair(d, "role", m.Role)
	addPair(d, "content", m.Content)
	if len(m.ToolCalls) > 0 {
		calls := make([]any, len(m.ToolCalls))
		for i := range m.ToolCalls {
			tc := &m.ToolCalls[i]
			args, err := argumentsValue(tc.Arguments)
			if err != nil {
				return nil, fmt.Errorf("tool call %d (%s) arguments: %w", i, tc.Name, err)
			}
			fn := newDict(2)
			addPair(fn, "name", tc.Name)
			addPair(fn, "arguments", args)
			call := newDict(3)
			if tc.ID != "" {
				addPair(call, "id", tc.ID)
			}
			addPair(call, "type", "function")
			addPair(call, "function", fn)
			calls[i] = call
		}
		addPair(d, "tool_calls", calls)
	}
	if m.Name != "" {
		addPair(d, "name", m.Name)
	}
	if m.ToolCallID != "" {
		addPair(d, "tool_call_id", m.ToolCallID)
	}
	if m.ReasoningContent != "" {
		addPair(d, "reasoning_content", m.ReasoningContent)
	}
	for _, k := range sortedKeys(m.Extra) {
		v, err := convert(m.Extra[k])
		if err != nil {
			return nil, fmt.Errorf("extra %q: %w", k, err)
		}
		setPair(d, k, v)
	}
	return d, nil
}

// argumentsValue keeps a string as a string (templates test
// `arguments is string` and print it verbatim) and treats anything else as
// the JSON object of arguments.
func argumentsValue(a any) (any, error) {
	if a == nil {
		return map[string]any{}, nil
	}
	return convert(a)
}
