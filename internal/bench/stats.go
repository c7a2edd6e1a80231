package bench

import (
	"slices"
	"time"
)

// Summary describes a set of latency samples.
type Summary struct {
	N    int
	Mean time.Duration
	P50  time.Duration
	P99  time.Duration
	Max  time.Duration
}

// Summarize sorts a copy of samples and returns their summary; the zero
// Summary for none. Percentiles are nearest-rank: P99 is a sample that was
// actually observed, never an interpolation between two.
func Summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Summary{
		N:    len(s),
		Mean: sum / time.Duration(len(s)),
		P50:  percentile(s, 50),
		P99:  percentile(s, 99),
		Max:  s[len(s)-1],
	}
}

// percentile is the nearest-rank p-th percentile of sorted (non-empty).
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n), 1-based
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// Millis is d in (fractional) milliseconds, the unit of the reported
// latencies.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Micros is d in (fractional) microseconds, the unit of the floor.
func Micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
