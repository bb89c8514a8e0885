package chattemplate

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"unsafe"

	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// The engine has no hook for a budget, so a parsed template is rewritten to
// call one: each string or list operator (+, *, ~) becomes a call of the
// opFilter, the iterable of each {% for %} passes through loopFilter (which
// charges all its iterations before the loop starts), and each {{ output }}
// through outFilter. These filters are bound to the render's budget (see
// [Template.execute]); the rewrite is done once, at parse time.
const (
	opFilter   = "__toolbrain_op"
	loopFilter = "__toolbrain_loop"
	outFilter  = "__toolbrain_out"
)

var (
	tokenType   = reflect.TypeFor[tokens.Token]()
	guardedPkgs = []string{"github.com/nikolalohinski/gonja/v2/nodes", "github.com/nikolalohinski/gonja/v2/builtins/control_structures", "github.com/toolbrain/toolbrain/core/chattemplate"}
)

// guardNoise matches what the rewrite adds to the engine's error messages:
// the budget filters' own frames, which say nothing about the template.
var guardNoise = regexp.MustCompile(`unable to evaluate filter &\{<Token\[\w+\] Val='[^']*' Pos=\d+ Line=\d+ Col=\d+> __toolbrain_\w+ \[[^\]]*\] map\[[^\]]*\]\}: (invalid call to filter '__toolbrain_\w+': )?`)

// unguard removes the rewrite's frames from an engine error message.
func unguard(msg string) string { return guardNoise.ReplaceAllString(msg, "") }

// guardTree rewrites root in place (see above). Recursive loops are refused:
// `loop(items)` renders the body again without passing the loop head, so no
// budget could see it, and no chat template uses them.
func guardTree(root *nodes.Template) error {
	g := &guarder{seen: map[uintptr]bool{}}
	g.walk(reflect.ValueOf(root))
	return g.err
}

type guarder struct {
	seen map[uintptr]bool
	err  error
}

func (g *guarder) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || v.Type().Elem() == tokenType || g.seen[v.Pointer()] {
			return
		}
		g.seen[v.Pointer()] = true
		g.walk(v.Elem())
		if v.CanInterface() {
			g.after(v.Interface())
		}
	case reflect.Interface:
		if !v.IsNil() {
			g.walk(v.Elem())
		}
	case reflect.Struct:
		if !guarded(v.Type()) {
			return
		}
		for i := range v.NumField() {
			g.slot(settable(v.Field(i)))
		}
	case reflect.Slice:
		for i := range v.Len() {
			g.slot(v.Index(i))
		}
	case reflect.Map:
		if !v.CanInterface() {
			return
		}
		if v.Type().Elem().Kind() != reflect.Interface && v.Type().Elem().Kind() != reflect.Pointer {
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			g.slot(e)
			v.SetMapIndex(k, e)
		}
	}
}

// slot walks one field or element and replaces an operator held there.
func (g *guarder) slot(v reflect.Value) {
	g.walk(v)
	if v.Kind() != reflect.Interface || v.IsNil() || !v.CanSet() || !v.Elem().CanInterface() {
		return
	}
	bin, ok := v.Elem().Interface().(*nodes.BinaryExpression)
	if !ok {
		return
	}
	switch bin.Operator.Token.Type {
	case tokens.Addition, tokens.Multiply, tokens.Tilde:
	default:
		return
	}
	var repl nodes.Expression = &nodes.FilteredExpression{Expression: bin.Left, Filters: []*nodes.FilterCall{{
		Token: bin.Operator.Token, Name: opFilter,
		Args: []nodes.Expression{bin.Right, &nodes.String{Location: bin.Operator.Token, Val: bin.Operator.Token.Val}},
	}}}
	if reflect.TypeOf(repl).AssignableTo(v.Type()) {
		v.Set(reflect.ValueOf(repl))
	}
}

// after rewrites loops and outputs once their children are done.
func (g *guarder) after(n any) {
	switch n := n.(type) {
	case *controlStructures.ForControlStructure:
		if n.Recursive {
			g.err = fmt.Errorf("line %d: recursive loops are not supported", n.Position().Line)
			return
		}
		n.ObjectEvaluator = &nodes.FilteredExpression{Expression: n.ObjectEvaluator, Filters: []*nodes.FilterCall{{
			Token: n.Position(), Name: loopFilter,
			Args: []nodes.Expression{&nodes.Integer{Location: n.Position(), Val: dataBytes(n.BodyWrapper)}},
		}}}
	case *nodes.Output:
		wrap := func(e nodes.Expression) nodes.Expression {
			if e == nil {
				return nil
			}
			return &nodes.FilteredExpression{Expression: e, Filters: []*nodes.FilterCall{{Token: n.Start, Name: outFilter}}}
		}
		n.Expression, n.Alternative = wrap(n.Expression), wrap(n.Alternative)
	}
}

// dataBytes is the literal text in a loop body: what each iteration writes
// besides its {{ outputs }}.
func dataBytes(w *nodes.Wrapper) int {
	n := 0
	if w == nil {
		return 0
	}
	for _, node := range w.Nodes {
		if d, ok := node.(*nodes.Data); ok && d.Data != nil {
			n += len(d.Data.Val)
		}
	}
	return n
}

func guarded(t reflect.Type) bool {
	for _, p := range guardedPkgs {
		if t.PkgPath() == p {
			return true
		}
	}
	return false
}

// settable returns an assignable view of a struct field, exported or not.
// The engine keeps some expressions in unexported fields ({% set %}'s
// value); the rewrite must reach them too.
func settable(f reflect.Value) reflect.Value {
	if !f.CanAddr() {
		return f
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

// guardedFilters are the environment's filters, each charged to the
// render's budget, and the three the rewrite calls. They are built once;
// each call finds its render's budget in the evaluator's context (see
// budgetOf), so a render does not rebuild them.
var guardedFilters = newGuardedFilters()

func newGuardedFilters() *exec.FilterSet {
	m := map[string]exec.FilterFunction{}
	for _, name := range filterNames {
		fn, _ := sharedEnv.Filters.Get(name)
		m[name] = func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
			b, err := budgetOf(e)
			if err != nil {
				return exec.AsValue(err)
			}
			return b.guard(name, in, params, func() *exec.Value { return fn(e, in, params) })
		}
	}
	m[opFilter] = func(e *exec.Evaluator, left *exec.Value, params *exec.VarArgs) *exec.Value {
		b, err := budgetOf(e)
		switch {
		case left.IsError():
			return left
		case err != nil:
			return exec.AsValue(err)
		}
		return b.operator(left, params.Args[0], params.Args[1].String())
	}
	m[loopFilter] = func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		n := int64(1)
		if in.IsIterable() {
			n += int64(in.Len())
		}
		b, err := budgetOf(e)
		if err == nil {
			err = b.charge(n, n*int64(params.Args[0].Integer()))
		}
		if err != nil {
			return exec.AsValue(err)
		}
		return in
	}
	m[outFilter] = func(e *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
		b, err := budgetOf(e)
		if err == nil {
			err = b.charge(1, sizeOf(in))
		}
		if err != nil {
			return exec.AsValue(err)
		}
		return in
	}
	return exec.NewFilterSet(m)
}

// errNoBudget would mean a filter ran outside Template.execute: the guard
// fails closed rather than run unbounded.
var errNoBudget = fmt.Errorf("%w: no render budget in the context", ErrBudget)

// budgetOf finds the render's budget in the evaluator's context, where
// execute put it.
func budgetOf(e *exec.Evaluator) (*budget, error) {
	if e != nil && e.Environment != nil && e.Environment.Context != nil {
		if v, ok := e.Environment.Context.Get(budgetVar); ok {
			if b, ok := v.(*budget); ok {
				return b, nil
			}
		}
	}
	return nil, errNoBudget
}

// operator is the engine's +, * and ~ with the size of the result checked
// before it is built.
func (b *budget) operator(left, right *exec.Value, op string) *exec.Value {
	if right.IsError() {
		return right
	}
	switch {
	case op == "~":
		if err := b.charge(1, int64(len(left.String())+len(right.String()))); err != nil {
			return exec.AsValue(err)
		}
		return exec.AsValue(left.String() + right.String())
	case op == "+" && left.IsList():
		if !right.IsList() {
			return exec.AsValue(fmt.Errorf("unable to concatenate list to %s", right.String()))
		}
		if err := b.charge(1, sizeOf(left)+sizeOf(right)); err != nil {
			return exec.AsValue(err)
		}
		out := make([]any, 0, left.Len()+right.Len())
		for i := range left.Len() {
			out = append(out, left.Index(i).Interface())
		}
		for i := range right.Len() {
			out = append(out, right.Index(i).Interface())
		}
		return exec.AsValue(out)
	case left.IsFloat() || right.IsFloat():
		if op == "*" {
			return exec.AsValue(left.Float() * right.Float())
		}
		return exec.AsValue(left.Float() + right.Float())
	case op == "+" && (left.IsString() || right.IsString()):
		if err := b.charge(1, int64(len(left.String())+len(right.String()))); err != nil {
			return exec.AsValue(err)
		}
		return exec.AsValue(left.String() + right.String())
	case op == "*" && left.IsString():
		n := right.Integer()
		if n <= 0 {
			return exec.AsValue("")
		}
		s := left.String()
		if len(s) > 0 && n > MaxRenderBytes/len(s) {
			return exec.AsValue(b.fail(fmt.Errorf("%w: string repeated %d times, limit %d bytes", ErrBudget, n, MaxRenderBytes)))
		}
		if err := b.charge(1, int64(len(s)*n)); err != nil {
			return exec.AsValue(err)
		}
		return exec.AsValue(strings.Repeat(s, n))
	case op == "*":
		return exec.AsValue(left.Integer() * right.Integer())
	}
	return exec.AsValue(left.Integer() + right.Integer())
}

// guardMethods returns the methods of one render, each charged to b.
func guardMethods(b *budget) exec.Methods {
	m := sharedEnv.Methods
	m.Str = guardSet(b, m.Str, strMethodNames)
	m.List = guardSet(b, m.List, listMethodNames)
	m.Dict = guardSet(b, m.Dict, dictMethodNames)
	return m
}

func guardSet[I any](b *budget, set *exec.MethodSet[I], names []string) *exec.MethodSet[I] {
	out := map[string]exec.Method[I]{}
	for _, name := range names {
		fn, ok := set.Get(name)
		if !ok {
			continue
		}
		out[name] = func(self I, selfValue *exec.Value, args *exec.VarArgs) (any, error) {
			var res any
			var err error
			v := b.guard(name, selfValue, args, func() *exec.Value {
				res, err = fn(self, selfValue, args)
				if err != nil {
					return exec.AsValue(err)
				}
				return exec.AsValue(res)
			})
			if v.IsError() && err == nil {
				return nil, fmt.Errorf("%s: %w", name, v.Interface().(error))
			}
			return res, err
		}
	}
	return exec.NewMethodSet(out)
}

// filterNames lists the environment's filters; the engine's FilterSet has no
// way to list them, so the names are read from its map by reflection, which
// keeps the list complete whatever the engine adds.
var filterNames = mapKeys(sharedEnv.Filters, "filters")

// Method names, read the same way from the environment's sets.
var (
	strMethodNames  = mapKeys(sharedEnv.Methods.Str, "methods")
	listMethodNames = mapKeys(sharedEnv.Methods.List, "methods")
	dictMethodNames = mapKeys(sharedEnv.Methods.Dict, "methods")
)

// mapKeys reads the keys of the named unexported map field of *set.
func mapKeys(set any, field string) []string {
	f := reflect.ValueOf(set).Elem().FieldByName(field)
	var names []string
	for _, k := range f.MapKeys() {
		names = append(names, k.String())
	}
	return names
}
