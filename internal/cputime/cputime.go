// Package cputime reads the CPU time the process has used. Benchmarks
// report it beside wall time because on a shared machine wall time
// measures the neighbours as much as the code.
package cputime

import "time"

// Process is the CPU time the process has used so far, user plus system;
// 0 where the platform does not report it (see Supported).
func Process() time.Duration { return process() }

// Supported reports whether Process measures anything on this platform.
func Supported() bool { return supported }
