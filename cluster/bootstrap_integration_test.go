package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func voters(st cluster.RaftStatus) int {
	n := 0
	for _, s := range st.Servers {
		if s.Suffrage == "voter" {
			n++
		}
	}
	return n
}

func TestBootstrapThreeAndForwardedWrite(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	st := leader.RaftStatus()
	if voters(st) != 3 {
		t.Fatalf("leader sees %d voters, want 3: %+v", voters(st), st.Servers)
	}
	if st.ClusterID == "" {
		t.Fatal("no cluster id after bootstrap")
	}
	var follower *testcluster.Node
	for _, n := range c.Running() {
		if n != leader {
			follower = n
		}
	}
	e, err := follower.KV().Put(ctxT(t), "greeting", []byte("hello"))
	if err != nil {
		t.Fatalf("put on follower: %v", err)
	}
	for _, n := range c.Running() {
		got, err := n.KV().Get(ctxT(t), "greeting", cluster.ReadDefault)
		if err != nil || string(got.Value) != "hello" || got.Version != e.Version {
			t.Fatalf("%s default read: %+v %v", n.Name, got, err)
		}
		testcluster.WaitFor(t, 5*time.Second, n.Name+" stale read", func() bool {
			got, err := n.KV().Get(ctxT(t), "greeting", cluster.ReadStale)
			return err == nil && string(got.Value) == "hello"
		})
		testcluster.WaitFor(t, 5*time.Second, n.Name+" adopting the cluster id", func() bool {
			return n.RaftStatus().ClusterID == st.ClusterID
		})
	}
}
