package fuzzcheck

import (
	"runtime/metrics"
	"testing"
)

// Slack is added to every declared bound: the counter's lag for small
// allocations and the background noise of the test binary (see the
// package comment). It is far below what a trusted length prefix costs
// (megabytes to gigabytes).
const Slack = 1 << 20

const allocsMetric = "/gc/heap/allocs:bytes"

// Allocated returns how many heap bytes were allocated while fn ran.
func Allocated(fn func()) uint64 {
	s := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	fn()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// Linear is a declared bound: perByte heap bytes for every input byte plus
// fixed bytes, the shape of a decoder whose allocations follow its input.
func Linear(inputLen, perByte, fixed int) uint64 {
	return uint64(inputLen)*uint64(perByte) + uint64(fixed)
}

// Bounded runs fn and fails t if it allocated more than limit + Slack
// heap bytes. fn must be repeatable (it decodes into fresh values): an
// excess is measured once more before it fails, so a garbage collector's
// or another goroutine's burst is not taken for the decoder's.
func Bounded(t testing.TB, what string, limit uint64, fn func()) {
	t.Helper()
	got := Allocated(fn)
	if got <= limit+Slack {
		return
	}
	if again := Allocated(fn); again <= limit+Slack {
		return
	}
	t.Fatalf("%s allocated %d bytes, declared bound %d (+%d slack)", what, got, limit, Slack)
}
