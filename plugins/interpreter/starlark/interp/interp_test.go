package interp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/toolbrain/toolbrain/sdk"
)

func TestRewrite(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain code unchanged", "x = 1\nprint(x)  # f'{x}'\n", "x = 1\nprint(x)  # f'{x}'\n"},
		{"strings unchanged", `s = "f'{x}'" + 'import os'`, `s = "f'{x}'" + 'import os'`},
		{"simple f-string", `f"a{x}b"`, `("".join(["a", _fstring_format((x), "", ""), "b"]))`},
		{"single quotes", `f'{x}'`, `_fstring_format((x), "", "")`},
		{"no fields", `f"plain"`, `"plain"`},
		{"empty", `f""`, `""`},
		{"braces", `f"{{x}}"`, `"{x}"`},
		{"spec and conversion", `f"{x!r:>8}"`, `_fstring_format((x), ">8", "r")`},
		{"nested spec", `f"{x:{w}.2f}"`, `_fstring_format((x), ("".join([_fstring_format((w), "", ""), ".2f"])), "")`},
		{"dict subscript", `f"{d['k']}"`, `_fstring_format((d['k']), "", "")`},
		{"nested f-string", `f"{f'{y}'}"`, `_fstring_format((_fstring_format((y), "", "")), "", "")`},
		{"equals", `f"{x=}"`, `("".join(["x=", _fstring_format((x), "", "r")]))`},
		{"raw prefix", `rf"\d{x}"`, `("".join([r"\d", _fstring_format((x), "", "")]))`},
		{"capital F", `F"{x}"`, `_fstring_format((x), "", "")`},
		{"not a prefix", `elif"x"`, `elif"x"`},
		{"comparison not conversion", `f"{a != b}"`, `_fstring_format((a != b), "", "")`},
		{"triple quoted keeps lines", "f\"\"\"a\n{x}\nb\"\"\"", "(\"\".join([\"\"\"a\n\"\"\", _fstring_format((x), \"\", \"\"), \"\"\"\nb\"\"\"]))"},
		{"import known", "import json\nimport math, re", "pass\npass"},
		{"import alias", "import json as j", "j = json"},
		{"import unknown", "import os", `os = _import("os")`},
		{"import dotted", "import os.path", `os = _import("os")`},
		{"import mixed", "import os, math as m", `os = _import("os"); m = math`},
		{"from import", "from math import sqrt, pi as PI", "sqrt = math.sqrt; PI = math.pi"},
		{"from import unknown member", "from math import nope", `nope = _import("math", "nope")`},
		{"from unknown", "from subprocess import run", `run = _import("subprocess", "run")`},
		{"indented import", "def f():\n    import re\n    return re", "def f():\n    pass\n    return re"},
		{"import after semicolon", "x = 1; import json", "x = 1; pass"},
		{"import in call is not a statement", "f(import_x)", "f(import_x)"},
		{"is None", "x is None", "x == None"},
		{"is not None", "x is not None", "x !=     None"},
		{"island unchanged", "island = is_x", "island = is_x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Rewrite(tt.in)
			if err != nil {
				t.Fatalf("Rewrite(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Rewrite(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRewrite_Errors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
	}{
		{"empty expression", "x = 1\ny = f'{}'", 2},
		{"single brace", "f'a}b'", 1},
		{"unclosed field", "\n\nf'{x'", 3},
		{"bad conversion", "f'{x!z}'", 1},
		{"bad import", "import", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Rewrite(tt.in)
			var re *RewriteError
			if !errors.As(err, &re) {
				t.Fatalf("Rewrite(%q) = %v, want a *RewriteError", tt.in, err)
			}
			if re.Line != tt.line {
				t.Errorf("line %d, want %d (%v)", re.Line, tt.line, err)
			}
		})
	}
}

// FuzzRewrite checks that the rewrite never panics and never moves a line:
// error lines must keep pointing at the model's code.
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{"f'{x!r:>{w}}'", "import json, os as o", "x is not None", "f\"\"\"\n{a}\n\"\"\"", "'''unterminated", "f'{'", "from m import (a,\n b)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out, err := Rewrite(src)
		if err != nil {
			return
		}
		if a, b := strings.Count(src, "\n"), strings.Count(out, "\n"); a != b {
			t.Fatalf("Rewrite(%q) has %d newlines, input %d: %q", src, b, a, out)
		}
	})
}

func run(s *Session, code string) sdk.InterpretResponse {
	return s.Interpret(sdk.InterpretRequest{Code: code})
}

func TestSession_GlobalsPersist(t *testing.T) {
	s := NewSession(nil)
	steps := []struct{ code, stdout string }{
		{"x = [1]\ncount = 0\ndef add(v):\n    x.append(v)", ""},
		{"add(2)\ncount += 1\nx.append(3)\nprint(x, count)", "[1, 2, 3] 1\n"},
		{"x = x + [4]\nprint(len(x))", "4\n"},
	}
	for i, st := range steps {
		r := run(s, st.code)
		if r.Error != "" || r.Stdout != st.stdout {
			t.Fatalf("turn %d: stdout %q error %q, want stdout %q", i, r.Stdout, r.Error, st.stdout)
		}
	}
	// Assignments before an error persist, as in a Python REPL.
	r := run(s, "y = 5\nz = 1 // 0")
	if r.ErrorKind != sdk.InterpretErrorRuntime || r.ErrorLine != 2 {
		t.Fatalf("got %+v, want a runtime error on line 2", r)
	}
	if r := run(s, "print(y)"); r.Stdout != "5\n" {
		t.Fatalf("y after the error: %+v", r)
	}
	if r := NewSession(nil).Interpret(sdk.InterpretRequest{Code: "print(y)"}); r.ErrorKind != sdk.InterpretErrorSyntax {
		t.Fatalf("a new session must not see y: %+v", r)
	}
}

func TestSession_Errors(t *testing.T) {
	tests := []struct {
		name, code, kind string
		line             int
		contains         string
	}{
		{"undefined", "x = 1\nprint(yy)", sdk.InterpretErrorSyntax, 2, "undefined: yy"},
		{"syntax", "x = (", sdk.InterpretErrorSyntax, 1, "syntax error"},
		{"power operator hint", "y = 2 ** 3", sdk.InterpretErrorSyntax, 1, "pow(x, y)"},
		{"division by zero", "a = 1\nb = 0\nprint(a / b)", sdk.InterpretErrorRuntime, 3, "division by zero"},
		{"in function", "def f(d):\n    return d['missing']\nf({})", sdk.InterpretErrorRuntime, 2, "in f: key \"missing\" not in dict"},
		{"recursion", "def f(n):\n    return f(n - 1)\nf(5)", sdk.InterpretErrorRuntime, 2, "recursion is not allowed"},
		{"open", "open('/etc/passwd')", sdk.InterpretErrorSyntax, 1, "no file system"},
		{"import os", "import os\nos.system('ls')", sdk.InterpretErrorRuntime, 2, "os.system: module os is not available"},
		{"steps", "while True:\n    pass", sdk.InterpretErrorSteps, 1, "execution step limit of 1000000"},
		{"output", "for i in range(100000):\n    print('0123456789')", sdk.InterpretErrorOutput, 2, "printed output exceeds the limit of 65536 bytes"},
		{"huge answer", "final_answer('x' * 100000)", sdk.InterpretErrorOutput, 1, "exceeds the limit"},
		{"fail", "fail('custom')", sdk.InterpretErrorRuntime, 1, "custom"},
		{"no tools", "tool()", sdk.InterpretErrorSyntax, 1, "undefined: tool"},
		{"bad f-string", "x = f'{}'", sdk.InterpretErrorSyntax, 1, "empty expression"},
		{"regex lookahead", "import re\nre.search('a(?=b)', 'ab')", sdk.InterpretErrorRuntime, 2, "RE2 syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(NewSession(nil), tt.code)
			if r.ErrorKind != tt.kind || r.ErrorLine != tt.line || !strings.Contains(r.Error, tt.contains) {
				t.Errorf("got kind %q line %d error %q\nwant kind %q line %d containing %q", r.ErrorKind, r.ErrorLine, r.Error, tt.kind, tt.line, tt.contains)
			}
			if !strings.HasPrefix(r.Error, fmt.Sprintf("line %d: ", tt.line)) {
				t.Errorf("error %q does not start with its line", r.Error)
			}
		})
	}
}

func TestSession_FinalAnswer(t *testing.T) {
	s := NewSession(nil)
	r := run(s, "print('before')\nfinal_answer({'a': [1, 2.5]})\nprint('after')")
	if r.FinalAnswer == nil || *r.FinalAnswer != "{'a': [1, 2.5]}" || r.Stdout != "before\n" || r.Error != "" {
		t.Fatalf("got %+v", r)
	}
}

// fakeHost answers tool calls the way the runtime host does, from a map.
type fakeHost struct {
	reqs []sdk.ToolCallRequest
	resp map[string]sdk.ToolCallResponse
}

func (h *fakeHost) call(b []byte) ([]byte, error) {
	var req sdk.ToolCallRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, err
	}
	h.reqs = append(h.reqs, req)
	return json.Marshal(h.resp[req.Name])
}

func TestSession_Tools(t *testing.T) {
	h := &fakeHost{resp: map[string]sdk.ToolCallResponse{
		"search":     {Content: "2 hits", Data: json.RawMessage(`[{"id": 1}, {"id": 2}]`)},
		"send-email": {Content: "sent"},
		"broken":     {Content: "mailbox offline", IsError: true},
	}}
	tools := []sdk.ToolSpec{
		{Name: "search", Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"integer"}}}`)},
		{Name: "send-email", Parameters: json.RawMessage(`{"type":"object","properties":{"to":{"type":"string"}}}`)},
		{Name: "broken"},
	}
	s := NewSession(h.call)
	r := s.Interpret(sdk.InterpretRequest{Tools: tools, Code: "hits = search('invoice', limit=5)\nprint(len(hits), hits[1]['id'])\nprint(send_email(to='a@b.c'))"})
	if r.Error != "" || r.Stdout != "2 2\nsent\n" {
		t.Fatalf("got %+v", r)
	}
	if len(h.reqs) != 2 || string(h.reqs[0].Arguments) != `{"query":"invoice","limit":5}` || h.reqs[1].Name != "send-email" {
		t.Fatalf("requests %+v", h.reqs)
	}
	r = s.Interpret(sdk.InterpretRequest{Tools: tools, Code: "x = 1\nbroken()"})
	if r.ErrorKind != sdk.InterpretErrorTool || r.ErrorLine != 2 || !strings.Contains(r.Error, "mailbox offline") {
		t.Fatalf("got %+v", r)
	}
	r = s.Interpret(sdk.InterpretRequest{Tools: tools, Code: "search('a', 'b', 'c')"})
	if !strings.Contains(r.Error, "takes 2 positional arguments but 3 were given") {
		t.Fatalf("got %+v", r)
	}
}

func BenchmarkInterpret(b *testing.B) {
	for _, bc := range []struct{ name, code string }{
		{"trivial", "final_answer(1)"},
		{"fstring", "x = 3.14159\ns = f'{x:.2f} {x!r}'"},
		{"loop_10k_steps", "t = 0\nfor i in range(2000):\n    t += i"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				r := NewSession(nil).Interpret(sdk.InterpretRequest{Code: bc.code})
				if r.Error != "" {
					b.Fatal(r.Error)
				}
			}
		})
	}
}

func BenchmarkRewrite(b *testing.B) {
	src := strings.Repeat("import json\nx = f'{a:>8} and {b!r} {{c}}'\ny = x is None  # f'{z}'\n", 100)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := Rewrite(src); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzInterpret checks that no program makes the interpreter panic (which
// would crash the sandbox instance) and that every failure names its kind.
func FuzzInterpret(f *testing.F) {
	for _, s := range []string{"print(f'{1/3:.2f}')", "import re\nre.sub('(a)', r'\\1\\1', 'aa')", "x = [1]\nx.append(x)\nprint(x)", "json.dumps({1: [2.5, None]}, indent=2)", "round(2.5, -1)", "'%d' % 3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		r := NewSession(nil).Interpret(sdk.InterpretRequest{Code: code, MaxSteps: 10000})
		if r.Error != "" && r.ErrorKind == "" {
			t.Fatalf("error without kind: %q", r.Error)
		}
		if strings.HasPrefix(r.Error, "internal error") {
			t.Fatalf("panic: %s\ncode: %q", r.Error, code)
		}
	})
}
