package sandbox

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// hostile is the corpus of programs that try to escape or exhaust the
// sandbox. Each must end with one of the listed errors (nil: it must run)
// and a message containing want, within its limits.
var hostile = []struct {
	name string
	code string
	errs []error
	want string
}{
	// CPU: the step cap stops these deterministically.
	{"infinite while", "while True:\n    pass", []error{ErrSteps}, "line 1: execution step limit of 300000 exceeded"},
	{"huge range", "for i in range(1000000000):\n    pass", []error{ErrSteps}, "step limit"},
	{"counting loop", "x = 0\nwhile x >= 0:\n    x += 1", []error{ErrSteps}, "step limit"},
	{"nested loops", "for i in range(100000):\n    for j in range(100000):\n        pass", []error{ErrSteps}, "step limit"},
	{"loop in function", "def spin():\n    while True:\n        pass\nspin()", []error{ErrSteps}, "in spin: execution step limit"},
	{"comprehension bomb", "x = [i for i in range(100000000)]", []error{ErrSteps, ErrMemory}, ""},
	// Recursion is forbidden outright.
	{"deep recursion", "def f(n):\n    return f(n + 1)\nf(0)", []error{ErrRuntime}, "line 2: in f: function f called recursively"},
	{"mutual recursion", "def a(n):\n    return b(n)\ndef b(n):\n    return a(n)\na(1)", []error{ErrRuntime}, "called recursively"},
	{"lambda recursion", "f = lambda n: f(n)\nf(1)", []error{ErrRuntime}, "called recursively"},
	// Memory bombs: doubling strings and lists, huge allocations. Filling
	// 64 MiB takes 0.1 to 1 s here, longer on a loaded machine, so the
	// timeout may come first; either is a clear error within limits.
	{"doubling string", "s = 'a'\nwhile True:\n    s = s + s", []error{ErrMemory, ErrRuntime, ErrTimeout}, ""},
	{"doubling list", "l = [0]\nwhile True:\n    l = l + l", []error{ErrMemory, ErrRuntime, ErrTimeout}, ""},
	{"string repeat", "x = 'a' * 1000000000", []error{ErrMemory}, "the code used more than the memory limit of 64 MiB"},
	{"huge list repeat", "x = 1\ny = [0] * 1000000000", []error{ErrRuntime}, "the code asked for a list, string or dict too large for the sandbox's memory"},
	{"many megabyte strings", "l = []\nfor i in range(1000):\n    l.append('x' * 1000000)", []error{ErrMemory, ErrTimeout}, ""},
	{"list of lists", "x = [[0] * 100000 for i in range(100000)]", []error{ErrMemory, ErrTimeout}, ""},
	{"dict growth", "d = {}\nfor i in range(100000000):\n    d[i] = str(i) * 100", []error{ErrMemory, ErrSteps, ErrTimeout}, ""},
	{"big shift", "x = 1 << 100000000", []error{ErrRuntime, ErrMemory}, ""},
	{"bigint squaring", "n = 10\nfor i in range(40):\n    n = n * n", []error{ErrMemory, ErrTimeout}, ""},
	{"pow bomb", "x = pow(10, 100000000)", []error{ErrRuntime}, "more than 1048576 bits"},
	// Output.
	{"100 MB print", "print('x' * 100000000)", []error{ErrMemory, ErrOutput}, ""},
	{"print flood", "for i in range(10000000):\n    print('x' * 100)", []error{ErrOutput}, "line 2: print: printed output exceeds the limit of 65536 bytes"},
	{"megabyte prints", "s = 'x' * 1000000\nfor i in range(100):\n    print(s)", []error{ErrOutput}, "printed output exceeds"},
	{"huge final answer", "final_answer('y' * 10000000)", []error{ErrOutput}, "final_answer: answer of 10000000 bytes"},
	{"escaped output within limits", "print('\\x00' * 60000)", nil, ""},
	// Files, environment, network, processes.
	{"open file", "open('/etc/passwd').read()", []error{ErrSyntax}, "line 1: undefined: open (there is no file system"},
	{"os environ", "import os\nprint(os.environ['HOME'])", []error{ErrRuntime}, "line 2: os.environ: module os is not available"},
	{"subprocess", "import subprocess\nsubprocess.run(['ls'])", []error{ErrRuntime}, "module subprocess is not available"},
	{"socket", "import socket\ns = socket.socket()", []error{ErrRuntime}, "module socket is not available"},
	{"from os import system", "from os import system\nsystem('rm -rf /')", []error{ErrRuntime}, "line 2: os.system: module os is not available"},
	{"urllib", "import urllib.request\nurllib.request.urlopen('http://example.com')", []error{ErrRuntime}, "line 2: urllib.request: module urllib is not available"},
	{"dunder import", "__import__('os')", []error{ErrSyntax}, "undefined: __import__"},
	{"starlark load", "load('os', 'system')", []error{ErrRuntime, ErrSyntax}, ""},
	{"exec", "exec('print(1)')", []error{ErrSyntax}, "undefined: exec"},
	{"eval", "eval('1 + 1')", []error{ErrSyntax}, "undefined: eval"},
	{"clock", "import time\ntime.sleep(100)", []error{ErrRuntime}, "module time is not available"},
	{"randomness", "import random\nrandom.random()", []error{ErrRuntime}, "module random is not available"},
	{"globals", "print(globals())", []error{ErrSyntax}, "undefined: globals"},
	// Tools with wrong or huge arguments, and too many calls.
	{"wrong argument type", "add(a='x', b=1)", []error{ErrTool}, "line 1: add: invalid arguments for tool \"add\""},
	{"missing argument", "add(1)", []error{ErrTool}, "missing propert"},
	{"extra argument", "add(a=1, b=2, c=3)", []error{ErrTool}, "add: invalid arguments"},
	{"huge argument", "echo(text='x' * 200000)", []error{ErrTool}, "arguments of 200011 bytes exceed the limit of 65536"},
	{"unencodable argument", "echo(text=echo)", []error{ErrTool}, "arguments are not JSON"},
	{"nan argument", "add(a=float('nan'), b=1)", []error{ErrTool}, "nan is not a JSON number"},
	{"too many positional", "add(1, 2, 3)", []error{ErrRuntime, ErrTool}, "takes 2 positional arguments but 3 were given"},
	{"10000 tool calls", "for i in range(10000):\n    echo(text='hi')", []error{ErrToolCalls}, "tool call limit of 50 per episode reached"},
	{"unknown tool", "nosuchtool(x=1)", []error{ErrSyntax}, "undefined: nosuchtool"},
	// Invalid Unicode and odd source.
	{"invalid utf-8 in string", "x = '\xff\xfe'\nprint(len(x) > 0)", nil, ""},
	{"invalid utf-8 escape", "print('\\xff')", []error{ErrSyntax}, "non-ASCII hex escape"},
	{"invalid utf-8 identifier", "\xff = 1", []error{ErrSyntax}, "line 1: syntax error"},
	{"lone surrogate", "print('\\ud800')", []error{ErrSyntax}, "line 1: syntax error"},
	{"nul in source", "x = 1\x00\nprint(x)", nil, ""},
	{"1 MB of source", strings.Repeat("x = 1\n", 1<<20/6+1), []error{ErrCodeTooLarge}, "more than the limit of 262144"},
	{"deep nesting", strings.Repeat("[", 50000) + strings.Repeat("]", 50000), []error{ErrSyntax, ErrMemory, ErrCrashed}, ""},
	// Wall clock: few steps, each expensive.
	{"expensive steps", "s = 'ab' * 3000000\nfor i in range(100000):\n    s = s.replace('a', 'b')", []error{ErrTimeout}, "stopped after the time limit of 3s"},
}

// TestHostile runs the corpus. For each program: the error is the expected
// one, the run ends within its limits, a ticker goroutine of the host keeps
// ticking meanwhile, and the next episode runs normally.
func TestHostile(t *testing.T) {
	if len(hostile) < 40 {
		t.Fatalf("corpus has %d programs, want at least 40", len(hostile))
	}
	// 300,000 steps take 0.1 to 0.5 s here depending on load, well
	// inside the timeout, so that the step cap is what stops loops.
	const timeout = 3 * time.Second
	s := newSandbox(t, Options{Timeout: timeout, MaxSteps: 300_000, MaxToolCalls: 50})
	ctx := context.Background()

	// The host's responsiveness: the largest gap between ticks of a 10 ms
	// ticker while hostile code runs.
	var maxGap atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				if gap := now.Sub(last); gap > time.Duration(maxGap.Load()) {
					maxGap.Store(int64(gap))
				}
				last = now
			}
		}
	}()
	defer func() { close(stop); <-done }()

	var worst time.Duration
	for _, tt := range hostile {
		t.Run(tt.name, func(t *testing.T) {
			e, err := s.Start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			maxGap.Store(0)
			start := time.Now()
			r, err := e.Run(ctx, tt.code)
			elapsed := time.Since(start)
			gap := time.Duration(maxGap.Load())
			worst = max(worst, gap)
			if err != nil {
				t.Fatalf("Run returned a Go error: %v", err)
			}
			// Within limits: the timeout, plus starting a replacement
			// instance on a loaded machine.
			if elapsed > timeout+3*time.Second {
				t.Errorf("took %v, limit %v", elapsed, timeout)
			}
			switch {
			case tt.errs == nil && r.Err != nil:
				t.Errorf("unexpected error %v", r.Err)
			case tt.errs != nil:
				ok := false
				for _, want := range tt.errs {
					ok = ok || errors.Is(r.Err, want)
				}
				if !ok {
					t.Errorf("error %v, want one of %v", r.Err, tt.errs)
				}
				if r.Error == "" || !strings.Contains(r.Error, tt.want) {
					t.Errorf("message %q, want it to contain %q", r.Error, tt.want)
				}
			}
			if !utf8.ValidString(r.Output) || !utf8.ValidString(r.Error) {
				t.Errorf("invalid UTF-8 in the result: %q %q", r.Output, r.Error)
			}
			if len(r.Output) > DefaultMaxOutputBytes+1 {
				t.Errorf("output of %d bytes passed the cap", len(r.Output))
			}
			t.Logf("%s: %v in %v (largest tick gap %v): %.120s", tt.name, r.ErrorKind, elapsed.Round(time.Millisecond), gap, r.Error)

			// The next episode runs normally.
			next, err := s.Start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer next.Close()
			n, err := next.Run(ctx, "x = add(a=40, b=2)\nfinal_answer(int(x))")
			if err != nil || n.Err != nil || n.FinalAnswer == nil || *n.FinalAnswer != "42" {
				t.Fatalf("next episode: %v %+v", err, n)
			}
		})
	}
	// Machine code compiled by wazero cannot be preempted, so a
	// stop-the-world GC of the host waits for the guest to call into Go:
	// the guest does every 10,000 steps, but not inside its own GC or one
	// builtin over a large value. Measured here: 20-90 ms unloaded, up to
	// about 2 s with the machine's load at 7. The bound that holds is the
	// Run's timeout.
	t.Logf("largest gap between 10 ms host ticks: %v", worst)
	if worst > timeout {
		t.Errorf("host goroutines starved: a 10 ms ticker went %v without a tick", worst)
	}
}

func TestHostile_ToolCallCapRecorded(t *testing.T) {
	s := newSandbox(t, Options{MaxToolCalls: 50})
	e, _ := s.Start(context.Background())
	defer e.Close()
	r, _ := e.Run(context.Background(), "for i in range(10000):\n    echo(text=str(i))")
	if !errors.Is(r.Err, ErrToolCalls) || len(r.ToolCalls) != 50 || r.ToolCalls[49].Content != "49" {
		t.Fatalf("got %v with %d calls", r.Err, len(r.ToolCalls))
	}
	// The cap is per episode: the next turn is refused at once.
	r, _ = e.Run(context.Background(), "echo(text='again')")
	if !errors.Is(r.Err, ErrToolCalls) {
		t.Fatalf("second turn: %v", r.Err)
	}
}
