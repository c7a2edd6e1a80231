package cluster_test

import (
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/testcluster"
)

func TestLeaderLeaveRemovesItAndClusterContinues(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	if err := leader.Leave(ctxT(t)); err != nil {
		t.Fatalf("leave: %v", err)
	}
	if leader.Running() {
		t.Fatal("node still running after Leave returned")
	}
	next := c.WaitLeader(15 * time.Second)
	testcluster.WaitFor(t, 10*time.Second, "the leaver gone from the configuration", func() bool {
		st := next.RaftStatus()
		for _, s := range st.Servers {
			if s.ID == leader.Name {
				return false
			}
		}
		return len(st.Servers) == 2
	})
	if _, err := next.KV().Put(ctxT(t), "after-leave", []byte("x")); err != nil {
		t.Fatalf("write after leave: %v", err)
	}
}

func TestLastVoterLeaveJustStops(t *testing.T) {
	c := testcluster.New(t, 1, testcluster.Options{BootstrapExpect: 1})
	n := c.WaitLeader(10 * time.Second)
	if _, err := n.KV().Put(ctxT(t), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := n.Leave(ctxT(t)); err != nil {
		t.Fatalf("leave of the last voter: %v", err)
	}
	c.Restart(n)
	c.WaitLeader(10 * time.Second)
	if e, err := n.KV().Get(ctxT(t), "k", 0); err != nil || string(e.Value) != "v" {
		t.Fatalf("data after the last voter left and restarted: %+v %v", e, err)
	}
}
