// Package interp is the CodeAct interpreter that runs inside the WebAssembly
// sandbox: Starlark (go.starlark.net) with the Python habits models bring
// (f-strings, import statements, while loops, top-level control flow, sum,
// round, Python's str/repr/print, json.dumps/loads, math, re), tools as
// functions, and final_answer. It has no file system, network, environment,
// clock or randomness: the only ways out are print, final_answer and tool
// calls, which go through the host.
//
// The package is plain Go so that it is tested natively; the wasip1 command
// in the parent directory wraps a [Session] in the interpreter plugin ABI
// (sdk/ABI.md).
//
// # Differences from Python a model may meet
//
//   - No try/except, classes, generators, with, lambda defaults capturing
//     loop variables, or the ** operator (use pow(x, y)); recursion is an
//     error (use a loop); strings are not iterable (use .elems() or a
//     range over indices); integer division of ints is //.
//   - A function defined in an earlier turn sees the globals of that turn.
//   - re uses RE2 syntax (no backreferences or lookaround in patterns);
//     match positions count bytes, not characters.
package interp

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/toolbrain/toolbrain/internal/pyfloat"
	"github.com/toolbrain/toolbrain/sdk"
)

// Defaults for the zero fields of a request.
const (
	// DefaultMaxSteps is the step cap of one turn: about 10⁷ Starlark
	// bytecode steps, a second or two of work in the sandbox.
	DefaultMaxSteps = 1_000_000
	// DefaultMaxOutputBytes caps one turn's printed output at 64 KiB: more
	// is useless to a model whose context holds a few thousand tokens.
	DefaultMaxOutputBytes = 64 << 10
)

// filename names the code in positions.
const filename = "code"

// CallTool sends a JSON sdk.ToolCallRequest to the host and returns its JSON
// sdk.ToolCallResponse.
type CallTool func(req []byte) ([]byte, error)

// yieldSteps is how often (in steps, about 5 ms in the sandbox) the
// interpreter calls Session.Yield.
const yieldSteps = 10_000

// Session is one episode's interpreter: globals persist from one Interpret
// call to the next. It is not safe for concurrent use.
type Session struct {
	// Yield, when set, is called every few thousand steps. In the sandbox
	// it is a no-op host call.
	//
	// # Why
	//
	// Machine code that wazero compiled is not preemptible by the Go
	// runtime of the host: a stop-the-world GC there waits until the guest
	// calls into Go. Without these calls one busy guest stalled every
	// goroutine of the host for up to its whole timeout (measured: a 10 ms
	// ticker went 1.9 s without a tick); with them, for a few milliseconds.
	Yield func()

	callTool CallTool
	globals  starlark.StringDict

	// Per turn.
	out       strings.Builder
	maxOut    int
	final     *string
	outputHit bool
	stepsHit  bool
	toolErr   bool
}

// NewSession returns a session with no globals whose tool calls go through
// callTool (nil: every tool call fails).
func NewSession(callTool CallTool) *Session {
	return &Session{callTool: callTool, globals: starlark.StringDict{}}
}

var errFinal = errors.New("final_answer called")

// fileOptions are the Python-like dialect: while loops, if/for at top
// level, reassigned globals and sets; recursion stays forbidden so that
// deep recursion is a clear error rather than a stack that eats memory.
var fileOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true}

// Interpret runs one turn. A failure of the code is reported in the
// response, never as a Go error or panic.
func (s *Session) Interpret(req sdk.InterpretRequest) (resp sdk.InterpretResponse) {
	s.out.Reset()
	s.final, s.outputHit, s.stepsHit, s.toolErr = nil, false, false, false
	s.maxOut = req.MaxOutputBytes
	if s.maxOut <= 0 {
		s.maxOut = DefaultMaxOutputBytes
	}
	maxSteps := req.MaxSteps
	if maxSteps <= 0 {
		maxSteps = DefaultMaxSteps
	}
	thread := &starlark.Thread{Name: "code"}
	// The step budget is handed out in slices so that the host gets control
	// back every yieldSteps steps (see Session.Yield).
	limit := uint64(maxSteps)
	thread.SetMaxExecutionSteps(min(limit, yieldSteps))
	thread.OnMaxSteps = func(t *starlark.Thread) {
		if t.ExecutionSteps() >= limit {
			s.stepsHit = true
			t.Cancel(fmt.Sprintf("execution step limit of %d exceeded (an endless loop?)", maxSteps))
			return
		}
		if s.Yield != nil {
			s.Yield()
		}
		t.SetMaxExecutionSteps(min(limit, t.ExecutionSteps()+yieldSteps))
	}
	defer func() {
		// A panic in a builtin must not take the instance down without an
		// answer; the host discards the instance anyway on a trap.
		if r := recover(); r != nil {
			resp = sdk.InterpretResponse{Stdout: s.out.String(), Error: fmt.Sprintf("internal error: %v", r), ErrorKind: sdk.InterpretErrorRuntime}
			if tooLarge(r) {
				// [0] * 10**9: Go refuses the slice before the
				// memory limit is reached. Say what the code did.
				resp.Error = fmt.Sprintf("the code asked for a list, string or dict too large for the sandbox's memory (%v)", r)
			}
		}
	}()

	err := s.exec(thread, req)
	resp.Stdout = s.out.String()
	resp.Steps = int64(thread.ExecutionSteps())
	if s.final != nil {
		resp.FinalAnswer = s.final
		return resp
	}
	if err != nil {
		resp.Error, resp.ErrorLine = describe(err)
		switch {
		case s.stepsHit:
			resp.ErrorKind = sdk.InterpretErrorSteps
		case s.outputHit:
			resp.ErrorKind = sdk.InterpretErrorOutput
		case s.toolErr:
			resp.ErrorKind = sdk.InterpretErrorTool
		case isSyntax(err):
			resp.ErrorKind = sdk.InterpretErrorSyntax
		default:
			resp.ErrorKind = sdk.InterpretErrorRuntime
		}
	}
	return resp
}

func (s *Session) exec(thread *starlark.Thread, req sdk.InterpretRequest) error {
	src, err := Rewrite(req.Code)
	if err != nil {
		return err
	}
	if len(s.globals) == 0 {
		for k, v := range s.builtins() {
			s.globals[k] = v
		}
	}
	for _, t := range req.Tools {
		name, fn := s.toolFunction(t)
		s.globals[name] = fn
	}
	f, err := fileOptions.Parse(filename, src, 0)
	if err != nil {
		return err
	}
	// ExecREPLChunk rather than ExecFile: each turn reads and updates the
	// same globals (so "x += 1" works on the x of an earlier turn), and
	// they are not frozen (a list built in one turn stays appendable).
	// Builtins live among the globals because the chunk sees no other
	// predeclared names besides Starlark's universe.
	return starlark.ExecREPLChunk(f, thread, s.globals)
}

func isSyntax(err error) bool {
	var se syntax.Error
	var re resolve.ErrorList
	var rw *RewriteError
	return errors.As(err, &se) || errors.As(err, &re) || errors.As(err, &rw)
}

// hints are short notes added to errors models commonly meet.
var hints = map[string]string{
	"undefined: open":         " (there is no file system in the sandbox; use the tools)",
	"undefined: input":        " (there is no input; the program runs unattended)",
	"undefined: exec":         " (exec is not available)",
	"undefined: eval":         " (eval is not available)",
	"undefined: __import__":   " (only json, math and re can be imported)",
	"undefined: isinstance":   " (use type(x) == \"int\" and the like)",
	"undefined: try":          " (Starlark has no try/except)",
	"got try, want primary":   " (Starlark has no try/except)",
	"called recursively":      " (recursion is not allowed here; use a loop)",
	"got '**'":                " (there is no ** operator; use pow(x, y))",
	"got class, want":         " (classes are not available; use dicts and functions)",
	"got lambda":              "",
	"not iterable: string":    " (strings are not iterable; use s.elems())",
	"string is not iterable":  " (strings are not iterable; use s.elems())",
	"got string, want iterab": " (strings are not iterable; use s.elems())",
}

// describe turns an error into the message the model reads, with the line
// it happened on.
func describe(err error) (string, int) {
	msg, line := err.Error(), 0
	var (
		se syntax.Error
		re resolve.ErrorList
		rw *RewriteError
		ee *starlark.EvalError
	)
	switch {
	case errors.As(err, &rw):
		return rw.Error(), rw.Line
	case errors.As(err, &se):
		line = int(se.Pos.Line)
		msg = "syntax error: " + se.Msg
	case errors.As(err, &re):
		line = int(re[0].Pos.Line)
		msg = re[0].Msg
		if len(re) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(re)-1)
		}
	case errors.As(err, &ee):
		msg = strings.TrimPrefix(ee.Msg, "Starlark computation cancelled: ")
		stack := ee.CallStack
		if n := len(stack); n > 0 && stack[n-1].Pos.Filename() == "<builtin>" {
			name := stack[n-1].Name
			if !strings.HasPrefix(name, "_") && !strings.HasPrefix(msg, name+":") && !strings.HasPrefix(msg, "Starlark computation cancelled") {
				msg = name + ": " + msg
			}
		}
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i].Pos.Filename() == filename {
				line = int(stack[i].Pos.Line)
				if fn := stack[i].Name; fn != "<toplevel>" {
					msg = "in " + fn + ": " + msg
				}
				break
			}
		}
	}
	for k, h := range hints {
		if strings.Contains(msg, k) && !strings.Contains(msg, h) {
			msg += h
			break
		}
	}
	if len(msg) > 2000 {
		msg = msg[:2000] + "..."
	}
	if line > 0 {
		return fmt.Sprintf("line %d: %s", line, msg), line
	}
	return msg, 0
}

// write appends printed text, failing the turn at the output cap.
func (s *Session) write(text string) error {
	if s.out.Len()+len(text) > s.maxOut {
		s.out.WriteString(text[:max(0, s.maxOut-s.out.Len())])
		s.outputHit = true
		return fmt.Errorf("printed output exceeds the limit of %d bytes", s.maxOut)
	}
	s.out.WriteString(text)
	return nil
}

func (s *Session) builtins() starlark.StringDict {
	b := func(name string, fn func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)) *starlark.Builtin {
		return starlark.NewBuiltin(name, fn)
	}
	return starlark.StringDict{
		"json":            jsonModule,
		"math":            mathModule,
		"re":              reModule,
		"print":           b("print", s.print),
		"final_answer":    b("final_answer", s.finalAnswer),
		"str":             b("str", pyStrBuiltin),
		"repr":            b("repr", pyReprBuiltin),
		"sum":             b("sum", sum),
		"round":           b("round", round),
		"pow":             b("pow", pow),
		"divmod":          b("divmod", divmod),
		"_fstring_format": b("_fstring_format", fstringFormat),
		"format":          b("format", formatBuiltin),
		"_import":         b("_import", importFail),
	}
}

func (s *Session) print(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	sep, end := " ", "\n"
	for _, kv := range kwargs {
		k, _ := starlark.AsString(kv[0])
		v, ok := starlark.AsString(kv[1])
		if kv[1] == starlark.None {
			v, ok = map[string]string{"sep": " ", "end": "\n"}[k], true
		}
		switch {
		case k == "sep" && ok:
			sep = v
		case k == "end" && ok:
			end = v
		case k == "flush":
		case k == "file":
			return nil, fmt.Errorf("print: file= is not supported (there is no file system)")
		default:
			return nil, fmt.Errorf("print: unexpected keyword argument %s", kv[0])
		}
	}
	var line strings.Builder
	for i, a := range args {
		if i > 0 {
			line.WriteString(sep)
		}
		line.WriteString(pyStr(a))
		if line.Len() > s.maxOut {
			break
		}
	}
	line.WriteString(end)
	return starlark.None, s.write(line.String())
}

func (s *Session) finalAnswer(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "answer", &v); err != nil {
		return nil, err
	}
	a := pyStr(v)
	if len(a) > s.maxOut {
		s.outputHit = true
		return nil, fmt.Errorf("final_answer: answer of %d bytes exceeds the limit of %d bytes", len(a), s.maxOut)
	}
	s.final = &a
	return nil, errFinal
}

func pyStrBuiltin(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) == 0 && len(kwargs) == 0 {
		return starlark.String(""), nil
	}
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	return starlark.String(pyStr(v)), nil
}

func pyReprBuiltin(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	return starlark.String(pyRepr(v)), nil
}

// sum is Python's sum(iterable, start=0).
func sum(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var it starlark.Iterable
	var acc starlark.Value = starlark.MakeInt(0)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "iterable", &it, "start?", &acc); err != nil {
		return nil, err
	}
	if _, ok := acc.(starlark.String); ok {
		return nil, fmt.Errorf("sum: can't sum strings (use ''.join(seq) instead)")
	}
	for x := range starlark.Elements(it) {
		var err error
		if acc, err = starlark.Binary(syntax.PLUS, acc, x); err != nil {
			return nil, fmt.Errorf("sum: %w", err)
		}
	}
	return acc, nil
}

// round is Python's round(number, ndigits=None): halves go to the even
// neighbour, floats round on their exact binary value.
func round(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, nd starlark.Value = nil, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "number", &x, "ndigits?", &nd); err != nil {
		return nil, err
	}
	ndigits := 0
	if nd != starlark.None {
		if err := starlark.AsInt(nd, &ndigits); err != nil {
			return nil, fmt.Errorf("round: ndigits: %w", err)
		}
	}
	switch x := x.(type) {
	case starlark.Int:
		if nd == starlark.None || ndigits >= 0 {
			return x, nil
		}
		if ndigits < -4000 {
			return starlark.MakeInt(0), nil
		}
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-ndigits)), nil)
		q, r := new(big.Int).DivMod(x.BigInt(), p, new(big.Int))
		// Round half to even on the quotient.
		twice := new(big.Int).Lsh(r, 1)
		if c := twice.Cmp(p); c > 0 || c == 0 && q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
		return starlark.MakeBigInt(q.Mul(q, p)), nil
	case starlark.Float:
		f := float64(x)
		if nd == starlark.None {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("round: cannot convert float %s to integer", pyfloat.Repr(f))
			}
			return starlark.NumberToInt(starlark.Float(math.RoundToEven(f)))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || f == 0 {
			return x, nil
		}
		if ndigits >= 0 {
			if ndigits > 330 {
				return x, nil
			}
			r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', ndigits, 64), 64)
			return starlark.Float(r), nil
		}
		if ndigits < -330 {
			return starlark.Float(math.Copysign(0, f)), nil
		}
		// Negative ndigits: round the exact value to a multiple of
		// 10^-ndigits with big arithmetic.
		p := new(big.Float).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-ndigits)), nil))
		q := new(big.Float).Quo(new(big.Float).SetPrec(2000).SetFloat64(f), p)
		qi, _ := q.Int(nil)
		rem := new(big.Float).Sub(q, new(big.Float).SetInt(qi))
		half := big.NewFloat(0.5)
		if f < 0 {
			rem.Neg(rem)
		}
		if c := rem.Cmp(half); c > 0 || c == 0 && qi.Bit(0) == 1 {
			if f < 0 {
				qi.Sub(qi, big.NewInt(1))
			} else {
				qi.Add(qi, big.NewInt(1))
			}
		}
		r, _ := new(big.Float).Mul(new(big.Float).SetInt(qi), p).Float64()
		return starlark.Float(math.Copysign(r, f)), nil
	}
	return nil, fmt.Errorf("round: type %s doesn't define __round__ method", x.Type())
}

// pow is Python's pow(base, exp, mod=None) for ints and floats.
func pow(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, y, m starlark.Value = nil, nil, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "base", &x, "exp", &y, "mod?", &m); err != nil {
		return nil, err
	}
	xi, xInt := x.(starlark.Int)
	yi, yInt := y.(starlark.Int)
	if xInt && yInt && yi.Sign() >= 0 {
		var mod *big.Int
		if m != starlark.None {
			mi, ok := m.(starlark.Int)
			if !ok || mi.Sign() == 0 {
				return nil, fmt.Errorf("pow: mod must be a non-zero int")
			}
			mod = mi.BigInt()
		} else if e, ok := yi.Int64(); !ok || float64(e)*float64(xi.BigInt().BitLen()) > 1<<20 {
			return nil, fmt.Errorf("pow: result would have more than %d bits", 1<<20)
		}
		r := new(big.Int).Exp(xi.BigInt(), yi.BigInt(), mod)
		if mod != nil && r.Sign() != 0 && r.Sign() != mod.Sign() {
			r.Add(r, mod) // Python's result takes the sign of mod
		}
		return starlark.MakeBigInt(r), nil
	}
	xf, ok1 := starlark.AsFloat(x)
	yf, ok2 := starlark.AsFloat(y)
	if !ok1 || !ok2 || m != starlark.None {
		return nil, fmt.Errorf("pow: unsupported operand types %s and %s", x.Type(), y.Type())
	}
	if xf == 0 && yf < 0 {
		return nil, fmt.Errorf("pow: 0.0 cannot be raised to a negative power")
	}
	return starlark.Float(math.Pow(xf, yf)), nil
}

func divmod(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, y starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &x, &y); err != nil {
		return nil, err
	}
	q, err := starlark.Binary(syntax.SLASHSLASH, x, y)
	if err != nil {
		return nil, fmt.Errorf("divmod: %w", err)
	}
	r, err := starlark.Binary(syntax.PERCENT, x, y)
	if err != nil {
		return nil, fmt.Errorf("divmod: %w", err)
	}
	return starlark.Tuple{q, r}, nil
}

// fstringFormat is the function f-strings are rewritten into:
// _fstring_format(value, spec, conversion).
func fstringFormat(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 3 || len(kwargs) != 0 {
		return nil, fmt.Errorf("f-string: internal error: %d arguments", len(args))
	}
	spec, _ := starlark.AsString(args[1])
	conv, _ := starlark.AsString(args[2])
	v := args[0]
	switch conv {
	case "r", "a":
		v = starlark.String(pyRepr(v))
	case "s":
		v = starlark.String(pyStr(v))
	}
	s, err := pyFormat(v, spec)
	if err != nil {
		return nil, fmt.Errorf("f-string: %w", err)
	}
	return starlark.String(s), nil
}

// formatBuiltin is Python's format(value, spec="").
func formatBuiltin(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	spec := ""
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "value", &v, "format_spec?", &spec); err != nil {
		return nil, err
	}
	s, err := pyFormat(v, spec)
	if err != nil {
		return nil, fmt.Errorf("format: %w", err)
	}
	return starlark.String(s), nil
}

// importFail is what an import of an unavailable module binds:
// _import(module) or _import(module, member), a placeholder whose use fails,
// so that the error names the line that uses it.
func importFail(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var u unavailable
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &u.module, &u.path); err != nil {
		return nil, err
	}
	if u.path == "" {
		u.path = u.module
	} else {
		u.path = u.module + "." + u.path
	}
	return u, nil
}

// unavailable is a module (or a member of one) the sandbox does not offer.
type unavailable struct{ module, path string }

var (
	_ starlark.HasAttrs = unavailable{}
	_ starlark.Callable = unavailable{}
)

func (u unavailable) err(what string) error {
	return fmt.Errorf("%s: module %s is not available in the sandbox (available: json, math, re; there is no file system, network, environment, clock or process access)", what, u.module)
}
func (u unavailable) String() string        { return "<unavailable " + u.path + ">" }
func (u unavailable) Type() string          { return "unavailable_module" }
func (u unavailable) Freeze()               {}
func (u unavailable) Truth() starlark.Bool  { return false }
func (u unavailable) Hash() (uint32, error) { return starlark.String(u.path).Hash() }
func (u unavailable) Name() string          { return u.path }
func (u unavailable) AttrNames() []string   { return nil }
func (u unavailable) Attr(name string) (starlark.Value, error) {
	return nil, u.err(u.path + "." + name)
}
func (u unavailable) CallInternal(*starlark.Thread, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return nil, u.err(u.path)
}

// toolFunction returns the function that calls tool t: positional
// arguments bind to the parameters in the order the schema lists them,
// keyword arguments by name. It returns the tool's data when it sent some
// (decoded from JSON), and its content text otherwise; a tool error stops
// the program with the tool's message.
func (s *Session) toolFunction(t sdk.ToolSpec) (string, *starlark.Builtin) {
	params := t.ParameterNames()
	ident := strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r == ' ' {
			return '_'
		}
		return r
	}, t.Name)
	return ident, starlark.NewBuiltin(ident, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		obj := starlark.NewDict(len(args) + len(kwargs))
		for i, a := range args {
			if i >= len(params) {
				return nil, fmt.Errorf("%s: takes %d positional arguments but %d were given", ident, len(params), len(args))
			}
			_ = obj.SetKey(starlark.String(params[i]), a)
		}
		for _, kv := range kwargs {
			if _, found, _ := obj.Get(kv[0]); found {
				return nil, fmt.Errorf("%s: got multiple values for argument %s", ident, kv[0])
			}
			_ = obj.SetKey(kv[0], kv[1])
		}
		enc := jsonEncoder{item: ",", key: ":", strict: true}
		if err := enc.encode(obj, 0); err != nil {
			s.toolErr = true
			return nil, fmt.Errorf("%s: arguments are not JSON: %w", ident, err)
		}
		req, _ := json.Marshal(struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		}{t.Name, json.RawMessage(enc.b.String())})
		if s.callTool == nil {
			s.toolErr = true
			return nil, fmt.Errorf("%s: no tools are available", ident)
		}
		out, err := s.callTool(req)
		if err != nil {
			s.toolErr = true
			return nil, fmt.Errorf("%s: %w", ident, err)
		}
		var resp sdk.ToolCallResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			s.toolErr = true
			return nil, fmt.Errorf("%s: bad response from the host: %w", ident, err)
		}
		if resp.IsError {
			s.toolErr = true
			return nil, fmt.Errorf("%s: %s", ident, resp.Content)
		}
		if len(resp.Data) > 0 && string(resp.Data) != "null" {
			return starlark.Call(thread, jsonModule.Members["decode"], starlark.Tuple{starlark.String(resp.Data)}, nil)
		}
		return starlark.String(resp.Content), nil
	})
}

// tooLarge reports whether a recovered panic is Go refusing an allocation
// size (makeslice, growslice, makemap: "len out of range", "cap out of
// range"), which model-written code reaches with one huge repetition.
func tooLarge(r any) bool {
	err, ok := r.(error)
	if !ok {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "out of range") && (strings.Contains(msg, "makeslice") || strings.Contains(msg, "growslice") || strings.Contains(msg, "makemap")) ||
		strings.Contains(msg, "out of memory")
}
