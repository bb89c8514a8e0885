package bfcl

import "testing"

func mustParse(t *testing.T, s string) Value {
	t.Helper()
	v, err := ParseValue([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return v
}

func TestParseValueKeepsIntFloatAndOrder(t *testing.T) {
	v := mustParse(t, `{"b": 5, "a": 5.0, "c": 1e2}`)
	if got := v.Keys; len(got) != 3 || got[0] != "b" || got[1] != "a" || got[2] != "c" {
		t.Errorf("keys = %v, want [b a c]", got)
	}
	if v.M["b"].Kind != Int || v.M["a"].Kind != Float || v.M["c"].Kind != Float {
		t.Errorf("kinds = %v %v %v, want Int Float Float", v.M["b"].Kind, v.M["a"].Kind, v.M["c"].Kind)
	}
	if _, err := ParseValue([]byte(`{"a": `)); err == nil {
		t.Error("truncated JSON parsed without error")
	}
	if _, err := ParseValue([]byte(`1 2`)); err == nil {
		t.Error("trailing data parsed without error")
	}
}

func TestCheckRules(t *testing.T) {
	fn := `[{"name": "f", "parameters": {"type": "dict", "properties": {
		"x": {"type": "float"}, "n": {"type": "integer"}, "s": {"type": "string"},
		"l": {"type": "array", "items": {"type": "float"}}, "v": {"type": "integer"}},
		"required": ["x"]}}]`
	gt := `[{"f": {"x": [2.0], "n": [3, ""], "s": ["New York", ""], "l": [[1.5, 2.0], ""], "v": ["k", ""]}}]`
	tests := []struct {
		name, candidate, category string
		wantValid                 bool
		wantType                  string
	}{
		{"int for float accepted", `[{"f": {"x": 2}}]`, "simple_python", true, ""},
		{"float for int rejected", `[{"f": {"x": 2.0, "n": 3.0}}]`, "simple_python", false, "type_error:simple"},
		{"string normalised", `[{"f": {"x": 2.0, "s": "NEW_YORK."}}]`, "simple_python", true, ""},
		{"wrong string", `[{"f": {"x": 2.0, "s": "Boston"}}]`, "simple_python", false, "value_error:string"},
		{"no coercion in arrays", `[{"f": {"x": 2.0, "l": [1.5, 2]}}]`, "simple_python", true, ""},
		{"variable option", `[{"f": {"x": 2.0, "v": "k"}}]`, "simple_python", true, ""},
		{"missing required", `[{"f": {"n": 3}}]`, "simple_python", false, "simple_function_checker:missing_required"},
		{"unexpected param", `[{"f": {"x": 2.0, "z": 1}}]`, "simple_python", false, "simple_function_checker:unexpected_param"},
		{"wrong name", `[{"g": {"x": 2.0}}]`, "simple_python", false, "simple_function_checker:wrong_func_name"},
		{"two calls for simple", `[{"f": {"x": 2.0}}, {"f": {"x": 2.0}}]`, "simple_python", false, "simple_function_checker:wrong_count"},
		{"no call for multiple", `[]`, "multiple", false, "multiple_function_checker:wrong_count"},
		{"bool is not int", `[{"f": {"x": 2.0, "n": true}}]`, "simple_python", false, "type_error:simple"},
		{"first error in key order", `[{"f": {"x": 2.0, "s": 1, "n": 3.0}}]`, "simple_python", false, "type_error:simple"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(mustParse(t, fn).L, mustParse(t, tc.candidate).L, mustParse(t, gt).L, tc.category)
			if r.Valid != tc.wantValid || r.ErrorType != tc.wantType {
				t.Errorf("got valid=%v %q (%s), want valid=%v %q", r.Valid, r.ErrorType, r.Error, tc.wantValid, tc.wantType)
			}
		})
	}
}

func TestCheckParallelFirstFit(t *testing.T) {
	fn := mustParse(t, `[{"name": "p", "parameters": {"type": "dict", "properties": {"c": {"type": "string"}}, "required": ["c"]}}]`).L
	gt := mustParse(t, `[{"p": {"c": ["A", "B"]}}, {"p": {"c": ["A"]}}]`).L
	tests := []struct {
		name, candidate string
		wantValid       bool
		wantType        string
	}{
		{"in order", `[{"p": {"c": "B"}}, {"p": {"c": "A"}}]`, true, ""},
		{"greedy takes A first", `[{"p": {"c": "A"}}, {"p": {"c": "B"}}]`, false, "parallel_function_checker_no_order:cannot_find_match"},
		{"wrong count", `[{"p": {"c": "A"}}]`, false, "parallel_function_checker_no_order:wrong_count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(fn, mustParse(t, tc.candidate).L, gt, "parallel")
			if r.Valid != tc.wantValid || r.ErrorType != tc.wantType {
				t.Errorf("got valid=%v %q, want valid=%v %q", r.Valid, r.ErrorType, tc.wantValid, tc.wantType)
			}
		})
	}
}

func TestCheckIrrelevance(t *testing.T) {
	tests := []struct {
		name, candidate string
		wantValid       bool
	}{
		{"no call", `[]`, true},
		{"empty object", `[{}]`, true},
		{"call without args", `[{"f": {}}]`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := CheckIrrelevance(mustParse(t, tc.candidate).L); r.Valid != tc.wantValid {
				t.Errorf("valid = %v, want %v", r.Valid, tc.wantValid)
			}
		})
	}
}
