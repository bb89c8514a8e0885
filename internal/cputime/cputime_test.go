package cputime

import (
	"testing"
	"time"
)

// TestProcess burns some CPU and wants Process to advance by a plausible
// amount: at least part of the work, at most what two busy threads could
// use in the wall time that passed.
func TestProcess(t *testing.T) {
	if !Supported() {
		t.Skip("no CPU time on this platform")
	}
	t0, w0 := Process(), time.Now()
	x := 1.0
	for time.Since(w0) < 50*time.Millisecond {
		for i := range 1000 {
			x = x*1.0000001 + float64(i&1)
		}
	}
	used, wall := Process()-t0, time.Since(w0)
	if used <= 0 {
		t.Fatalf("Process advanced by %v over %v of busy work (x=%v)", used, wall, x)
	}
	if used > 2*wall+10*time.Millisecond {
		t.Errorf("Process advanced by %v over %v of wall time on one goroutine", used, wall)
	}
}
