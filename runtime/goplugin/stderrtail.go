package goplugin

// The tail of a plugin process's standard error that a crash or a failed
// start reports: the first lines and the size of the rest.

import (
	"strings"
	"sync"
)

// lineTail keeps the last lines a process wrote to stderr, for error
// messages. go-plugin's own log lines (hclog JSON) are skipped: they reach
// the logger anyway.
type lineTail struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func newLineTail(max int) *lineTail { return &lineTail{max: max} }

func (t *lineTail) addRaw(line string) {
	if strings.HasPrefix(line, `{"@`) {
		return
	}
	t.add(line)
}

func (t *lineTail) add(line string) {
	const maxLine = 300
	if len(line) > maxLine {
		line = line[:maxLine] + "..."
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// After a panic's first line come goroutine stacks; keep the panic.
	if len(t.lines) > 0 && isPanic(t.lines[0]) {
		if len(t.lines) < t.max {
			t.lines = append(t.lines, line)
		}
		return
	}
	if isPanic(line) {
		t.lines = t.lines[:0]
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-t.max:]...)
	}
}

func isPanic(line string) bool {
	return strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")
}

func (t *lineTail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "; plugin stderr: " + strings.Join(t.lines, " | ")
}
