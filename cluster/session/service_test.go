package session

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

func TestOpen(t *testing.T) {
	h := newHarness(t, true)
	s := h.open(t, 0)
	if !strings.HasPrefix(s.PID(), "n1/") || len(s.PID()) != len("n1/")+16 {
		t.Fatalf("pid = %q, want n1/<16 hex digits>", s.PID())
	}
	if s.TTL() != DefaultTTL {
		t.Fatalf("ttl = %s, want the default %s", s.TTL(), DefaultTTL)
	}
	if got, ok := h.svc.Lookup(s.PID()); !ok || got != s {
		t.Fatalf("Lookup(%s) = %v, %v", s.PID(), got, ok)
	}
	if h.svc.Len() != 1 {
		t.Fatalf("Len = %d, want 1", h.svc.Len())
	}
	if held := s.Held(); held["lock-of-"+s.PID()] != 7 {
		t.Fatalf("Held = %v, want what WithHeld reports", held)
	}
	for name, ttl := range map[string]time.Duration{"below": MinTTL - 1, "above": MaxTTL + 1, "negative": -time.Second} {
		t.Run(name, func(t *testing.T) {
			_, err := h.svc.Open(context.Background(), ttl)
			if !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), "ttl") {
				t.Fatalf("Open(ttl %s) = %v, want an invalid ttl", ttl, err)
			}
		})
	}
	if len(h.core.committed()) != 0 {
		t.Fatal("opening a session proposed something")
	}
}

// A session whose keepalives stop is reaped once its TTL lapses (and not
// before); its release is left pending for the release loop, which
// proposes it once.
func TestReapAfterTTL(t *testing.T) {
	h := newHarness(t, true)
	s := h.open(t, 2*time.Second)
	other := h.open(t, 10*time.Second)
	h.clock.Advance(1500 * time.Millisecond)
	h.svc.reap()
	s.Keepalive()
	h.clock.Advance(1500 * time.Millisecond) // 3s since open, 1.5s since the keepalive
	h.svc.reap()
	if isDone(s) {
		t.Fatal("a session was reaped within its TTL of its last keepalive")
	}
	h.clock.Advance(600 * time.Millisecond) // 2.1s since the keepalive
	h.svc.reap()
	if !isDone(s) {
		t.Fatal("a lapsed session was not reaped")
	}
	if _, ok := h.svc.Lookup(s.PID()); ok {
		t.Fatal("a reaped session can still be looked up")
	}
	if isDone(other) {
		t.Fatal("reaping ended a session within its TTL")
	}
	if got := h.endedPIDs(); !reflect.DeepEqual(got, []string{s.PID()}) {
		t.Fatalf("end hooks saw %v, want [%s]", got, s.PID())
	}
	if len(h.core.committed()) != 0 {
		t.Fatal("reap proposed (the release loop does)")
	}
	h.svc.retryPending(context.Background())
	want := []Release{ReleaseSession{PID: s.PID(), Now: h.clock.Now()}}
	if got := h.core.committed(); !reflect.DeepEqual(got, want) {
		t.Fatalf("released %v, want %v", got, want)
	}
	h.svc.reap()
	h.svc.retryPending(context.Background())
	if got := h.core.committed(); len(got) != 0 {
		t.Fatalf("released again: %v", got)
	}
	if err := s.Close(context.Background()); err != nil || len(h.core.committed()) != 0 {
		t.Fatalf("Close of a reaped session = %v and proposed again", err)
	}
}

// Close ends the session and proposes its release once, however often it
// is called; the end hooks run once.
func TestCloseReleasesOnce(t *testing.T) {
	h := newHarness(t, true)
	s := h.open(t, 0)
	for i := 0; i < 3; i++ {
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if !isDone(s) {
		t.Fatal("Done not closed after Close")
	}
	want := []Release{ReleaseSession{PID: s.PID(), Now: t0}}
	if got := h.core.committed(); !reflect.DeepEqual(got, want) {
		t.Fatalf("released %v, want %v", got, want)
	}
	if got := h.endedPIDs(); !reflect.DeepEqual(got, []string{s.PID()}) {
		t.Fatalf("end hooks saw %v, want [%s]", got, s.PID())
	}
	if h.svc.Emit(s.PID(), Event{Kind: EventLockLost}) {
		t.Fatal("Emit to an ended session reported it open")
	}
}

// A release that finds no quorum (or is refused) stays pending: Close
// says so, and the release loop retries it until it commits, once.
func TestPendingReleaseRetried(t *testing.T) {
	h := newHarness(t, true)
	a, b := h.open(t, 0), h.open(t, 0)
	h.core.set(func(c *fakeCore) { c.down = true })
	err := a.Close(context.Background())
	if !errors.Is(err, wire.ErrUnavailable) || !strings.Contains(err.Error(), "keeps retrying") {
		t.Fatalf("Close without quorum = %v", err)
	}
	if !isDone(a) {
		t.Fatal("a session whose release is pending is not ended locally")
	}
	h.core.set(func(c *fakeCore) { c.down, c.refuse = false, true })
	if err := b.Close(context.Background()); err == nil {
		t.Fatal("Close of a refused release succeeded")
	}
	h.core.set(func(c *fakeCore) { c.refuse, c.down = false, true })
	h.svc.retryPending(context.Background())
	if got := h.core.committed(); len(got) != 0 {
		t.Fatalf("committed without quorum: %v", got)
	}
	h.core.set(func(c *fakeCore) { c.down = false })
	h.svc.retryPending(context.Background())
	got := h.core.committed()
	if len(got) != 2 {
		t.Fatalf("retried %v, want both pending releases", got)
	}
	pids := map[string]bool{}
	for _, r := range got {
		pids[r.(ReleaseSession).PID] = true
	}
	if !pids[a.PID()] || !pids[b.PID()] {
		t.Fatalf("retried %v, want %s and %s", got, a.PID(), b.PID())
	}
	h.svc.retryPending(context.Background())
	if got := h.core.committed(); len(got) != 0 {
		t.Fatalf("released again: %v", got)
	}
}

// CloseAll ends every session locally, proposes nothing (the node
// releases itself in one entry) and refuses new sessions.
func TestCloseAll(t *testing.T) {
	h := newHarness(t, true)
	a, b := h.open(t, 0), h.open(t, 0)
	h.svc.CloseAll()
	if !isDone(a) || !isDone(b) || h.svc.Len() != 0 {
		t.Fatal("CloseAll left sessions open")
	}
	if got := len(h.endedPIDs()); got != 2 {
		t.Fatalf("end hooks ran %d times, want 2", got)
	}
	if _, err := h.svc.Open(context.Background(), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open after CloseAll = %v, want ErrClosed", err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.core.committed(); len(got) != 0 {
		t.Fatalf("CloseAll proposed %v", got)
	}
	if err := h.svc.ReleaseNode(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	if got := h.core.committed(); !reflect.DeepEqual(got, []Release{ReleaseNode{Node: "n1", Now: t0}}) {
		t.Fatalf("ReleaseNode proposed %v", got)
	}
}

// Events never block: a full buffer drops the oldest.
func TestEmitDropsOldest(t *testing.T) {
	h := newHarness(t, true)
	s := h.open(t, 0)
	for i := 0; i < eventBuffer+3; i++ {
		if !h.svc.Emit(s.PID(), Event{Kind: EventGroupMessage, Token: uint64(i)}) {
			t.Fatal("Emit to an open session reported it closed")
		}
	}
	if got := s.dropped.Load(); got != 3 {
		t.Fatalf("dropped %d, want 3", got)
	}
	if ev := <-s.Events(); ev.Token != 3 {
		t.Fatalf("oldest kept event = %d, want 3", ev.Token)
	}
	if h.svc.Emit("n1/nobody", Event{}) {
		t.Fatal("Emit to an unknown session reported it open")
	}
}

// On a data dir with state, sessions open only once the previous
// incarnation's sessions are released, by one release-node entry retried
// until it commits.
func TestReadyGateReleasesPreviousIncarnation(t *testing.T) {
	h := newHarness(t, false)
	h.core.set(func(c *fakeCore) { c.down = true })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.svc.releasePrevious(ctx)
	}()
	if r := h.core.nextCall(t); !reflect.DeepEqual(r, ReleaseNode{Node: "n1", Now: t0}) {
		t.Fatalf("first proposal = %v, want release-node n1", r)
	}
	expired, stop := context.WithCancel(context.Background())
	stop()
	if _, err := h.svc.Open(expired, 0); !errors.Is(err, wire.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Open before the previous sessions are released = %v, want unavailable", err)
	}
	if d := h.clock.awaitWaiting(t); d != 4*h.svc.cfg.Interval {
		t.Fatalf("retry after %s, want 4 intervals", d)
	}
	h.core.set(func(c *fakeCore) { c.down = false })
	h.clock.Advance(4 * h.svc.cfg.Interval)
	<-done
	want := []Release{ReleaseNode{Node: "n1", Now: t0.Add(4 * h.svc.cfg.Interval)}}
	if got := h.core.committed(); !reflect.DeepEqual(got, want) {
		t.Fatalf("committed %v, want %v", got, want)
	}
	if _, err := h.svc.Open(expired, 0); err != nil {
		t.Fatalf("Open once released: %v", err)
	}
}

// Run owns the start-up release (a session waiting in Open is let in when
// it commits), the duty loop that reaps and the release loop that
// proposes; it stops with its context.
func TestRun(t *testing.T) {
	h := newHarness(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- h.svc.Run(ctx) }()
	s, err := h.svc.Open(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	// round waits until both loops wait on the clock, then moves it by d.
	round := func(d time.Duration) {
		h.clock.awaitWaiting(t)
		h.clock.awaitWaiting(t)
		h.clock.Advance(d)
	}
	round(DefaultTTL + h.svc.cfg.Interval) // the duty loop reaps
	round(h.svc.cfg.Interval)              // the release loop proposes (if it ran before the reap)
	h.clock.awaitWaiting(t)
	h.clock.awaitWaiting(t)
	got := h.core.committed()
	if len(got) != 2 || !reflect.DeepEqual(got[0], ReleaseNode{Node: "n1", Now: t0}) {
		t.Fatalf("committed %v, want release-node n1 then the lapsed session", got)
	}
	if r, ok := got[1].(ReleaseSession); !ok || r.PID != s.PID() {
		t.Fatalf("committed %v, want the release of %s", got[1], s.PID())
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}
