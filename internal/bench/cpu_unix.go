//go:build unix

package bench

import (
	"syscall"
	"time"
)

// processCPU is the user plus system CPU time this process has used: the
// nodes and the load generator together, as DESIGN §16's single machine
// sees them.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
