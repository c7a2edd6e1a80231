package cluster_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/locks"
)

// TestElectionFailoverObservedOnceInOrder: two candidates on two nodes of
// a 3-node cluster and an observer on the third. The leader proclaims a new
// value; then the leader's node (the Raft leader too) is killed. The other
// candidate's Campaign returns with a higher token, and the observer sees
// exactly: the first leader, its proclaimed value, the new leader (once),
// the new leader's proclaimed value.
func TestElectionFailoverObservedOnceInOrder(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	lead := c.WaitLeader(30 * time.Second)
	waitRoles(t, c, 30*time.Second, 3, 0, 0)
	lead = c.WaitLeader(30 * time.Second)
	others := lkFollowers(c, lead)
	a, b, obs := lead, others[0], others[1]
	const name = "svc-leader"

	sa, err := a.OpenSession(ctxT(t), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tokA, err := a.Locks().Campaign(ctxT(t), sa.PID(), name, "a")
	if err != nil {
		t.Fatalf("campaign a: %v", err)
	}

	// The observer, on the third node, once its replica has the leader
	// (Observe starts from the local replica's state).
	testcluster.WaitFor(t, 10*time.Second, "the observer's replica has a", func() bool {
		e, err := obs.Locks().Leader(ctxT(t), name, cluster.ReadStale)
		return err == nil && e.Leader == sa.PID()
	})
	var mu sync.Mutex
	var seen []locks.Election
	octx, stopObs := context.WithCancel(context.Background())
	obsDone := make(chan error, 1)
	go func() {
		obsDone <- obs.Locks().Observe(octx, name, func(e locks.Election) error {
			mu.Lock()
			seen = append(seen, e)
			mu.Unlock()
			return nil
		})
	}()
	defer func() {
		stopObs()
		if err := <-obsDone; err != nil {
			t.Errorf("observe: %v", err)
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	testcluster.WaitFor(t, 10*time.Second, "the observer's first state", func() bool { return count() >= 1 })

	sb, err := b.OpenSession(ctxT(t), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		tok uint64
		err error
		at  time.Time
	}
	bLeads := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		tok, err := b.Locks().Campaign(ctx, sb.PID(), name, "b")
		bLeads <- result{tok, err, time.Now()}
	}()
	testcluster.WaitFor(t, 10*time.Second, "b a candidate", func() bool {
		e, err := obs.Locks().Leader(ctxT(t), name, cluster.ReadDefault)
		return err == nil && len(e.Candidates) == 1 && e.Candidates[0].PID == sb.PID()
	})
	if err := b.Locks().Proclaim(ctxT(t), sb.PID(), name, "x"); !errors.Is(err, cluster.ErrNotHolder) {
		t.Fatalf("proclaim by a candidate: %v, want ErrNotHolder", err)
	}
	if err := a.Locks().Proclaim(ctxT(t), sa.PID(), name, "a2"); err != nil {
		t.Fatalf("proclaim a2: %v", err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the observer sees a2", func() bool { return count() >= 2 })

	killed := time.Now()
	c.Kill(a)
	var r result
	select {
	case r = <-bLeads:
	case <-time.After(90 * time.Second):
		t.Fatal("b never led after the leader's node was killed")
	}
	if r.err != nil || r.tok <= tokA {
		t.Fatalf("b's campaign: token %d err %v; want a token above %d", r.tok, r.err, tokA)
	}
	testcluster.WaitFor(t, 30*time.Second, "the observer sees b", func() bool { return count() >= 3 })
	observedAt := time.Now()
	if err := b.Locks().Proclaim(ctxT(t), sb.PID(), name, "b2"); err != nil {
		t.Fatalf("proclaim b2: %v", err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the observer sees b2", func() bool { return count() >= 4 })
	t.Logf("failover: b led %s after the kill, observer saw it by %s", r.at.Sub(killed).Round(time.Millisecond),
		observedAt.Sub(killed).Round(time.Millisecond))

	mu.Lock()
	got := append([]locks.Election(nil), seen...)
	mu.Unlock()
	want := []struct{ leader, value string }{{sa.PID(), "a"}, {sa.PID(), "a2"}, {sb.PID(), "b"}, {sb.PID(), "b2"}}
	if len(got) != len(want) {
		t.Fatalf("observer saw %d states, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Leader != w.leader || got[i].Value != w.value {
			t.Fatalf("state %d: %s=%q, want %s=%q (all: %+v)", i, got[i].Leader, got[i].Value, w.leader, w.value, got)
		}
		if i > 0 && got[i].Rev <= got[i-1].Rev {
			t.Fatalf("states out of order: %+v", got)
		}
	}
	if got[2].Token != r.tok {
		t.Fatalf("observer's token %d, campaign's %d", got[2].Token, r.tok)
	}
}
