//go:build !unix

package bench

import "time"

// cpuTime is 0 where the process's CPU time is not read (see the unix
// version).
func cpuTime() time.Duration { return 0 }
