package bfcl

import (
	"fmt"
	"strings"
)

// Result is the checker's verdict on one candidate: Valid, or the first
// error found with its BFCL error type (for example "type_error:simple").
type Result struct {
	Valid     bool
	ErrorType string
	Error     string
}

func fail(errType, format string, args ...any) Result {
	return Result{ErrorType: errType, Error: fmt.Sprintf(format, args...)}
}

var ok = Result{Valid: true}

// noKind is the kind of a schema type the checker does not know; no value has it.
const noKind Kind = -1

// schemaKind maps a BFCL schema type to the JSON kind a value must have.
func schemaKind(t string) Kind {
	switch t {
	case "string", "any":
		return String
	case "integer":
		return Int
	case "float":
		return Float
	case "boolean":
		return Bool
	case "array", "tuple":
		return List
	case "dict":
		return Object
	}
	return noKind
}

func isOmitOption(v Value) bool { return v.Kind == String && v.S == "" }

func hasOmitOption(options []Value) bool {
	for _, o := range options {
		if isOmitOption(o) {
			return true
		}
	}
	return false
}

// normalize is BFCL's string standardisation: drop " ,./-_*^", lowercase,
// and write single quotes as double quotes.
func normalize(s string) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(" ,./-_*^", r) {
			return -1
		}
		return r
	}, s)
	return strings.ReplaceAll(strings.ToLower(s), "'", `"`)
}

func normalizeValue(v Value) Value {
	if v.Kind == String {
		return Value{Kind: String, S: normalize(v.S)}
	}
	return v
}

// Check scores candidate calls ([{name: {arg: value}}, ...]) against a case's
// functions and possible answers, for a category (simple_python, multiple,
// parallel, parallel_multiple). Irrelevance cases use CheckIrrelevance.
func Check(functions []Value, candidate []Value, answers []Value, category string) Result {
	switch {
	case strings.Contains(category, "parallel"):
		return checkParallel(functions, candidate, answers)
	case strings.Contains(category, "multiple"):
		if len(candidate) != len(answers) || len(answers) == 0 {
			return fail("multiple_function_checker:wrong_count", "wrong number of functions: got %d, want %d", len(candidate), len(answers))
		}
		return checkCall(findFunction(functions, answers[0]), candidate[0], answers[0])
	default:
		if len(candidate) != 1 || len(answers) == 0 || len(functions) == 0 {
			return fail("simple_function_checker:wrong_count", "wrong number of functions: got %d, want 1", len(candidate))
		}
		return checkCall(functions[0], candidate[0], answers[0])
	}
}

// CheckIrrelevance is BFCL's relevance rule: a case is correct when the model
// made no call at all.
func CheckIrrelevance(candidate []Value) Result {
	for _, c := range candidate {
		if c.Kind == Object && len(c.Keys) > 0 {
			return fail("irrelevance_error:decoder_success", "a function call was made: %s", c.Keys[0])
		}
	}
	return ok
}

func answerName(answer Value) string {
	if answer.Kind == Object && len(answer.Keys) > 0 {
		return answer.Keys[0]
	}
	return ""
}

func findFunction(functions []Value, answer Value) Value {
	name := answerName(answer)
	for _, f := range functions {
		if n, _ := f.Get("name"); n.Kind == String && n.S == name {
			return f
		}
	}
	return Value{}
}

func checkParallel(functions, candidate, answers []Value) Result {
	if len(candidate) != len(answers) {
		return fail("parallel_function_checker_no_order:wrong_count", "wrong number of functions: got %d, want %d", len(candidate), len(answers))
	}
	used := make([]bool, len(candidate))
	for i, answer := range answers {
		fn := findFunction(functions, answer)
		var errs []string
		found := false
		for j, call := range candidate {
			if used[j] {
				continue
			}
			r := checkCall(fn, call, answer)
			if r.Valid {
				used[j], found = true, true
				break
			}
			errs = append(errs, r.Error)
		}
		if !found {
			return fail("parallel_function_checker_no_order:cannot_find_match", "no match for ground-truth call %d (%s): %s", i, answerName(answer), strings.Join(errs, "; "))
		}
	}
	return ok
}

// checkCall is the per-call check: name, required parameters, then each given
// parameter in order (known, type, value), then omitted ones.
func checkCall(fn, call, answer Value) Result {
	nameV, _ := fn.Get("name")
	name := nameV.S
	params, _ := fn.Get("parameters")
	props, _ := params.Get("properties")
	required, _ := params.Get("required")
	gt, _ := answer.Get(answerName(answer))

	args, found := call.Get(name)
	if !found {
		return fail("simple_function_checker:wrong_func_name", "function name %q not found in the call", name)
	}
	for _, r := range required.L {
		if _, has := args.Get(r.S); !has {
			return fail("simple_function_checker:missing_required", "missing required parameter %q", r.S)
		}
	}
	for _, p := range args.Keys {
		value := args.M[p]
		detail, inSchema := props.Get(p)
		optsV, inAnswer := gt.Get(p)
		if !inSchema || !inAnswer {
			return fail("simple_function_checker:unexpected_param", "unexpected parameter %q", p)
		}
		if r := checkParam(p, value, detail, optsV.L); !r.Valid {
			return r
		}
	}
	for _, p := range gt.Keys {
		if _, has := args.Get(p); !has && !hasOmitOption(gt.M[p].L) {
			return fail("simple_function_checker:missing_optional", "optional parameter %q not provided", p)
		}
	}
	return ok
}

func checkParam(p string, value, detail Value, options []Value) Result {
	typeV, _ := detail.Get("type")
	want := schemaKind(typeV.S)
	nested := noKind
	hasNested := false
	if want == List {
		items, _ := detail.Get("items")
		it, _ := items.Get("type")
		nested, hasNested = schemaKind(it.S), true
	}
	if want == Float && value.Kind == Int {
		value.Kind = Float
	}
	isVariable, r := checkType(p, value, options, want, nested, hasNested)
	if !r.Valid || isVariable {
		return r
	}
	switch {
	case want == Object:
		return checkDict(p, value, options)
	case want == List && hasNested && nested == Object:
		return checkListOfDicts(p, value, options)
	case want == List:
		return checkList(p, value, options)
	case want == String:
		return checkString(p, value, options)
	}
	if !pyIn(value, options) {
		return fail("value_error:others", "invalid value for parameter %q", p)
	}
	return ok
}

// answerKind is the kind of the first option that is not "" (ok false if none).
func answerKind(options []Value) (Kind, bool) {
	for _, o := range options {
		if !isOmitOption(o) {
			return o.Kind, true
		}
	}
	return noKind, false
}

// checkType reports whether the parameter is a "variable" (its options have
// another type than the schema's) and whether the value's type is accepted.
func checkType(p string, value Value, options []Value, want, nested Kind, hasNested bool) (bool, Result) {
	isVariable := false
	optKind, known := answerKind(options)
	if known && optKind != want {
		isVariable = true
	}
	if value.Kind == want {
		if !hasNested {
			return isVariable, ok
		}
		for _, o := range options {
			fits := true
			if o.Kind == List {
				for _, item := range value.L {
					if _, r := checkType(p, item, o.L, nested, noKind, false); !r.Valid {
						fits = false
						break
					}
				}
			}
			if fits {
				return isVariable, ok
			}
		}
		return isVariable, fail("type_error:nested", "nested type checking failed for parameter %q", p)
	}
	if isVariable && value.Kind == optKind {
		return true, ok
	}
	return isVariable, fail("type_error:simple", "incorrect type for parameter %q", p)
}

func checkString(p string, value Value, options []Value) Result {
	got := normalize(value.S)
	for _, o := range options {
		if o.Kind == String && normalize(o.S) == got {
			return ok
		}
	}
	return fail("value_error:string", "invalid value for parameter %q: %q", p, value.S)
}

func normalizeList(v Value) Value {
	out := Value{Kind: List, L: make([]Value, len(v.L))}
	for i, e := range v.L {
		out.L[i] = normalizeValue(e)
	}
	return out
}

func checkList(p string, value Value, options []Value) Result {
	got := normalizeList(value)
	for _, o := range options {
		want := Value{Kind: List, L: []Value{}}
		if o.Kind == List {
			want = normalizeList(o)
		}
		if pyEqual(got, want) {
			return ok
		}
	}
	return fail("value_error:list/tuple", "invalid value for parameter %q", p)
}

func checkDict(p string, value Value, options []Value) Result {
	r := fail("dict_checker:unclear", "no option for parameter %q", p)
	for _, o := range options {
		if isOmitOption(o) {
			continue
		}
		if r = dictMatches(p, value, o); r.Valid {
			return ok
		}
	}
	return r
}

func dictMatches(p string, value, option Value) Result {
	for _, k := range value.Keys {
		opts, has := option.Get(k)
		if !has {
			return fail("value_error:dict_key", "parameter %q: unexpected dict key %q", p, k)
		}
		got := normalizeValue(value.M[k])
		matched := false
		for _, o := range opts.L {
			if pyEqual(got, normalizeValue(o)) {
				matched = true
				break
			}
		}
		if !matched {
			return fail("value_error:dict_value", "parameter %q: invalid value for dict key %q", p, k)
		}
	}
	for _, k := range option.Keys {
		if _, has := value.Get(k); !has && !hasOmitOption(option.M[k].L) {
			return fail("value_error:dict_key", "parameter %q: missing dict key %q", p, k)
		}
	}
	return ok
}

func checkListOfDicts(p string, value Value, options []Value) Result {
	r := fail("list_dict_checker:unclear", "no option for parameter %q", p)
	for _, o := range options {
		if len(value.L) != len(o.L) {
			r = fail("value_error:list_dict_count", "parameter %q: wrong number of dicts", p)
			continue
		}
		fits := true
		for i := range value.L {
			if r = checkDict(p, value.L[i], []Value{o.L[i]}); !r.Valid {
				fits = false
				break
			}
		}
		if fits {
			return ok
		}
	}
	return r
}
