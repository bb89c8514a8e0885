//go:build !linux

package cpu

import "runtime"

// osYield lets other goroutines run; elsewhere than Linux the Go scheduler
// is the only yield available without cgo.
func osYield() { runtime.Gosched() }
