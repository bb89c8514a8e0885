// Package bfcl scores tool calls the way the Berkeley Function Calling
// Leaderboard's AST checker does, for its non-live categories.
package bfcl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Kind is the JSON type of a Value, with integers and floats kept apart.
type Kind int

// The kinds of a Value.
const (
	Null Kind = iota
	Bool
	Int
	Float
	String
	List
	Object
)

// Value is a decoded JSON value that keeps what the checker needs and
// encoding/json drops: whether a number was written as an integer, and the
// order of an object's keys.
type Value struct {
	Kind Kind
	B    bool
	N    float64 // Int and Float
	S    string
	L    []Value
	Keys []string // Object keys in input order
	M    map[string]Value
}

// Get returns an object's member and whether it is present.
func (v Value) Get(key string) (Value, bool) {
	if v.Kind != Object {
		return Value{}, false
	}
	m, ok := v.M[key]
	return m, ok
}

// ParseValue decodes one JSON value from data.
func ParseValue(data []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return Value{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Value{}, fmt.Errorf("bfcl: trailing data after JSON value")
	}
	return v, nil
}

// UnmarshalJSON decodes a Value, keeping int/float and key order.
func (v *Value) UnmarshalJSON(data []byte) error {
	p, err := ParseValue(data)
	if err != nil {
		return err
	}
	*v = p
	return nil
}

func decodeValue(dec *json.Decoder) (Value, error) {
	tok, err := dec.Token()
	if err != nil {
		return Value{}, fmt.Errorf("bfcl: decoding JSON: %w", err)
	}
	switch t := tok.(type) {
	case nil:
		return Value{Kind: Null}, nil
	case bool:
		return Value{Kind: Bool, B: t}, nil
	case string:
		return Value{Kind: String, S: t}, nil
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return Value{}, fmt.Errorf("bfcl: number %q: %w", t, err)
		}
		k := Int
		if strings.ContainsAny(string(t), ".eE") {
			k = Float
		}
		return Value{Kind: k, N: f}, nil
	case json.Delim:
		switch t {
		case '[':
			out := Value{Kind: List, L: []Value{}}
			for dec.More() {
				e, err := decodeValue(dec)
				if err != nil {
					return Value{}, err
				}
				out.L = append(out.L, e)
			}
			if _, err := dec.Token(); err != nil {
				return Value{}, fmt.Errorf("bfcl: decoding JSON: %w", err)
			}
			return out, nil
		case '{':
			out := Value{Kind: Object, M: map[string]Value{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return Value{}, fmt.Errorf("bfcl: decoding JSON: %w", err)
				}
				key, _ := kt.(string)
				e, err := decodeValue(dec)
				if err != nil {
					return Value{}, err
				}
				if _, dup := out.M[key]; !dup {
					out.Keys = append(out.Keys, key)
				}
				out.M[key] = e
			}
			if _, err := dec.Token(); err != nil {
				return Value{}, fmt.Errorf("bfcl: decoding JSON: %w", err)
			}
			return out, nil
		}
	}
	return Value{}, fmt.Errorf("bfcl: unexpected JSON token %v", tok)
}

// pyEqual is Python's == on decoded JSON: numbers compare by value (1 == 1.0,
// True == 1), lists element by element, dicts by key set and members.
func pyEqual(a, b Value) bool {
	an, aok := number(a)
	bn, bok := number(b)
	if aok && bok {
		return an == bn
	}
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case Null:
		return true
	case String:
		return a.S == b.S
	case List:
		if len(a.L) != len(b.L) {
			return false
		}
		for i := range a.L {
			if !pyEqual(a.L[i], b.L[i]) {
				return false
			}
		}
		return true
	case Object:
		if len(a.M) != len(b.M) {
			return false
		}
		for k, av := range a.M {
			bv, ok := b.M[k]
			if !ok || !pyEqual(av, bv) {
				return false
			}
		}
		return true
	}
	return false
}

func number(v Value) (float64, bool) {
	switch v.Kind {
	case Int, Float:
		return v.N, true
	case Bool:
		if v.B {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func pyIn(v Value, options []Value) bool {
	for _, o := range options {
		if pyEqual(v, o) {
			return true
		}
	}
	return false
}
