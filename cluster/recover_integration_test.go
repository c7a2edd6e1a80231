package cluster_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// Two of three voters are destroyed for good. Recover on the stopped
// survivor makes it a one-voter cluster with every committed key; the
// reconciler grows the core back to three voters as new servers join.
// While another voter still answers, Recover refuses (restarting the
// survivor would restore quorum).
func TestRecoverFromTheLossOfTwoOfThreeVoters(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	waitRoles(t, c, bigClusterWait, 3, 0, 0)
	ctx := ctxT(t)
	const keys = 100
	for i := 0; i < keys; i++ {
		if _, err := leader.KV().Put(ctx, fmt.Sprintf("k/%03d", i), []byte(fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	nodes := c.Running()
	survivor, lost := nodes[0], nodes[1:]
	// Every write above is on the survivor before the others go.
	want := leader.RaftStatus().CommitIndex
	testcluster.WaitFor(t, 10*time.Second, survivor.Name+" applying every write", func() bool {
		return survivor.RaftStatus().AppliedIndex >= want
	})
	c.Kill(lost[0])
	c.Kill(survivor)
	opts := cluster.RecoverOptions{ProbeTimeout: 500 * time.Millisecond}

	if _, err := cluster.Recover(survivor.Config(), opts); !errors.Is(err, cluster.ErrQuorumAlive) {
		t.Fatalf("recover while %s answers = %v, want ErrQuorumAlive", lost[1].Name, err)
	}
	c.Kill(lost[1])
	rep, err := cluster.Recover(survivor.Config(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Previous) != 3 || len(rep.Answering) != 0 || rep.LastIndex < want {
		t.Fatalf("report %+v, want 3 previous servers, none answering, last index >= %d", rep, want)
	}

	c.Restart(survivor)
	testcluster.WaitFor(t, 20*time.Second, survivor.Name+" leading alone", func() bool {
		st := survivor.RaftStatus()
		return st.State == "leader" && len(st.Servers) == 1
	})
	for i := 0; i < keys; i++ {
		e, err := survivor.KV().Get(ctx, fmt.Sprintf("k/%03d", i), cluster.ReadDefault)
		if err != nil || string(e.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("k/%03d after recovery = %q, %v", i, e.Value, err)
		}
	}
	if _, err := survivor.KV().Put(ctx, "after", []byte("x")); err != nil {
		t.Fatal(err)
	}
	c.AddNode()
	c.AddNode()
	c.Start()
	waitRoles(t, c, bigClusterWait, 3, 0, 0)
}
