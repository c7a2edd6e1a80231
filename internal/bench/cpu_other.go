//go:build !unix

package bench

import "time"

// processCPU is unknown here; Run.CPUPercent then reports 0.
func processCPU() time.Duration { return 0 }
