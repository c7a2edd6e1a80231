package cluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// A session opens at once on a brand-new node, before the cluster has a
// leader: there is no previous incarnation whose sessions must be released
// first. Its lock, taken once a leader is up, is not freed by any late
// release of the node's sessions.
func TestSessionOpensAtOnceOnNewNode(t *testing.T) {
	// One node of three expected: no leader until the others come.
	c := testcluster.New(t, 1, testcluster.Options{BootstrapExpect: 3})
	c.Start()
	n := c.Nodes()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	start := time.Now()
	s, err := n.OpenSession(ctx, 0)
	cancel()
	if err != nil {
		t.Fatalf("session on a brand-new node with no leader: %v", err)
	}
	t.Logf("session opened in %s on a brand-new node with no leader", time.Since(start).Round(time.Microsecond))
	if st := n.RaftStatus(); st.LeaderID != "" {
		t.Fatalf("leader %s with one node of three", st.LeaderID)
	}
	c.AddNode()
	c.AddNode()
	c.Start()
	c.WaitLeader(20 * time.Second)
	tok := lkAcquire(t, n, s, "fresh/lock", cluster.AcquireOptions{})
	// Every node applies what the leader commits; a release of this node's
	// sessions would have to come through the same log.
	if _, err := n.KV().Put(ctxT(t), "fresh/marker", nil); err != nil {
		t.Fatal(err)
	}
	if info := lkInspect(t, n, "fresh/lock"); info.Holder != s.PID() || info.Token != tok {
		t.Fatalf("lock after the start = %+v, want held by %s (token %d)", info, s.PID(), tok)
	}
}

// A node whose data dir was wiped and that restarts under its name before
// its peers declare it gone still frees what its earlier incarnation held:
// not by release-node (its new sessions open at once), but session by
// session, leaving the new sessions' locks alone.
func TestWipedNodeReleasesEarlierSessions(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	victim := lkFollowers(c, leader)[0]
	old := lkSession(t, victim, 10*time.Second)
	lkAcquire(t, victim, old, "wiped/old", cluster.AcquireOptions{})
	// A semaphore slot and an election's leadership go the same way.
	if _, err := victim.Locks().SemAcquire(ctxT(t), old.PID(), "wiped/sem", 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.Locks().Campaign(ctxT(t), old.PID(), "wiped/elect", "old"); err != nil {
		t.Fatal(err)
	}
	c.Kill(victim)
	if err := os.RemoveAll(filepath.Join(victim.Dir, "_sys")); err != nil {
		t.Fatal(err)
	}
	c.Restart(victim)
	s := lkSession(t, victim, 10*time.Second)
	lkAcquire(t, victim, s, "wiped/new", cluster.AcquireOptions{})
	testcluster.WaitFor(t, 15*time.Second, "the earlier incarnation's lock released", func() bool {
		return lkInspect(t, leader, "wiped/old").Holder != old.PID()
	})
	testcluster.WaitFor(t, 15*time.Second, "the earlier incarnation's slot and leadership released", func() bool {
		_, serr := leader.Locks().SemInspect(ctxT(t), "wiped/sem", cluster.ReadDefault)
		_, eerr := leader.Locks().Leader(ctxT(t), "wiped/elect", cluster.ReadDefault)
		return errors.Is(serr, cluster.ErrNotFound) && errors.Is(eerr, cluster.ErrNotFound)
	})
	if info := lkInspect(t, leader, "wiped/new"); info.Holder != s.PID() {
		t.Fatalf("the new session's lock = %+v, want held by %s", info, s.PID())
	}
	t.Logf("released by: declared gone by the leader=%v, the restarted node's own release=%v",
		c.LogsContain(`"peer":"`+victim.Name+`","gone_for"`), c.LogsContain("sessions left by an earlier node of this name released"))
}
