package cluster_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// A follower whose disk is full (every append to its Raft log fails with
// ENOSPC) is not ready, naming the log store and the error, while the other
// two keep taking writes; once appends succeed again it catches up and is
// ready again.
func TestFullDiskMakesAFollowerNotReady(t *testing.T) {
	var full atomic.Pointer[string]
	c := testcluster.New(t, 3, testcluster.Options{LogAppend: func(node string) error {
		if p := full.Load(); p != nil && *p == node {
			return fmt.Errorf("write raft log: %w", syscall.ENOSPC)
		}
		return nil
	}})
	leader := c.WaitLeader(20 * time.Second)
	waitRoles(t, c, bigClusterWait, 3, 0, 0)
	var follower *testcluster.Node
	for _, n := range c.Running() {
		if n != leader {
			follower = n
			break
		}
	}
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
