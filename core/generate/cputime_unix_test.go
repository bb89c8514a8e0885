//go:build unix

package generate

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used, user plus system. The
// benchmarks report it per op beside wall time because a shared machine's
// wall time measures the neighbours as much as the code.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
