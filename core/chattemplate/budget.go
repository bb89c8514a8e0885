package chattemplate

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Render limits. A chat template comes with a downloaded checkpoint: it is
// untrusted code, and a render runs under these bounds whatever it does.
// Each is checked before the work or the allocation it bounds, so that a
// template that would loop for ever or build a gigabyte string fails with
// [ErrBudget] instead of hanging or killing the process.
const (
	// MaxRenderSteps bounds the work of one render. Every loop iteration
	// (charged when the loop starts, for all its items), macro call,
	// output, string or list operator (+, *, ~), filter and method call is
	// a step. Real chat templates take a few dozen steps per message, so
	// this renders conversations of thousands of messages, and it stops
	// nested loops (each under maxRange) in a fraction of a second.
	MaxRenderSteps = 250_000
	// MaxRenderBytes caps the rendered text and every single string or
	// list a template builds. A prompt is at most a model's context, a few
	// MiB of text even at a million tokens.
	MaxRenderBytes = 8 << 20
	// MaxRenderAlloc caps the bytes of all values built and written during
	// one render, together: with MaxRenderBytes it keeps peak memory
	// proportional to the bound, even for a loop that builds a new large
	// string on every step.
	MaxRenderAlloc = 128 << 20
	// MaxRenderTime bounds one render's wall time, checked at every step.
	// Renders take milliseconds; the steps and bytes above already bound
	// the work, this is the last resort.
	MaxRenderTime = 10 * time.Second
)

// ErrBudget means a render passed one of its limits (steps, bytes, time).
var ErrBudget = errors.New("chattemplate: render budget exceeded")

// budgetVar is the context variable under which a render's budget travels
// to the macro wrapper (filters and methods get it by closure).
const budgetVar = "__toolbrain_render_budget"

// budget is the account of one render. Only the rendering goroutine uses it.
type budget struct {
	steps    int64
	bytes    int64
	deadline time.Time
	err      error // sticky: once spent, every later charge fails
}

func newBudget() *budget { return &budget{deadline: time.Now().Add(MaxRenderTime)} }

// charge counts steps and bytes about to be built and fails once any limit
// is passed. Callers charge before they allocate.
func (b *budget) charge(steps, bytes int64) error {
	if b.err != nil {
		return b.err
	}
	b.steps += steps
	b.bytes += max(bytes, 0)
	switch {
	case bytes > MaxRenderBytes:
		b.err = fmt.Errorf("%w: a value of %d bytes, limit %d", ErrBudget, bytes, MaxRenderBytes)
	case b.steps > MaxRenderSteps:
		b.err = fmt.Errorf("%w: more than %d steps (loop iterations, calls and operators)", ErrBudget, MaxRenderSteps)
	case b.bytes > MaxRenderAlloc:
		b.err = fmt.Errorf("%w: more than %d bytes built in all", ErrBudget, MaxRenderAlloc)
	case time.Now().After(b.deadline):
		b.err = fmt.Errorf("%w: rendering took longer than %v", ErrBudget, MaxRenderTime)
	}
	return b.err
}

// fail records err as the render's budget failure (the first one stays)
// and returns the recorded one.
func (b *budget) fail(err error) error {
	if b.err == nil {
		b.err = err
	}
	return b.err
}

// sizeOf estimates the bytes a value holds: a string's length, 16 bytes
// per list item or dict entry, 8 otherwise.
func sizeOf(v *exec.Value) int64 {
	switch {
	case v == nil || v.IsNil():
		return 0
	case v.IsString():
		return int64(len(v.String()))
	case v.IsList() || v.IsDict():
		return 16 * int64(v.Len())
	}
	return 8
}

// capWriter is the render's output: it refuses to grow past MaxRenderBytes
// and charges what it writes to the budget.
type capWriter struct {
	w io.Writer
	n int64
	b *budget
}

func (c *capWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if c.n > MaxRenderBytes {
		return 0, c.b.fail(fmt.Errorf("%w: rendered text longer than %d bytes", ErrBudget, MaxRenderBytes))
	}
	if err := c.b.charge(0, int64(len(p))); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// sizeArgs are filters and methods whose integer arguments say how much to
// allocate (a width, a count): an argument above MaxRenderBytes is refused
// before the call.
var sizeArgs = map[string]bool{
	"center": true, "ljust": true, "rjust": true, "zfill": true, "expandtabs": true,
	"indent": true, "wordwrap": true, "truncate": true, "batch": true, "slice": true, "tojson": true,
}

// estimate returns an upper bound on the bytes a filter or method named name
// builds from self (its input) and args, before it runs; -1 means "no
// cheaper bound than the result", which is then charged after the call.
func estimate(name string, self *exec.Value, args *exec.VarArgs) (int64, error) {
	// One pass over the arguments, positional and keyword, without
	// allocating: their bytes, and the largest integer among them.
	var argBytes, largest int64
	var tooLarge error
	i := 0
	visit := func(a *exec.Value) {
		i++
		argBytes += sizeOf(a)
		if a.IsInteger() {
			largest = max(largest, int64(a.Integer()))
		}
		if sizeArgs[name] && tooLarge == nil && a.IsNumber() && a.Float() > MaxRenderBytes {
			tooLarge = fmt.Errorf("%w: %s argument %d is %v, limit %d", ErrBudget, name, i, a.Float(), MaxRenderBytes)
		}
	}
	for _, a := range args.Args {
		visit(a)
	}
	for _, a := range args.KwArgs {
		visit(a)
	}
	if tooLarge != nil {
		return 0, tooLarge
	}
	s := ""
	if self != nil && self.IsString() {
		s = self.String()
	}
	switch name {
	case "replace":
		if len(args.Args) >= 2 {
			old, repl := args.Args[0].String(), args.Args[1].String()
			n := int64(len(s) + 1)
			if old != "" {
				n = int64(strings.Count(s, old))
			}
			return int64(len(s)) + n*int64(len(repl)), nil
		}
	case "join":
		// filter: list|join(sep); method: sep.join(list).
		list, sep := self, int64(0)
		if len(args.Args) > 0 {
			if self != nil && self.IsString() {
				list, sep = args.Args[0], int64(len(s))
			} else {
				sep = sizeOf(args.Args[0])
			}
		}
		if list == nil || !list.IsList() {
			return -1, nil
		}
		total := int64(0)
		for i := range list.Len() {
			total += sizeOf(list.Index(i)) + sep
		}
		return total, nil
	case "format", "format_map":
		// Any width in the format string is a size to allocate.
		w := largestNumber(s)
		if w > MaxRenderBytes {
			return 0, fmt.Errorf("%w: %s width %d, limit %d", ErrBudget, name, w, MaxRenderBytes)
		}
		return int64(len(s)) + int64(strings.Count(s, "{")+strings.Count(s, "%"))*(argBytes+w), nil
	case "indent":
		// Each line gets the width (or the indent string).
		return int64(len(s)) + int64(strings.Count(s, "\n")+1)*(largest+argBytes), nil
	case "wordwrap":
		width := max(largest, 1)
		return int64(len(s)) + (int64(len(s))/width+1)*(argBytes+1), nil
	case "expandtabs":
		return int64(len(s)) + int64(strings.Count(s, "\t"))*max(largest, 8), nil
	case "batch", "slice":
		// Lists of the input's items, padded with fill up to the count.
		n := int64(0)
		if self != nil && (self.IsList() || self.IsDict() || self.IsString()) {
			n = int64(self.Len())
		}
		return 16 * (n + largest), nil
	case "center", "ljust", "rjust", "zfill":
		return int64(len(s)) + argBytes + largest, nil
	}
	return -1, nil
}

// largestNumber is the largest run of decimal digits in s, saturating
// above MaxRenderBytes.
func largestNumber(s string) int64 {
	best, cur := int64(0), int64(0)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			cur = min(cur*10+int64(c-'0'), MaxRenderBytes+1)
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}

// guard runs one filter or method call under the budget: a step, the
// estimated size before the call, and the real size after it.
func (b *budget) guard(name string, self *exec.Value, args *exec.VarArgs, call func() *exec.Value) *exec.Value {
	est, err := estimate(name, self, args)
	if err != nil {
		err = b.fail(err)
	} else {
		err = b.charge(1, est)
	}
	if err != nil {
		return exec.AsValue(err)
	}
	out := call()
	if out != nil && out.IsError() {
		// A limit the call enforced itself (tojson's) spends the budget too.
		if e, ok := out.Interface().(error); ok && errors.Is(e, ErrBudget) {
			b.fail(e)
		}
	}
	if out != nil && !out.IsError() && est < 0 {
		if err := b.charge(0, sizeOf(out)); err != nil {
			return exec.AsValue(err)
		}
	}
	return out
}
