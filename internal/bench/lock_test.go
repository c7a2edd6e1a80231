package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// cycle is one acquire (fail-fast) and release of name by s.
func cycle(ctx context.Context, s *client.Session, name string) error {
	l, err := s.Lock(ctx, name)
	if err != nil {
		return err
	}
	return l.Unlock(ctx)
}

// BenchmarkLockAcquireRelease1: one session, on a follower (where two of
// three clients of a 3-node cluster land), acquiring and releasing one
// lock back to back: the latency of two forwarded Raft commits.
func BenchmarkLockAcquireRelease1(b *testing.B) {
	r := NewReport(b, "LockAcquireRelease1: one session on a follower, acquire+release of one lock")
	c := startCluster(b, r)
	s := c.Sessions([]*testcluster.Node{c.Follower()})[0]
	run := Drive(b, 1, DefaultConfig().OpTimeout, func(ctx context.Context, _ int) error {
		return cycle(ctx, s, "bench/lock1")
	})
	reportLatency(r, run, "cycles/s", AtLeast(600), AtMost(1.5))
	r.Log()
}

// BenchmarkLockAcquireRelease16: 16 sessions spread over the nodes, each
// cycling its own lock: no contention, so the rate is how well concurrent
// proposals share Raft batches and disk syncs.
func BenchmarkLockAcquireRelease16(b *testing.B) { benchDistinctLocks(b, 16) }

// BenchmarkLockAcquireRelease64 is BenchmarkLockAcquireRelease16 with 64
// sessions.
func BenchmarkLockAcquireRelease64(b *testing.B) { benchDistinctLocks(b, 64) }

func benchDistinctLocks(b *testing.B, sessions int) {
	r := NewReport(b, fmt.Sprintf("LockAcquireRelease%d: %d sessions spread over 3 nodes, each acquire+release of its own lock", sessions, sessions))
	c := startCluster(b, r)
	ss := c.Sessions(c.Spread(sessions))
	names := make([]string, sessions)
	for i := range names {
		names[i] = fmt.Sprintf("bench/lock%d/%02d", sessions, i)
	}
	run := Drive(b, sessions, DefaultConfig().OpTimeout, func(ctx context.Context, w int) error {
		return cycle(ctx, ss[w], names[w])
	})
	reportLatency(r, run, "cycles/s", AtLeast(2200), Target{})
	r.Log()
}

// BenchmarkLockHandoff16: 16 sessions spread over the nodes contend for
// ONE lock, queueing with Wait; each that is granted releases at once and
// queues again. One operation is one grant, so the rate counts hand-offs
// (a release and the next grant share one Raft entry). The wait of each
// acquire and the share of grants per session show how fair the queue is.
func BenchmarkLockHandoff16(b *testing.B) {
	const sessions = 16
	r := NewReport(b, "LockHandoff16: 16 sessions spread over 3 nodes queue (Wait) for one lock; grant, release, queue again")
	c := startCluster(b, r)
	ss := c.Sessions(c.Spread(sessions))
	timeout := DefaultConfig().OpTimeout
	waits := make([][]time.Duration, sessions) // per worker: only worker w touches waits[w]
	run := Drive(b, sessions, timeout, func(ctx context.Context, w int) error {
		t0 := time.Now()
		// The wait must end before ctx does, or a slow grant would show as
		// a cancelled call instead of an expired wait.
		l, err := ss[w].Lock(ctx, "bench/handoff", client.Wait(timeout/2))
		if err != nil {
			return err
		}
		waits[w] = append(waits[w], time.Since(t0))
		return l.Unlock(ctx)
	})
	var all []time.Duration
	for _, ws := range waits {
		if len(ws) > 1 {
			all = append(all, ws[1:]...) // the first was Drive's untimed warm-up
		}
	}
	ws := Summarize(all)
	r.Metric("handoffs/s", run.Rate(), AtLeast(375))
	r.Metric("wait_p50_ms", Millis(ws.P50), Target{})
	r.Metric("wait_p99_ms", Millis(ws.P99), Target{})
	r.Metric("max_wait_ms", Millis(ws.Max), Target{})
	r.Metric("cpu_%", run.CPUPercent(), Target{})
	r.Note("%d hand-offs in %s; grants per session min %d, max %d (a FIFO queue gives every session the same share)",
		run.Ops, run.Elapsed.Round(time.Millisecond), slices.Min(run.PerWorker), slices.Max(run.PerWorker))
	r.Note("a strict FIFO bounds every wait by %d hand-offs: at the measured rate about %.1f ms",
		sessions-1, float64(sessions-1)/run.Rate()*1000)
	r.Log()
}

// BenchmarkSemaphoreAcquireRelease16: 16 sessions spread over the nodes
// cycle a slot of ONE semaphore (acquire with Wait, release). With limit
// 16 nobody queues: the rate compares with LockAcquireRelease16. With limit
// 4, twelve sessions queue at any time and a release hands its slot on in
// the same Raft entry.
func BenchmarkSemaphoreAcquireRelease16(b *testing.B) {
	for _, limit := range []int{16, 4} {
		b.Run(fmt.Sprintf("limit%d", limit), func(b *testing.B) {
			const sessions = 16
			r := NewReport(b, fmt.Sprintf("SemaphoreAcquireRelease16/limit%d: 16 sessions spread over 3 nodes, acquire (Wait)+release of one semaphore of %d", limit, limit))
			c := startCluster(b, r)
			ss := c.Sessions(c.Spread(sessions))
			timeout := DefaultConfig().OpTimeout
			name := fmt.Sprintf("bench/sem%d", limit)
			run := Drive(b, sessions, timeout, func(ctx context.Context, w int) error {
				slot, err := ss[w].Semaphore(ctx, name, limit, client.Wait(timeout/2))
				if err != nil {
					return err
				}
				return slot.Release(ctx)
			})
			reportLatency(r, run, "cycles/s", Target{}, Target{})
			r.Note("grants per session min %d, max %d", slices.Min(run.PerWorker), slices.Max(run.PerWorker))
			r.Log()
		})
	}
}
