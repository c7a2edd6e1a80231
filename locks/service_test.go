package locks

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

var bg = context.Background()

func TestServiceAcquireFailFastAndRelease(t *testing.T) {
	h := newHarness(t, true)
	tok, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{})
	if err != nil || tok != 1 {
		t.Fatalf("acquire: %d, %v; want token 1", tok, err)
	}
	if again, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{}); err != nil || again != tok {
		t.Fatalf("re-acquire: %d, %v; want the same token %d", again, err, tok)
	}
	_, err = h.svc.Acquire(bg, "n1/b", "job", AcquireOptions{})
	if !errors.Is(err, ErrHeld) || err.Error() != `acquire "job": lock "job" is held by n1/a` {
		t.Fatalf("acquire of a held lock: %v; want ErrHeld naming the holder, without sentinel text", err)
	}
	if got := h.svc.Held("n1/a"); !reflect.DeepEqual(got, map[string]uint64{"job": 1}) {
		t.Fatalf("held %v", got)
	}
	if err := h.svc.Release(bg, "n1/b", "job"); !errors.Is(err, ErrNotHolder) || !strings.Contains(err.Error(), "held by n1/a, not n1/b") {
		t.Fatalf("release by another session: %v", err)
	}
	if err := h.svc.Release(bg, "n1/a", "job"); err != nil {
		t.Fatal(err)
	}
	if got := h.svc.Held("n1/a"); len(got) != 0 {
		t.Fatalf("held after release: %v", got)
	}
	if _, err := h.svc.Inspect(bg, "job", wire.ReadDefault); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("inspect of a free lock: %v", err)
	}
	if len(h.svc.bySession) != 0 {
		t.Fatalf("bookkeeping left behind: %v", h.svc.bySession)
	}
}

func TestServiceRefusesBadInput(t *testing.T) {
	h := newHarness(t, true)
	tests := map[string]struct {
		call func() error
		want error
		text string
	}{
		"reserved name": {func() error { _, err := h.svc.Acquire(bg, "n1/a", "_sys/x", AcquireOptions{}); return err }, wire.ErrInvalid, "name:"},
		"negative wait": {func() error { _, err := h.svc.Acquire(bg, "n1/a", "x", AcquireOptions{Wait: -1}); return err }, wire.ErrInvalid, "wait: must not be negative"},
		"lock delay too big": {func() error {
			_, err := h.svc.Acquire(bg, "n1/a", "x", AcquireOptions{LockDelay: time.Hour})
			return err
		}, wire.ErrInvalid, "lock_delay: must be between 0 and 1m0s"},
		"unknown session":    {func() error { _, err := h.svc.Acquire(bg, "n1/zz", "x", AcquireOptions{}); return err }, wire.ErrNoSession, `"n1/zz" is not open on node n1`},
		"release no session": {func() error { return h.svc.Release(bg, "n1/zz", "x") }, wire.ErrNoSession, "not open"},
		"release bad name":   {func() error { return h.svc.Release(bg, "n1/a", "") }, wire.ErrInvalid, "name: must not be empty"},
		"inspect bad name":   {func() error { _, err := h.svc.Inspect(bg, "", wire.ReadStale); return err }, wire.ErrInvalid, "name:"},
		"list long prefix":   {func() error { _, err := h.svc.List(bg, strings.Repeat("p", 300), wire.ReadStale); return err }, wire.ErrInvalid, "prefix: longer than 256 bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %v; want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
	if n := len(h.core.applied); n != 0 {
		t.Fatalf("%d commands proposed for bad input", n)
	}
}

// A queued acquire on a Raft member is woken by the table's grant event,
// with a token above its own entry.
func TestServiceWaitGrantedByEvent(t *testing.T) {
	h := newHarness(t, true)
	if _, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	out := h.acquireAsync(bg, "n1/b", "job", AcquireOptions{Wait: time.Minute})
	eventually(t, "the acquire to wait", func() bool { return h.clock.activeTimers() == 2 })
	if err := h.svc.Release(bg, "n1/a", "job"); err != nil {
		t.Fatal(err)
	}
	o := wait(t, out)
	if o.err != nil || o.token != 3 {
		t.Fatalf("waited acquire: %d, %v; want the release's entry 3 as token", o.token, o.err)
	}
	if got := h.svc.Held("n1/b"); got["job"] != 3 {
		t.Fatalf("held %v", got)
	}
	if k := h.sessions.kinds("n1/b"); len(k) != 0 {
		t.Fatalf("a grant its acquire returned was also sent as a notice: %v", k)
	}
}

// On a client node (no events) the poll finds the grant.
func TestServiceWaitGrantedByPollOnClient(t *testing.T) {
	h := newHarness(t, false)
	if _, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	out := h.acquireAsync(bg, "n1/b", "job", AcquireOptions{Wait: time.Minute})
	eventually(t, "the acquire to wait", func() bool { return h.clock.activeTimers() == 2 })
	h.core.propose(t, Release{Name: "job", PID: "n1/a", Now: h.clock.Now()}.Marshal())
	h.clock.Advance(h.svc.cfg.PollClient)
	o := wait(t, out)
	if o.err != nil || o.token != 3 {
		t.Fatalf("polled acquire: %d, %v; want token 3", o.token, o.err)
	}
}

// A wait that runs out is cancelled in the table (nobody is left queued)
// and answered ErrWaitExpired naming the holder.
func TestServiceWaitExpires(t *testing.T) {
	h := newHarness(t, true)
	if _, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	out := h.acquireAsync(bg, "n1/b", "job", AcquireOptions{Wait: 5 * time.Second})
	eventually(t, "the acquire to wait", func() bool { return h.clock.activeTimers() == 2 })
	h.clock.Advance(5*time.Second + h.svc.cfg.PollMember)
	o := wait(t, out)
	if !errors.Is(o.err, ErrWaitExpired) || !strings.Contains(o.err.Error(), "after 5s (held by n1/a)") {
		t.Fatalf("expired acquire: %v", o.err)
	}
	info, err := h.svc.Inspect(bg, "job", wire.ReadDefault)
	if err != nil || len(info.Waiters) != 0 || info.Holder != "n1/a" {
		t.Fatalf("after the wait: %+v, %v; want n1/a holding with nobody queued", info, err)
	}
	if len(h.svc.Held("n1/b")) != 0 {
		t.Fatal("the expired waiter is recorded as holding")
	}
}

// The table's Tick expires a wait (the leader proposes it when due): the
// waiter is told at once.
func TestServiceTickIfDueExpiresWait(t *testing.T) {
	h := newHarness(t, true)
	if _, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.TickIfDue(bg); err != nil || len(h.core.applied) != 1 {
		t.Fatalf("tick with nothing due: %v, %d commands", err, len(h.core.applied))
	}
	out := h.acquireAsync(bg, "n1/b", "job", AcquireOptions{Wait: 2 * time.Second})
	eventually(t, "the acquire to wait", func() bool { return h.clock.activeTimers() == 2 })
	h.clock.Advance(time.Second)
	if err := h.svc.TickIfDue(bg); err != nil || len(h.core.applied) != 2 {
		t.Fatalf("tick before the deadline: %v, %d commands", err, len(h.core.applied))
	}
	h.clock.Advance(time.Second)
	if err := h.svc.TickIfDue(bg); err != nil {
		t.Fatal(err)
	}
	if o := wait(t, out); !errors.Is(o.err, ErrWaitExpired) {
		t.Fatalf("acquire after its wait expired in the table: %v", o.err)
	}
}

func TestServiceWaitEndsWithSessionOrContext(t *testing.T) {
	h := newHarness(t, true)
	if _, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	out := h.acquireAsync(bg, "n1/b", "job", AcquireOptions{Wait: time.Minute})
	eventually(t, "the acquire to wait", func() bool { return h.clock.activeTimers() == 2 })
	h.sessions.end(h.svc, "n1/b")
	if o := wait(t, out); !errors.Is(o.err, wire.ErrNoSession) {
		t.Fatalf("acquire whose session ended: %v", o.err)
	}

	ctx, cancel := context.WithCancel(bg)
	out = h.acquireAsync(ctx, "n1/c", "job", AcquireOptions{Wait: time.Minute})
	eventually(t, "the acquire to wait", func() bool { return h.clock.activeTimers() == 2 })
	cancel()
	if o := wait(t, out); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("cancelled acquire: %v", o.err)
	}
	info, err := h.svc.Inspect(bg, "job", wire.ReadDefault)
	if err != nil || len(info.Waiters) != 1 || info.Waiters[0].PID != "n1/b" {
		// n1/b's wait stays until its release-session; n1/c's was cancelled.
		t.Fatalf("queue %+v, %v; want only n1/b (its session's release is the node's)", info.Waiters, err)
	}
}

// A late event of an earlier acquire (index not above the waiting
// acquire's) does not answer the waiting one.
func TestServiceIgnoresStaleWake(t *testing.T) {
	h := newHarness(t, true)
	if _, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	out := h.acquireAsync(bg, "n1/b", "job", AcquireOptions{Wait: time.Minute})
	eventually(t, "the acquire to wait", func() bool { return h.clock.activeTimers() == 2 })
	h.svc.Deliver([]IndexedEvent{{Event: Event{Kind: WaitExpired, Name: "job", PID: "n1/b"}, Index: 1}})
	h.svc.Deliver([]IndexedEvent{{Event: Event{Kind: Granted, Name: "job", PID: "n1/b", Token: 2}, Index: 2}})
	select {
	case o := <-out:
		t.Fatalf("a stale event answered the acquire: %+v", o)
	default:
	}
	if err := h.svc.Release(bg, "n1/a", "job"); err != nil {
		t.Fatal(err)
	}
	if o := wait(t, out); o.err != nil || o.token != 3 {
		t.Fatalf("acquire: %+v", o)
	}
}

func TestServiceDeliverNotices(t *testing.T) {
	h := newHarness(t, true)
	if _, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	// Queued by an acquire that gave up before the grant came.
	h.core.propose(t, Acquire{Name: "job", PID: "n1/b", Wait: time.Hour, Now: h.clock.Now()}.Marshal())
	// Someone else's session and another node's are not ours to tell.
	h.core.propose(t, Acquire{Name: "other", PID: "n2/x", Now: h.clock.Now()}.Marshal())
	rs := wire.Command(TableID, 3) // the envelope's release-session
	rs.String("n1/a")
	rs.Uvarint(commandNanos(h.clock.Now()))
	h.core.propose(t, rs.Data())
	if k := h.sessions.kinds("n1/a"); !reflect.DeepEqual(k, []NoticeKind{NoticeLost}) {
		t.Fatalf("n1/a told %v; want lock_lost", k)
	}
	if k := h.sessions.kinds("n1/b"); !reflect.DeepEqual(k, []NoticeKind{NoticeGranted}) {
		t.Fatalf("n1/b told %v; want lock_granted", k)
	}
	if got := h.svc.Held("n1/b"); got["job"] != 4 {
		t.Fatalf("n1/b holds %v; want job with token 4", got)
	}
	h.sessions.end(h.svc, "n1/b")
	if _, ok := h.svc.bySession["n1/b"]; ok {
		t.Fatal("an ended session's locks are still kept")
	}
	// Events for a session that ended make no entry.
	h.svc.Deliver([]IndexedEvent{{Event: Event{Kind: Granted, Name: "x", PID: "n1/b", Token: 9}, Index: 9}})
	if _, ok := h.svc.bySession["n1/b"]; ok {
		t.Fatal("an event made an entry for an ended session")
	}
}

// A full queue is ErrUnavailable to the caller (try again later).
func TestServiceQueueFullIsUnavailable(t *testing.T) {
	h := newHarness(t, true)
	h.core.propose(t, Acquire{Name: "hot", PID: "n2/h", Now: h.clock.Now()}.Marshal())
	for i := 0; i < MaxWaiters; i++ {
		h.core.propose(t, Acquire{Name: "hot", PID: fmt.Sprintf("n2/w%d", i), Wait: time.Hour, Now: h.clock.Now()}.Marshal())
	}
	_, err := h.svc.Acquire(bg, "n1/a", "hot", AcquireOptions{Wait: time.Second})
	if !errors.Is(err, wire.ErrUnavailable) || !strings.Contains(err.Error(), "already has 1024 waiters") {
		t.Fatalf("acquire on a full queue: %v", err)
	}
}

func TestServiceProposalErrorsPassThrough(t *testing.T) {
	h := newHarness(t, true)
	h.core.set(func(c *fakeCore) { c.down = true })
	if _, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{}); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("acquire without quorum: %v", err)
	}
	if err := h.svc.Release(bg, "n1/a", "job"); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("release without quorum: %v", err)
	}
	if _, err := h.svc.List(bg, "", wire.ReadDefault); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("list without a leader: %v", err)
	}
	if _, err := h.svc.List(bg, "", wire.ReadStale); err != nil {
		t.Fatalf("stale list: %v", err)
	}
}

// Contact: a member that loses its leader tells holders lock_at_risk once
// per grant; when contact is back the leader confirms lock_safe, or
// lock_lost for a lock the cluster released meanwhile.
func TestServiceContactAtRiskSafeLost(t *testing.T) {
	h := newHarness(t, true)
	for _, l := range []struct{ pid, name string }{{"n1/a", "kept"}, {"n1/b", "lost"}} {
		if _, err := h.svc.Acquire(bg, l.pid, l.name, AcquireOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	h.svc.CheckContact(bg)
	h.core.set(func(c *fakeCore) { c.status = CoreStatus{Member: true} })
	h.clock.Advance(time.Second)
	h.svc.CheckContact(bg)
	if k := h.sessions.kinds("n1/a"); len(k) != 0 {
		t.Fatalf("told %v before AtRiskAfter", k)
	}
	h.clock.Advance(time.Second)
	h.svc.CheckContact(bg)
	h.clock.Advance(time.Second)
	h.svc.CheckContact(bg) // told once per grant
	for _, pid := range []string{"n1/a", "n1/b"} {
		if k := h.sessions.kinds(pid); !reflect.DeepEqual(k, []NoticeKind{NoticeAtRisk}) {
			t.Fatalf("%s told %v; want one lock_at_risk", pid, k)
		}
	}
	// While out of contact, the cluster gave "lost" away; this replica
	// has not applied it (nothing delivered).
	h.core.table.notify = func([]IndexedEvent) {}
	h.core.propose(t, Release{Name: "lost", PID: "n1/b", Now: h.clock.Now()}.Marshal())
	h.core.propose(t, Acquire{Name: "lost", PID: "n2/x", Now: h.clock.Now()}.Marshal())
	// Contact back, but the leader cannot answer yet: nobody is told.
	h.core.set(func(c *fakeCore) { c.status = CoreStatus{Member: true, LeaderKnown: true}; c.down = true })
	h.svc.CheckContact(bg)
	if k := h.sessions.kinds("n1/a"); len(k) != 1 {
		t.Fatalf("told %v before the leader confirmed", k)
	}
	h.core.set(func(c *fakeCore) { c.down = false })
	h.svc.CheckContact(bg)
	if k := h.sessions.kinds("n1/a"); !reflect.DeepEqual(k, []NoticeKind{NoticeAtRisk, NoticeSafe}) {
		t.Fatalf("n1/a told %v; want at risk, then safe", k)
	}
	if k := h.sessions.kinds("n1/b"); !reflect.DeepEqual(k, []NoticeKind{NoticeAtRisk, NoticeLost}) {
		t.Fatalf("n1/b told %v; want at risk, then lost", k)
	}
	if len(h.svc.Held("n1/b")) != 0 {
		t.Fatal("a lost lock is still recorded as held")
	}
	h.svc.CheckContact(bg) // nothing more to say
	if k := h.sessions.kinds("n1/a"); len(k) != 2 {
		t.Fatalf("n1/a told again: %v", k)
	}
}

// A client node has no heartbeat: it pings the leader, at most every
// AtRiskAfter/4, and is at risk when the pings fail.
func TestServiceContactClientPings(t *testing.T) {
	h := newHarness(t, false)
	if _, err := h.svc.Acquire(bg, "n1/a", "job", AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	h.core.set(func(c *fakeCore) { c.pingErr = wire.ErrUnavailable })
	h.svc.CheckContact(bg) // pings (first time), fails
	h.svc.CheckContact(bg) // too soon to ping again
	if h.core.pings != 1 {
		t.Fatalf("%d pings, want 1", h.core.pings)
	}
	for i := 0; i < 4; i++ {
		h.clock.Advance(h.svc.cfg.AtRiskAfter / 4)
		h.svc.CheckContact(bg)
	}
	if k := h.sessions.kinds("n1/a"); !reflect.DeepEqual(k, []NoticeKind{NoticeAtRisk}) {
		t.Fatalf("told %v; want lock_at_risk", k)
	}
	h.core.set(func(c *fakeCore) { c.pingErr = nil })
	h.clock.Advance(h.svc.cfg.AtRiskAfter / 4)
	h.svc.CheckContact(bg)
	if k := h.sessions.kinds("n1/a"); !reflect.DeepEqual(k, []NoticeKind{NoticeAtRisk, NoticeSafe}) {
		t.Fatalf("told %v; want at risk, then safe", k)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"no node":       {AtRiskAfter: 1, PollMember: 1, PollClient: 1},
		"zero at risk":  {Node: "n1", PollMember: 1, PollClient: 1},
		"negative poll": {Node: "n1", AtRiskAfter: 1, PollMember: -1, PollClient: 1},
	} {
		if err := c.Validate(); !errors.Is(err, wire.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, c := range []Config{DefaultConfig("n1"), DefaultLocalConfig("n1")} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
