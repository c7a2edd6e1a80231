package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// fullDisk fails every append to the Raft log of the node full names, as a
// full disk would.
func fullDisk(full *atomic.Pointer[string]) testcluster.Options {
	return testcluster.Options{LogAppend: func(node string) error {
		if p := full.Load(); p != nil && *p == node {
			return fmt.Errorf("write raft log: %w", syscall.ENOSPC)
		}
		return nil
	}}
}

// A follower whose disk is full (every append to its Raft log fails with
// ENOSPC) is not ready, naming the log store and the error, while the other
// two keep taking writes; once appends succeed again it catches up and is
// ready again.
func TestFullDiskMakesAFollowerNotReady(t *testing.T) {
	var full atomic.Pointer[string]
	c := testcluster.New(t, 3, fullDisk(&full))
	leader := c.WaitLeader(20 * time.Second)
	waitRoles(t, c, bigClusterWait, 3, 0, 0)
	follower := lkFollowers(c, leader)[0]
	name := follower.Name
	full.Store(&name)
	ctx := ctxT(t)
	for i := 0; i < 20; i++ {
		if _, err := leader.KV().Put(ctx, fmt.Sprintf("k/%d", i), []byte("v")); err != nil {
			t.Fatalf("write %d with one follower's disk full: %v", i, err)
		}
	}
	testcluster.WaitFor(t, 10*time.Second, name+" not ready on log_store", func() bool {
		r := readiness(follower, "log_store")
		return r.Status == cluster.HealthFail && strings.Contains(r.Reason, "no space left on device")
	})
	if r := readiness(leader, "log_store"); r.Status != cluster.HealthPass {
		t.Fatalf("leader's log_store = %+v, want pass", r)
	}
	t.Logf("%s: %s", name, readiness(follower, "log_store").Reason)

	full.Store(nil)
	want := leader.RaftStatus().CommitIndex
	testcluster.WaitFor(t, 20*time.Second, name+" ready and caught up once its disk has room", func() bool {
		return readiness(follower, "log_store").Status == cluster.HealthPass && follower.RaftStatus().AppliedIndex >= want
	})
}

// A leader whose disk fills up (early replication queues its entries, and
// the writer's appends fail) steps down at its next append; the others
// elect a leader and keep taking writes; once its disk has room again it
// stores what it held, catches up, and every acknowledged write is there.
func TestFullDiskOnTheLeader(t *testing.T) {
	var full atomic.Pointer[string]
	c := testcluster.New(t, 3, fullDisk(&full))
	old := c.WaitLeader(20 * time.Second)
	waitRoles(t, c, bigClusterWait, 3, 0, 0)
	ctx := ctxT(t)
	acked := map[string]bool{}
	for i := 0; i < 5; i++ {
		k := fmt.Sprintf("before/%d", i)
		if _, err := old.KV().Put(ctx, k, []byte("v")); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		acked[k] = true
	}
	via := lkFollowers(c, old)[0]
	name := old.Name
	full.Store(&name)

	// Writes through a follower: forwarded to the full leader until it
	// steps down, then taken by the new one.
	i := 0
	testcluster.WaitFor(t, 30*time.Second, "a write acknowledged by a new leader", func() bool {
		i++
		k := fmt.Sprintf("during/%d", i)
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := via.KV().Put(wctx, k, []byte("v")); err != nil {
			return false
		}
		acked[k] = true
		l := c.Leader()
		return l != nil && l != old
	})
	testcluster.WaitFor(t, 10*time.Second, name+" not ready on log_store", func() bool {
		r := readiness(old, "log_store")
		return r.Status == cluster.HealthFail && strings.Contains(r.Reason, "no space left on device")
	})

	full.Store(nil)
	leader := c.WaitLeader(20 * time.Second)
	k := "after"
	if _, err := leader.KV().Put(ctx, k, []byte("v")); err != nil {
		t.Fatalf("put after the disk has room: %v", err)
	}
	acked[k] = true
	want := leader.RaftStatus().CommitIndex
	testcluster.WaitFor(t, 30*time.Second, name+" ready and caught up once its disk has room", func() bool {
		return readiness(old, "log_store").Status == cluster.HealthPass && old.RaftStatus().AppliedIndex >= want
	})
	for k := range acked {
		for _, n := range c.Running() {
			if _, err := n.KV().Get(ctx, k, cluster.ReadStale); err != nil {
				t.Errorf("acknowledged %s on %s: %v", k, n.Name, err)
			}
		}
	}
}
