package cluster_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// Lock fault tests (DESIGN §7) on real in-process clusters. Sessions get a
// long TTL unless the test is about the TTL, so a slow CI machine cannot
// end them by accident.
const lkTTL = time.Minute

func lkSession(t *testing.T, n *testcluster.Node, ttl time.Duration) *cluster.Session {
	t.Helper()
	s, err := n.OpenSession(ctxT(t), ttl)
	if err != nil {
		t.Fatalf("open a session on %s: %v", n.Name, err)
	}
	return s
}

func lkAcquire(t *testing.T, n *testcluster.Node, s *cluster.Session, name string, opts cluster.AcquireOptions) uint64 {
	t.Helper()
	tok, err := n.Locks().Acquire(ctxT(t), s.PID(), name, opts)
	if err != nil {
		t.Fatalf("acquire %q by %s on %s: %v", name, s.PID(), n.Name, err)
	}
	return tok
}

func lkRelease(t *testing.T, n *testcluster.Node, s *cluster.Session, name string) {
	t.Helper()
	if err := n.Locks().Release(ctxT(t), s.PID(), name); err != nil {
		t.Fatalf("release %q by %s on %s: %v", name, s.PID(), n.Name, err)
	}
}

// lkGrant is the outcome of a waiting acquire run in the background.
type lkGrant struct {
	token uint64
	err   error
	at    time.Time // when Locks().Acquire returned
}

// lkAcquireAsync starts a waiting acquire on node n. The goroutine ends when
// Locks().Acquire returns, which the wait and the test's context bound.
func lkAcquireAsync(t *testing.T, n *cluster.Node, pid, name string, opts cluster.AcquireOptions) <-chan lkGrant {
	ch := make(chan lkGrant, 1)
	ctx := ctxT(t)
	go func() {
		tok, err := n.Locks().Acquire(ctx, pid, name, opts)
		ch <- lkGrant{token: tok, err: err, at: time.Now()}
	}()
	return ch
}

func lkAwaitGrant(t *testing.T, ch <-chan lkGrant, timeout time.Duration, what string) lkGrant {
	t.Helper()
	select {
	case g := <-ch:
		if g.err != nil {
			t.Fatalf("%s: acquire failed: %v", what, g.err)
		}
		return g
	case <-time.After(timeout):
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
	return lkGrant{}
}

func lkNotYet(t *testing.T, ch <-chan lkGrant, what string) {
	t.Helper()
	select {
	case g := <-ch:
		t.Fatalf("%s returned early: token %d, err %v", what, g.token, g.err)
	default:
	}
}

// lkInspect reads the lock through the leader (ReadDefault), so it sees
// every change acknowledged before it. A free lock is the zero LockInfo.
func lkInspect(t *testing.T, n *testcluster.Node, name string) cluster.LockInfo {
	t.Helper()
	info, err := n.Locks().Inspect(ctxT(t), name, cluster.ReadDefault)
	if err != nil && !errors.Is(err, cluster.ErrNotFound) {
		t.Fatalf("inspect %q via %s: %v", name, n.Name, err)
	}
	return info
}

func lkWaiters(info cluster.LockInfo) []string {
	var out []string
	for _, w := range info.Waiters {
		out = append(out, w.PID)
	}
	return out
}

// lkWaitQueue waits until the lock's queue is exactly pids, in order.
func lkWaitQueue(t *testing.T, n *testcluster.Node, name string, pids ...string) {
	t.Helper()
	testcluster.WaitFor(t, 15*time.Second, fmt.Sprintf("the queue of %q to be %v", name, pids), func() bool {
		info, err := n.Locks().Inspect(ctxT(t), name, cluster.ReadDefault)
		return err == nil && slices.Equal(lkWaiters(info), pids)
	})
}

// lkAwaitEvent reads the session's events until one of kind arrives and
// returns every event read, that one last.
func lkAwaitEvent(t *testing.T, s *cluster.Session, kind cluster.SessionEventKind, timeout time.Duration) []cluster.SessionEvent {
	t.Helper()
	var seen []cluster.SessionEvent
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-s.Events():
			seen = append(seen, *ev)
			if ev.Kind == kind {
				return seen
			}
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s on %s; saw %+v", timeout, kind, s.PID(), seen)
			return nil
		}
	}
}

func lkKinds(evs []cluster.SessionEvent) []cluster.SessionEventKind {
	var out []cluster.SessionEventKind
	for _, ev := range evs {
		out = append(out, ev.Kind)
	}
	return out
}

// lkFollowers returns the running nodes other than the leader.
func lkFollowers(c *testcluster.Cluster, leader *testcluster.Node) []*testcluster.Node {
	var out []*testcluster.Node
	for _, n := range c.Running() {
		if n != leader {
			out = append(out, n)
		}
	}
	return out
}

func TestLockFailFastNamesHolderAndReacquireKeepsToken(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	f := lkFollowers(c, leader)
	a, b := lkSession(t, f[0], lkTTL), lkSession(t, f[1], lkTTL)
	const name = "ff/job"

	tok := lkAcquire(t, f[0], a, name, cluster.AcquireOptions{})
	_, err := f[1].Locks().Acquire(ctxT(t), b.PID(), name, cluster.AcquireOptions{})
	if !errors.Is(err, cluster.ErrLockHeld) || !strings.Contains(err.Error(), a.PID()) {
		t.Fatalf("second session's acquire: %v, want ErrLockHeld naming the holder %s", err, a.PID())
	}
	// The holder acquiring again, fail-fast or with a wait, gets its grant back.
	for _, opts := range []cluster.AcquireOptions{{}, {Wait: time.Second}} {
		if again := lkAcquire(t, f[0], a, name, opts); again != tok {
			t.Fatalf("re-acquire with %+v: token %d, want the original %d", opts, again, tok)
		}
	}
	info := lkInspect(t, leader, name)
	if info.Holder != a.PID() || info.Token != tok || len(info.Waiters) != 0 {
		t.Fatalf("lock after the refused acquire and the re-acquires: %+v, want holder %s token %d and no waiters", info, a.PID(), tok)
	}
	if held := a.Held(); held[name] != tok {
		t.Fatalf("holder's session lists %v, want %s with token %d", held, name, tok)
	}
}

func TestLockWaitersGrantedInFIFOOrderAcrossNodes(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	c.WaitLeader(20 * time.Second)
	ns := c.Running()
	const name = "fifo/res"
	holder := lkSession(t, ns[0], lkTTL)
	prev := lkAcquire(t, ns[0], holder, name, cluster.AcquireOptions{})

	// Three waiters on three nodes join the queue one at a time, so the
	// order they queued in is known.
	type waiter struct {
		n  *testcluster.Node
		s  *cluster.Session
		ch <-chan lkGrant
	}
	var ws []waiter
	var pids []string
	for _, n := range []*testcluster.Node{ns[1], ns[2], ns[0]} {
		s := lkSession(t, n, lkTTL)
		ch := lkAcquireAsync(t, n.Node, s.PID(), name, cluster.AcquireOptions{Wait: 20 * time.Second})
		pids = append(pids, s.PID())
		lkWaitQueue(t, ns[0], name, pids...)
		ws = append(ws, waiter{n, s, ch})
	}

	relN, relS := ns[0], holder
	for i, w := range ws {
		lkRelease(t, relN, relS, name)
		g := lkAwaitGrant(t, w.ch, 15*time.Second, fmt.Sprintf("waiter %d (%s) granted", i+1, w.s.PID()))
		if g.token <= prev {
			t.Fatalf("waiter %d granted token %d, not above the previous grant's %d", i+1, g.token, prev)
		}
		info := lkInspect(t, ns[0], name)
		if info.Holder != w.s.PID() || info.Token != g.token || !slices.Equal(lkWaiters(info), pids[i+1:]) {
			t.Fatalf("after grant %d: %+v, want holder %s token %d waiters %v", i+1, info, w.s.PID(), g.token, pids[i+1:])
		}
		for j, later := range ws[i+1:] {
			lkNotYet(t, later.ch, fmt.Sprintf("waiter %d", i+j+2))
		}
		prev, relN, relS = g.token, w.n, w.s
	}
	lkRelease(t, relN, relS, name)
	if info := lkInspect(t, ns[0], name); info.Holder != "" {
		t.Fatalf("lock after the last release: %+v, want free", info)
	}
}

// A grant to a waiter on a follower is also told to the follower by the
// leader (a grant hint), which the follower takes; nobody refuses one.
func TestLockGrantHintReachesTheWaitersNode(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	follower := lkFollowers(c, leader)[0]
	const name = "hint/res"
	holder := lkSession(t, leader, lkTTL)
	lkAcquire(t, leader, holder, name, cluster.AcquireOptions{})
	w := lkSession(t, follower, lkTTL)
	ch := lkAcquireAsync(t, follower.Node, w.PID(), name, cluster.AcquireOptions{Wait: 20 * time.Second})
	lkWaitQueue(t, leader, name, w.PID())
	lkRelease(t, leader, holder, name)
	g := lkAwaitGrant(t, ch, 15*time.Second, "the follower's waiter granted")
	if info := lkInspect(t, leader, name); info.Holder != w.PID() || info.Token != g.token {
		t.Fatalf("after the grant: %+v, want holder %s token %d", info, w.PID(), g.token)
	}
	testcluster.WaitFor(t, 10*time.Second, "the follower to take the leader's grant hint", func() bool {
		got, _ := follower.GrantHints()
		return got >= 1
	})
	for _, n := range c.Running() {
		if _, refused := n.GrantHints(); refused != 0 {
			t.Fatalf("%s refused %d grant hints from its leader", n.Name, refused)
		}
	}
}

func TestLockBadReleasesAndBadInputChangeNothing(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	f := lkFollowers(c, leader)
	const name = "bad/res"
	holder, other := lkSession(t, f[0], lkTTL), lkSession(t, f[1], lkTTL)
	tok := lkAcquire(t, f[0], holder, name, cluster.AcquireOptions{})
	before := lkInspect(t, leader, name)

	err := f[1].Locks().Release(ctxT(t), other.PID(), name)
	if !errors.Is(err, cluster.ErrNotHolder) || !strings.Contains(err.Error(), holder.PID()) {
		t.Fatalf("release by a non-holder: %v, want ErrNotHolder naming the holder %s", err, holder.PID())
	}
	unknown := f[0].Name + "/00000000deadbeef"
	if err := f[0].Locks().Release(ctxT(t), unknown, name); !errors.Is(err, cluster.ErrNoSession) || !strings.Contains(err.Error(), unknown) {
		t.Fatalf("release by an unknown PID: %v, want ErrNoSession naming it", err)
	}
	// A session open on another node is unknown here: lock calls go to the
	// session's own node.
	if err := f[0].Locks().Release(ctxT(t), other.PID(), name); !errors.Is(err, cluster.ErrNoSession) {
		t.Fatalf("release on the wrong node: %v, want ErrNoSession", err)
	}

	long := strings.Repeat("x", 257)
	tests := map[string]struct {
		call  func() error
		field string
	}{
		"acquire empty name": {func() error {
			_, err := f[1].Locks().Acquire(ctxT(t), other.PID(), "", cluster.AcquireOptions{})
			return err
		}, "name"},
		"acquire name of 257 bytes": {func() error {
			_, err := f[1].Locks().Acquire(ctxT(t), other.PID(), long, cluster.AcquireOptions{})
			return err
		}, "name"},
		"acquire reserved prefix": {func() error {
			_, err := f[1].Locks().Acquire(ctxT(t), other.PID(), "_sys/x", cluster.AcquireOptions{})
			return err
		}, "name"},
		"acquire negative wait": {func() error {
			_, err := f[1].Locks().Acquire(ctxT(t), other.PID(), name, cluster.AcquireOptions{Wait: -time.Second})
			return err
		}, "wait"},
		"acquire lock_delay over the limit": {func() error {
			_, err := f[1].Locks().Acquire(ctxT(t), other.PID(), name, cluster.AcquireOptions{LockDelay: 2 * time.Minute})
			return err
		}, "lock_delay"},
		"release empty name": {func() error { return f[0].Locks().Release(ctxT(t), holder.PID(), "") }, "name"},
		"release name of 257 bytes": {func() error {
			return f[0].Locks().Release(ctxT(t), holder.PID(), long)
		}, "name"},
		"release reserved prefix": {func() error { return f[0].Locks().Release(ctxT(t), holder.PID(), "_sys/x") }, "name"},
		"inspect empty name": {func() error {
			_, err := f[0].Locks().Inspect(ctxT(t), "", cluster.ReadDefault)
			return err
		}, "name"},
		"list prefix of 257 bytes": {func() error {
			_, err := f[0].Locks().List(ctxT(t), long, cluster.ReadDefault)
			return err
		}, "prefix"},
	}
	for tname, tc := range tests {
		t.Run(tname, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, cluster.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("%v, want ErrInvalidArgument naming the field %q", err, tc.field)
			}
		})
	}

	after := lkInspect(t, leader, name)
	if after.Holder != holder.PID() || after.Token != tok || !after.GrantedAt.Equal(before.GrantedAt) || len(after.Waiters) != 0 {
		t.Fatalf("the lock changed: before %+v, after %+v", before, after)
	}
	all, err := leader.Locks().List(ctxT(t), "", cluster.ReadDefault)
	if err != nil || len(all) != 1 || all[0].Name != name {
		t.Fatalf("locks after the refused calls: %+v %v, want only %q", all, err, name)
	}
	if held := other.Held(); len(held) != 0 {
		t.Fatalf("the refused session lists %v as held", held)
	}
}

func TestLockAutoReleaseOnCloseAndTTLGrantsWaiterOnAnotherNode(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	f := lkFollowers(c, leader)

	t.Run("close", func(t *testing.T) {
		const name = "auto/close"
		holder := lkSession(t, f[0], lkTTL)
		tok := lkAcquire(t, f[0], holder, name, cluster.AcquireOptions{})
		waiter := lkSession(t, f[1], lkTTL)
		ch := lkAcquireAsync(t, f[1].Node, waiter.PID(), name, cluster.AcquireOptions{Wait: 20 * time.Second})
		lkWaitQueue(t, leader, name, waiter.PID())
		if err := holder.Close(ctxT(t)); err != nil {
			t.Fatalf("close the holder's session: %v", err)
		}
		g := lkAwaitGrant(t, ch, 15*time.Second, "the waiter granted after the holder's session closed")
		if g.token <= tok {
			t.Fatalf("waiter's token %d not above the closed holder's %d", g.token, tok)
		}
		if err := f[0].Locks().Release(ctxT(t), holder.PID(), name); !errors.Is(err, cluster.ErrNoSession) {
			t.Fatalf("release by the closed session: %v, want ErrNoSession", err)
		}
	})

	t.Run("ttl", func(t *testing.T) {
		const name = "auto/ttl"
		// No keepalive: the session lapses a second after it opened.
		holder := lkSession(t, f[0], time.Second)
		tok := lkAcquire(t, f[0], holder, name, cluster.AcquireOptions{})
		waiter := lkSession(t, leader, lkTTL)
		ch := lkAcquireAsync(t, leader.Node, waiter.PID(), name, cluster.AcquireOptions{Wait: 20 * time.Second})
		g := lkAwaitGrant(t, ch, 15*time.Second, "the waiter granted after the holder's TTL lapsed")
		select {
		case <-holder.Done():
		default:
			t.Fatalf("the waiter was granted (token %d) while the holder's session is still open", g.token)
		}
		if g.token <= tok {
			t.Fatalf("waiter's token %d not above the lapsed holder's %d", g.token, tok)
		}
		if info := lkInspect(t, leader, name); info.Holder != waiter.PID() || info.Token != g.token {
			t.Fatalf("lock %+v, want held by the waiter %s with token %d", info, waiter.PID(), g.token)
		}
	})
}

func TestLockNodeLossGrantsWaiterAndRestartReleases(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	f := lkFollowers(c, leader)

	t.Run("kill", func(t *testing.T) {
		const name = "loss/kill"
		victim := f[0]
		holder := lkSession(t, victim, lkTTL)
		tok := lkAcquire(t, victim, holder, name, cluster.AcquireOptions{})
		waiter := lkSession(t, f[1], lkTTL)
		ch := lkAcquireAsync(t, f[1].Node, waiter.PID(), name, cluster.AcquireOptions{Wait: 20 * time.Second})
		lkWaitQueue(t, leader, name, waiter.PID())

		start := time.Now()
		c.Kill(victim)
		// The deadline is a bound for the test, not a speed claim: gossip
		// must find the node dead and the leader wait out the grace.
		g := lkAwaitGrant(t, ch, 15*time.Second, "the waiter granted after the holder's node was killed")
		t.Logf("waiter granted %s after the holder's node was killed", g.at.Sub(start).Round(time.Millisecond))
		if g.token <= tok {
			t.Fatalf("waiter's token %d not above the dead holder's %d", g.token, tok)
		}
		// The leader logs after its release entry commits, which may be
		// after the waiter hears of its grant.
		testcluster.WaitFor(t, 10*time.Second, "the leader's log line declaring "+victim.Name+" gone", func() bool {
			return c.LogsContain(`"peer":"` + victim.Name + `","gone_for"`)
		})
		lkRelease(t, f[1], waiter, name)
		c.Restart(victim)
		c.WaitLeader(20 * time.Second)
	})

	t.Run("restart", func(t *testing.T) {
		const name = "loss/restart"
		victim := f[1]
		holder := lkSession(t, victim, lkTTL)
		tok := lkAcquire(t, victim, holder, name, cluster.AcquireOptions{})
		// Restart at once: the node is back before gossip can find it dead,
		// so its previous incarnation's lock is the restarted node's to free.
		c.Kill(victim)
		c.Restart(victim)
		// Opening a session waits until the release of the previous
		// incarnation's sessions has committed.
		fresh := lkSession(t, victim, lkTTL)
		if info := lkInspect(t, leader, name); info.Holder == holder.PID() {
			t.Fatalf("a session opened on the restarted %s while its previous incarnation still holds %q (token %d)", victim.Name, name, tok)
		}
		if got := lkAcquire(t, victim, fresh, name, cluster.AcquireOptions{}); got <= tok {
			t.Fatalf("new grant's token %d not above the previous incarnation's %d", got, tok)
		}
		t.Logf("previous incarnation's lock released by: declared gone by the leader=%v (else the restart's own release)",
			c.LogsContain(`"peer":"`+victim.Name+`","gone_for"`))
	})
}

func TestLockDelayHoldsAutoReleasedLockBack(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	f := lkFollowers(c, leader)
	const (
		queued = "delay/queued"
		free   = "delay/free"
		vol    = "delay/voluntary"
		delay  = 1500 * time.Millisecond
	)
	holder := lkSession(t, f[0], lkTTL)
	other := lkSession(t, f[1], lkTTL)
	for _, name := range []string{queued, free, vol} {
		lkAcquire(t, f[0], holder, name, cluster.AcquireOptions{LockDelay: delay})
	}
	// A voluntary release never delays.
	lkRelease(t, f[0], holder, vol)
	lkAcquire(t, f[1], other, vol, cluster.AcquireOptions{})

	waiter := lkSession(t, leader, lkTTL)
	ch := lkAcquireAsync(t, leader.Node, waiter.PID(), queued, cluster.AcquireOptions{Wait: 20 * time.Second})
	lkWaitQueue(t, leader, queued, waiter.PID())
	if err := holder.Close(ctxT(t)); err != nil {
		t.Fatalf("close the holder's session: %v", err)
	}
	info := lkInspect(t, leader, free)
	if info.Holder != "" || info.DelayUntil.IsZero() {
		t.Fatalf("%q after the auto-release: %+v, want no holder and a lock delay", free, info)
	}
	until := info.DelayUntil
	if qi := lkInspect(t, leader, queued); qi.Holder != "" && !qi.DelayUntil.Equal(until) {
		// One release-session entry freed both, at one command time.
		t.Fatalf("%q after the auto-release: %+v, want the same lock delay as %q (until %s)", queued, qi, free, until)
	}
	_, err := f[1].Locks().Acquire(ctxT(t), other.PID(), free, cluster.AcquireOptions{})
	if time.Now().Before(until) && (!errors.Is(err, cluster.ErrLockHeld) || !strings.Contains(err.Error(), "lock delay")) {
		t.Fatalf("fail-fast acquire during the lock delay: %v, want ErrLockHeld naming the lock delay", err)
	}
	if err == nil {
		t.Logf("the lock delay had passed before the fail-fast acquire (slow machine)")
		lkRelease(t, f[1], other, free)
	}

	g := lkAwaitGrant(t, ch, 15*time.Second, "the waiter granted after the lock delay")
	gi := lkInspect(t, leader, queued)
	if gi.Holder != waiter.PID() || gi.Token != g.token {
		t.Fatalf("%q: %+v, want held by the waiter %s", queued, gi, waiter.PID())
	}
	// GrantedAt is the granting command's time, from the proposer's clock,
	// the same clock as the test's.
	if gi.GrantedAt.Before(until) || g.at.Before(until) {
		t.Fatalf("waiter granted at %s (returned at %s), before the lock delay ended at %s", gi.GrantedAt, g.at, until)
	}
	t.Logf("waiter granted %s after the lock delay ended", gi.GrantedAt.Sub(until).Round(time.Millisecond))
	// Once the delay has passed by the proposer's clock, a fail-fast
	// acquire succeeds: the acquire itself ends the delay.
	testcluster.WaitFor(t, 10*time.Second, "the lock delay to pass", func() bool { return time.Now().After(until) })
	if _, err := f[1].Locks().Acquire(ctxT(t), other.PID(), free, cluster.AcquireOptions{}); err != nil {
		t.Fatalf("fail-fast acquire after the lock delay: %v", err)
	}
}

// TestLockAtRiskThenLostOrSafe pins down what a holder cut off from the
// Raft core is told. With local timings the node warns its sessions (at
// risk) after about 0.5 s without contact, and the majority declares it
// gone and grants the lock to the next waiter after gossip finds it dead
// plus a 0.5 s grace, well before any heal in this test. So:
//   - isolated from a majority that can release its lock: at risk, then,
//     after the heal, lost, and never safe (the cluster gave the lock away);
//   - cut off while no majority exists anywhere (the two other nodes down):
//     at risk, then, once a majority is back, safe, still holding the lock
//     with the same token.
func TestLockAtRiskThenLostOrSafe(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	f := lkFollowers(c, leader)

	t.Run("isolated from the majority: lost", func(t *testing.T) {
		const name = "risk/minority"
		victim := f[0]
		holder := lkSession(t, victim, lkTTL)
		tok := lkAcquire(t, victim, holder, name, cluster.AcquireOptions{})
		waiter := lkSession(t, f[1], lkTTL)
		ch := lkAcquireAsync(t, f[1].Node, waiter.PID(), name, cluster.AcquireOptions{Wait: 20 * time.Second})
		lkWaitQueue(t, leader, name, waiter.PID())

		start := time.Now()
		c.Isolate(victim)
		evs := lkAwaitEvent(t, holder, cluster.EventLockAtRisk, 15*time.Second)
		if len(evs) != 1 || evs[0].Lock != name || evs[0].Token != tok {
			t.Fatalf("events before at risk: %+v, want one lock_at_risk for %q token %d", evs, name, tok)
		}
		t.Logf("holder told at risk %s after the isolation", time.Since(start).Round(time.Millisecond))
		g := lkAwaitGrant(t, ch, 15*time.Second, "the waiter on the majority side granted")
		t.Logf("majority granted the waiter %s after the isolation", g.at.Sub(start).Round(time.Millisecond))
		if g.token <= tok {
			t.Fatalf("waiter's token %d not above the isolated holder's %d", g.token, tok)
		}

		c.Heal()
		evs = lkAwaitEvent(t, holder, cluster.EventLockLost, 20*time.Second)
		if !slices.Equal(lkKinds(evs), []cluster.SessionEventKind{cluster.EventLockLost}) || evs[0].Token != tok {
			t.Fatalf("events after the heal: %+v, want only lock_lost for token %d: the lock went to %s meanwhile", evs, tok, waiter.PID())
		}
		if held := holder.Held(); len(held) != 0 {
			t.Fatalf("the holder's session still lists %v after lock_lost", held)
		}
		err := victim.Locks().Release(ctxT(t), holder.PID(), name)
		if !errors.Is(err, cluster.ErrNotHolder) || !strings.Contains(err.Error(), waiter.PID()) {
			t.Fatalf("release by the old holder: %v, want ErrNotHolder naming %s", err, waiter.PID())
		}
		lkRelease(t, f[1], waiter, name)
		c.WaitLeader(20 * time.Second)
	})

	t.Run("no majority anywhere: safe", func(t *testing.T) {
		const name = "risk/noquorum"
		cur := c.WaitLeader(20 * time.Second)
		holderNode := lkFollowers(c, cur)[0]
		holder := lkSession(t, holderNode, lkTTL)
		tok := lkAcquire(t, holderNode, holder, name, cluster.AcquireOptions{})
		var others []*testcluster.Node
		for _, n := range c.Running() {
			if n != holderNode {
				others = append(others, n)
			}
		}
		// Nobody can declare the holder's node gone: there is no quorum,
		// and the restarted nodes find it alive in gossip.
		for _, n := range others {
			c.Kill(n)
		}
		evs := lkAwaitEvent(t, holder, cluster.EventLockAtRisk, 15*time.Second)
		if len(evs) != 1 || evs[0].Token != tok {
			t.Fatalf("events before at risk: %+v, want one lock_at_risk for token %d", evs, tok)
		}
		for _, n := range others {
			c.Restart(n)
		}
		evs = lkAwaitEvent(t, holder, cluster.EventLockSafe, 20*time.Second)
		if len(evs) != 1 || evs[0].Lock != name || evs[0].Token != tok {
			t.Fatalf("events after contact came back: %+v, want one lock_safe for %q token %d", evs, name, tok)
		}
		if info := lkInspect(t, holderNode, name); info.Holder != holder.PID() || info.Token != tok {
			t.Fatalf("lock after lock_safe: %+v, want still held by %s with token %d", info, holder.PID(), tok)
		}
		lkRelease(t, holderNode, holder, name)
	})
}
