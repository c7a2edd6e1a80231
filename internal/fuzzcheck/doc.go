// Package fuzzcheck holds what the fuzz targets of the decoders share: a
// check that one decode allocates no more than its declared bound, so a
// length prefix read off the wire or a snapshot can never make a decoder
// allocate more than its input allows.
//
// Only tests import it. It reads the runtime's cumulative heap-allocation
// counter (runtime/metrics), which does not stop the world, so a fuzz
// target keeps its speed. That counter sees large allocations (above
// 32 KiB, the ones a lying length prefix causes) at once and small ones
// late, when a span is refilled; Slack covers that lag and the little that
// other goroutines of the test binary allocate meanwhile.
package fuzzcheck
