package cluster_test

import (
	"net"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/testcluster"
)

// A voter that comes back with the same name and data dir on a new
// address is a voter again at that address, and the cluster then survives
// the loss of its leader (DESIGN §4: the Kubernetes case).
func TestVoterRestartedOnANewAddressKeepsItsSeat(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	waitRoles(t, c, bigClusterWait, 3, 0, 0)
	var moved *testcluster.Node
	for _, n := range c.Running() {
		if n != leader {
			moved = n
			break
		}
	}
	if _, err := leader.KV().Put(ctxT(t), "before", []byte("1")); err != nil {
		t.Fatal(err)
	}
	c.Kill(moved)
	start := time.Now()
	c.RestartAt(moved, "127.0.0.2")
	testcluster.WaitFor(t, 30*time.Second, moved.Name+" a voter at 127.0.0.2", func() bool {
		l := c.Leader()
		if l == nil {
			return false
		}
		for _, s := range l.RaftStatus().Servers {
			if s.ID == moved.Name {
				host, _, _ := net.SplitHostPort(s.Address)
				return s.Suffrage == "voter" && host == "127.0.0.2"
			}
		}
		return false
	})
	t.Logf("%s a voter again at its new address %s after the restart", moved.Name, time.Since(start).Round(time.Millisecond))
	leader = c.Leader()
	c.Kill(leader)
	next := c.WaitLeader(20 * time.Second)
	if _, err := next.KV().Put(ctxT(t), "after", []byte("2")); err != nil {
		t.Fatalf("write after the leader's loss: %v", err)
	}
	t.Logf("leader after the kill: %s", next.Name)
}
