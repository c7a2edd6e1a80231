package cluster_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// A replica whose state changed around Raft (one key, in memory) is found
// by the state-hash cross-check at the next checkpoint: it fails state_hash
// naming the index and the members that agree, counts the mismatch, and
// the others stay ready.
func TestStateHashFindsADivergedReplica(t *testing.T) {
	regs := registries(3)
	c := testcluster.New(t, 3, testcluster.Options{NodeOptions: func(i int) []cluster.Option {
		return []cluster.Option{cluster.WithStateHash(32, 200*time.Millisecond), cluster.WithRegisterer(regs[i])}
	}})
	leader := c.WaitLeader(20 * time.Second)
	waitRoles(t, c, bigClusterWait, 3, 0, 0)
	ctx := ctxT(t)
	put := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := leader.KV().Put(ctx, fmt.Sprintf("k/%03d", i), []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Checkpoints that agree: every member passes.
	put(0, 80)
	for _, n := range c.Running() {
		testcluster.WaitFor(t, 10*time.Second, n.Name+" taking a checkpoint", func() bool {
			return strings.HasPrefix(readiness(n, "state_hash").Reason, "last checkpoint")
		})
	}
	var bad *testcluster.Node
	for _, n := range c.Running() {
		if n != leader {
			bad = n
			break
		}
	}
	if err := bad.CorruptState("k/000", []byte("EVIL")); err != nil {
		t.Fatal(err)
	}
	put(80, 160)
	testcluster.WaitFor(t, 20*time.Second, bad.Name+" failing state_hash", func() bool {
		return readiness(bad, "state_hash").Status == cluster.HealthFail
	})
	r := readiness(bad, "state_hash")
	if !strings.Contains(r.Reason, "diverged") || !strings.Contains(r.Reason, leader.Name) {
		t.Fatalf("state_hash reason %q, want the divergence and the agreeing members", r.Reason)
	}
	if v := counter(t, regs[bad.Index()], "conclave_fsm_state_hash_mismatches_total", ""); v != 1 {
		t.Fatalf("%s counted %v mismatches, want 1", bad.Name, v)
	}
	for _, n := range c.Running() {
		if n == bad {
			continue
		}
		if r := readiness(n, "state_hash"); r.Status != cluster.HealthPass {
			t.Fatalf("%s state_hash = %+v, want pass", n.Name, r)
		}
	}
	t.Logf("%s: %s", bad.Name, r.Reason)
}
