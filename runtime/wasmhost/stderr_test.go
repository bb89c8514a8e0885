package wasmhost

import (
	"fmt"
	"strings"
	"testing"
)

// TestStderrBuffer: an error carries the first lines of a guest's stderr
// (a Go guest's panic line, not the end of its goroutine dump) and the
// size of the rest; the whole kept text goes to the log.
func TestStderrBuffer(t *testing.T) {
	for _, c := range []struct {
		name, stderr  string
		want, notWant []string
	}{
		{"empty", "", nil, []string{"plugin stderr"}},
		{"one line", "boom\n", []string{"; plugin stderr: boom"}, []string{"more bytes"}},
		{"go panic", "panic: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.reward()\n" + strings.Repeat("\t/src/main.go:42 +0x1d\n", 500),
			[]string{"plugin stderr: panic: index out of range [3] with length 3", "goroutine 1 [running]:", "more bytes]"}, []string{"main.go:42"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := stderrBuffer{max: 2048}
			fmt.Fprint(&b, c.stderr)
			var logged string
			got := b.suffix(func(full string) { logged = full })
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(got, w) {
					t.Errorf("%q has %q", got, w)
				}
			}
			if len(got) > 300 {
				t.Errorf("suffix of %d bytes: %q", len(got), got)
			}
			if c.stderr != "" && !strings.HasPrefix(logged, strings.TrimSpace(c.stderr)[:min(20, len(strings.TrimSpace(c.stderr)))]) {
				t.Errorf("logged %q", logged)
			}
		})
	}
}
