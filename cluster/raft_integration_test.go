package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

func TestBootstrapOne(t *testing.T) {
	c := testcluster.New(t, 1, testcluster.Options{BootstrapExpect: 1})
	leader := c.WaitLeader(10 * time.Second)
	if _, err := leader.KV().Put(ctxT(t), "k", []byte("v")); err != nil {
		t.Fatalf("put: %v", err)
	}
	if st := leader.RaftStatus(); voters(st) != 1 || st.ClusterID == "" {
		t.Fatalf("status %+v", st)
	}
}

func TestMismatchedBootstrapExpectRefuses(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.Raft.BootstrapExpect = 3
		if i == 2 {
			cfg.Cluster.Raft.BootstrapExpect = 5
		}
	}})
	c.Start()
	testcluster.WaitFor(t, 10*time.Second, "the refusal log line", func() bool {
		return c.LogsContain("mismatched bootstrap_expect: peer n3 expects 5, this node expects 3")
	})
	// The refusal repeats, and in all that time no node has formed a cluster.
	testcluster.WaitFor(t, 10*time.Second, "the refusal from n3's side", func() bool {
		return c.LogsContain("expects 3, this node expects 5")
	})
	for _, n := range c.Running() {
		if st := n.RaftStatus(); voters(st) != 0 || st.LastIndex != 0 || st.ClusterID != "" {
			t.Fatalf("%s bootstrapped despite mismatched bootstrap_expect: %+v", n.Name, st)
		}
	}
}

func TestLateNodeJoinsWithoutBootstrapping(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{BootstrapExpect: 3})
	leader := c.WaitLeader(20 * time.Second)
	clusterID := leader.RaftStatus().ClusterID
	late := c.AddNode() // bootstrap_expect 3 too: it must see the formed cluster
	c.Start()
	// Four candidates make an odd three voters and one standby: the late
	// node joins the core as a standby.
	testcluster.WaitFor(t, 15*time.Second, "the late node added as a standby", func() bool {
		l := c.Leader()
		if l == nil || late.RaftStatus().ClusterID != clusterID {
			return false
		}
		st := l.RaftStatus()
		for _, s := range st.Servers {
			if s.ID == late.Name {
				return s.Suffrage == "nonvoter" && voters(st) == 3
			}
		}
		return false
	})
	if n := c.CountLogs(late.Name, "bootstrapped cluster"); n != 0 {
		t.Fatalf("the late node bootstrapped a cluster of its own (%d log lines)", n)
	}
	if _, err := late.KV().Put(ctxT(t), "from-late", []byte("x")); err != nil {
		t.Fatalf("put via late node: %v", err)
	}
}

func TestRestartEveryNodeKeepsData(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	const keys = 50
	for i := 0; i < keys; i++ {
		if _, err := leader.KV().Put(ctxT(t), fmt.Sprintf("k/%03d", i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	// Graceful stop of all, then a crash of all, each followed by a restart.
	for round, stop := range []func(*testcluster.Node){c.Stop, c.Kill} {
		for _, n := range c.Nodes() {
			stop(n)
		}
		for _, n := range c.Nodes() {
			c.Restart(n)
		}
		leader = c.WaitLeader(20 * time.Second)
		for _, n := range c.Running() {
			testcluster.WaitFor(t, 10*time.Second, fmt.Sprintf("round %d: %s has every key", round, n.Name), func() bool {
				es, err := n.KV().List(ctxT(t), "k/", 0, cluster.ReadStale)
				return err == nil && len(es) == keys
			})
		}
		if _, err := leader.KV().Put(ctxT(t), fmt.Sprintf("after-restart-%d", round), nil); err != nil {
			t.Fatalf("round %d: put after restart: %v", round, err)
		}
	}
	for _, n := range c.Nodes() {
		if got := c.CountLogs(n.Name, "bootstrapped cluster"); got > 1 {
			t.Fatalf("%s bootstrapped %d times: a restarted node bootstrapped again", n.Name, got)
		}
	}
}

func TestMinorityPartitionCannotWriteAndCatchesUp(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	var minority, other *testcluster.Node
	for _, n := range c.Running() {
		if n != leader {
			if minority == nil {
				minority = n
			} else {
				other = n
			}
		}
	}
	c.Isolate(minority)

	start := time.Now()
	_, err := minority.KV().Put(context.Background(), "from-minority", []byte("x"))
	waited := time.Since(start)
	if !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("minority write: %v, want ErrUnavailable", err)
	}
	if waited > 10*time.Second {
		t.Fatalf("minority write took %s to fail: the wait is not bounded", waited)
	}
	t.Logf("minority write failed after %s: %v", waited.Round(time.Millisecond), err)
	// Existing data stays readable from the minority's replica.
	if _, err := minority.KV().List(ctxT(t), "", 0, cluster.ReadStale); err != nil {
		t.Fatalf("stale read on the minority: %v", err)
	}

	for i := 0; i < 10; i++ {
		if _, err := other.KV().Put(ctxT(t), fmt.Sprintf("majority/%d", i), []byte("y")); err != nil {
			t.Fatalf("majority write %d: %v", i, err)
		}
	}
	c.Heal()
	testcluster.WaitFor(t, 15*time.Second, "the minority node catching up", func() bool {
		es, err := minority.KV().List(ctxT(t), "majority/", 0, cluster.ReadStale)
		return err == nil && len(es) == 10
	})
	if _, err := minority.KV().Get(ctxT(t), "from-minority", cluster.ReadDefault); !errors.Is(err, cluster.ErrNotFound) {
		t.Fatalf("the failed minority write is visible: %v", err)
	}
}

func TestIsolatedLeaderStepsDownAndMajorityContinues(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	old := c.WaitLeader(20 * time.Second)
	c.Isolate(old)
	_, err := old.KV().Put(context.Background(), "from-old-leader", []byte("x"))
	if !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("write on the isolated leader: %v, want ErrUnavailable", err)
	}
	var survivor *testcluster.Node
	for _, n := range c.Running() {
		if n != old {
			survivor = n
		}
	}
	testcluster.WaitFor(t, 15*time.Second, "a write through the majority", func() bool {
		_, err := survivor.KV().Put(ctxT(t), "after", []byte("y"))
		return err == nil
	})
	c.Heal()
	c.WaitLeader(15 * time.Second)
	testcluster.WaitFor(t, 15*time.Second, "the old leader catching up", func() bool {
		e, err := old.KV().Get(ctxT(t), "after", cluster.ReadStale)
		return err == nil && string(e.Value) == "y"
	})
}

// threeVoters starts three nodes and waits until all three are voters
// following one settled leader, which it returns.
func threeVoters(t *testing.T) (*testcluster.Cluster, *testcluster.Node) {
	t.Helper()
	c := testcluster.New(t, 3, testcluster.Options{})
	c.WaitLeader(20 * time.Second)
	waitRoles(t, c, 30*time.Second, 3, 0, 0)
	return c, c.WaitLeader(20 * time.Second)
}

// TestKilledLeaderStartsFastElection: a killed leader's mesh port refuses
// connections, so one survivor starts the election at once (fast failover)
// instead of waiting out its heartbeat timeout; exactly one, so the two do
// not split the vote.
func TestKilledLeaderStartsFastElection(t *testing.T) {
	c, old := threeVoters(t)
	c.Kill(old)
	start := time.Now()
	leader := c.WaitLeader(15 * time.Second)
	t.Logf("new leader %s after %s", leader.Name, time.Since(start).Round(time.Millisecond))
	var started []string
	for _, n := range c.Running() {
		if n.LeaderLossElections() > 0 {
			started = append(started, n.Name)
		}
	}
	if len(started) != 1 {
		t.Fatalf("nodes that started an election on the refused port: %v, want exactly one", started)
	}
}

// TestIsolatedFollowerStartsNoFastElection: a follower cut off from
// everyone hears nothing from its leader, but neither does its port refuse
// nor can it find a quorum that agrees: it must not start an election of
// its own (which would depose a healthy leader when the cut heals).
func TestIsolatedFollowerStartsNoFastElection(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	cut := lkFollowers(c, leader)[0]
	c.Isolate(cut)
	// Past both fast paths' thresholds: Raft itself gives up on the leader
	// after its heartbeat timeout (1-2 s).
	testcluster.WaitFor(t, 20*time.Second, "the cut-off follower giving up on its leader", func() bool {
		return cut.RaftStatus().LeaderID == ""
	})
	for _, n := range c.Running() {
		if got := n.LeaderLossElections(); got != 0 {
			t.Fatalf("%s started %d fast elections, want 0", n.Name, got)
		}
	}
	c.Heal()
	c.WaitLeader(20 * time.Second)
}

// TestIsolatedLeaderReplacedByQuorumSilence: a leader cut off from the
// others gives timeouts, not refusals; the two followers agree that neither
// hears from it, and one of them (never both: that would split the vote)
// starts the election without waiting out Raft's timers.
func TestIsolatedLeaderReplacedByQuorumSilence(t *testing.T) {
	c, old := threeVoters(t)
	c.Isolate(old)
	start := time.Now()
	testcluster.WaitFor(t, 20*time.Second, "a new leader on the majority side", func() bool {
		for _, n := range c.Running() {
			if n != old && n.RaftStatus().State == "leader" {
				return true
			}
		}
		return false
	})
	t.Logf("new leader after %s", time.Since(start).Round(time.Millisecond))
	started := 0
	for _, n := range c.Running() {
		started += int(n.LeaderLossElections())
	}
	if started > 1 {
		t.Fatalf("%d fast elections for one lost leader, want at most one", started)
	}
	t.Logf("fast elections: %d", started)
}

// TestCutOffLeaderReplacedByTheLongestLog: when the leader is cut off,
// the follower that would go first (the lower ID) but holds the shorter
// log leaves the election to the other, whose log is longer: it would
// refuse the first one its vote and cost a whole election timeout. The
// other starts it by fast failover or, when its own timer fired first, by
// raft's election.
func TestCutOffLeaderReplacedByTheLongestLog(t *testing.T) {
	var holds appendHolds
	c := testcluster.New(t, 3, holds.options())
	c.WaitLeader(20 * time.Second)
	waitRoles(t, c, 30*time.Second, 3, 0, 0)
	old := c.WaitLeader(20 * time.Second)
	f := lkFollowers(c, old)
	slices.SortFunc(f, func(a, b *testcluster.Node) int { return strings.Compare(a.Name, b.Name) })
	first, longer := f[0], f[1]

	// The first follower's appends hang, so the leader commits with the
	// other one alone.
	entered, release := holds.hold(t, first.Name)
	for i := range 3 {
		if _, err := old.KV().Put(ctxT(t), fmt.Sprintf("ahead/%d", i), []byte("v")); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first follower never appended")
	}
	c.Isolate(old)
	release()
	testcluster.WaitFor(t, 20*time.Second, "a new leader on the majority side", func() bool {
		for _, n := range f {
			if n.RaftStatus().State == "leader" {
				return true
			}
		}
		return false
	})
	if got := first.LeaderLossElections(); got != 0 {
		t.Fatalf("%s, whose log is shorter, started %d fast elections, want 0", first.Name, got)
	}
	if got := longer.LeaderLossElections(); got > 1 {
		t.Fatalf("%s started %d fast elections, want at most 1", longer.Name, got)
	}
	if longer.RaftStatus().State != "leader" {
		t.Fatalf("leader is not %s, the follower with the longer log", longer.Name)
	}
	c.Heal()
}

func TestKillLeaderElectsNewLeaderAndWritesContinue(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	old := c.WaitLeader(20 * time.Second)
	if _, err := old.KV().Put(ctxT(t), "before", []byte("1")); err != nil {
		t.Fatal(err)
	}
	c.Kill(old)
	start := time.Now()
	leader := c.WaitLeader(15 * time.Second)
	t.Logf("new leader %s after %s", leader.Name, time.Since(start).Round(time.Millisecond))
	for _, n := range c.Running() {
		if _, err := n.KV().Put(ctxT(t), "after/"+n.Name, []byte("2")); err != nil {
			t.Fatalf("put via %s after leader kill: %v", n.Name, err)
		}
	}
	c.Restart(old)
	testcluster.WaitFor(t, 15*time.Second, "the killed leader rejoining with every key", func() bool {
		es, err := old.KV().List(ctxT(t), "", 0, cluster.ReadStale)
		return err == nil && len(es) == 3
	})
}
