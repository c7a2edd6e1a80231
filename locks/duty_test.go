package locks

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Run is the lock duties' loop: on the leader it proposes a Tick once a
// lock delay runs out; on every node it checks contact (lock_at_risk). It
// stops with its context.
func TestServiceRun(t *testing.T) {
	h := newHarness(t, true)
	if _, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{LockDelay: time.Second}); err != nil {
		t.Fatal(err)
	}
	// The session ends: the lock is free but delayed for a second.
	rel := wire.Command(TableID, 3)
	rel.String("n1/a")
	rel.Time(h.clock.Now())
	h.core.propose(t, rel.Data())
	applied := func() int {
		h.core.mu.Lock()
		defer h.core.mu.Unlock()
		return len(h.core.applied)
	}
	before := applied()

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- h.svc.Run(ctx) }()
	// rounds lets Run's loop go round n times.
	rounds := func(n int) {
		for i := 0; i < n; i++ {
			eventually(t, "Run to wait", func() bool { return h.clock.activeTimers() == 1 })
			h.clock.Advance(h.svc.cfg.DutyInterval)
		}
		eventually(t, "Run to wait", func() bool { return h.clock.activeTimers() == 1 })
	}
	rounds(int(time.Second/h.svc.cfg.DutyInterval) - 1)
	if applied() != before {
		t.Fatal("ticked before the lock delay ran out")
	}
	rounds(1)
	if applied() != before+1 {
		t.Fatalf("%d commands after the lock delay ran out, want one tick", applied()-before)
	}
	h.core.mu.Lock()
	_, op, _, err := wire.ParseCommand(h.core.applied[len(h.core.applied)-1])
	h.core.mu.Unlock()
	if err != nil || op != 5 {
		t.Fatalf("proposed op %d (%v), want a tick (5)", op, err)
	}

	// A node that loses its leader: the holder of a lock is told.
	if _, err := h.svc.Acquire(bg, "n1/b", "other", AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	h.core.set(func(c *fakeCore) { c.status = CoreStatus{Member: true} })
	rounds(int(h.svc.cfg.AtRiskAfter/h.svc.cfg.DutyInterval) + 1)
	if k := h.sessions.kinds("n1/b"); !reflect.DeepEqual(k, []NoticeKind{NoticeAtRisk}) {
		t.Fatalf("n1/b told %v, want lock_at_risk", k)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}
