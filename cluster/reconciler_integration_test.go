package cluster_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// roles returns the leader's view: voters, standbys, and every running node
// outside the configuration.
func roles(c *testcluster.Cluster) (leader *testcluster.Node, voters, standbys, clients map[string]bool) {
	voters, standbys, clients = map[string]bool{}, map[string]bool{}, map[string]bool{}
	leader = c.Leader()
	if leader == nil {
		return nil, voters, standbys, clients
	}
	for _, s := range leader.RaftStatus().Servers {
		switch s.Role {
		case "voter":
			voters[s.ID] = true
		case "standby":
			standbys[s.ID] = true
		}
	}
	for _, n := range c.Running() {
		if !voters[n.Name] && !standbys[n.Name] {
			clients[n.Name] = true
		}
	}
	return leader, voters, standbys, clients
}

func waitRoles(t *testing.T, c *testcluster.Cluster, timeout time.Duration, v, s, cl int) (map[string]bool, map[string]bool, map[string]bool) {
	t.Helper()
	var voters, standbys, clients map[string]bool
	deadline := time.Now().Add(timeout)
	for {
		var leader *testcluster.Node
		leader, voters, standbys, clients = roles(c)
		if leader != nil && len(voters) == v && len(standbys) == s && len(clients) == cl {
			return voters, standbys, clients
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %d voters, %d standbys, %d clients: leader %v, voters %v, standbys %v, clients %v",
				timeout, v, s, cl, leader, voters, standbys, clients)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bigClusterWait bounds the waits of the 9- and 12-node tests: that many
// in-process nodes with the race detector starve each other on a loaded
// 2-core machine, and an election storm there can last longer than the
// 20 s the small tests allow (seen at load average 8). The deadline is
// generous; nothing here measures speed.
const bigClusterWait = 60 * time.Second

// bigRaftTimeout is the big tests' Raft heartbeat, election and lease
// timeout: twice the local second, as twelve nodes under the race detector
// beside another test run starve each other for longer.
const bigRaftTimeout = 2 * time.Second

// bigCluster is the options of the 9- and 12-node tests: Raft timeouts of
// bigRaftTimeout instead of the local second, so that nodes starved for a moment
// by the others do not start elections that never settle.
func bigCluster(extra func(i int) []cluster.Option) testcluster.Options {
	return testcluster.Options{NodeOptions: func(i int) []cluster.Option {
		opts := []cluster.Option{cluster.WithRaftTimeout(bigRaftTimeout)}
		if extra != nil {
			opts = append(opts, extra(i)...)
		}
		return opts
	}}
}

func TestNineNodesSettleToFiveVotersAndFourStandbys(t *testing.T) {
	c := testcluster.New(t, 9, bigCluster(nil))
	c.WaitLeader(bigClusterWait)
	waitRoles(t, c, bigClusterWait, 5, 4, 0)
}

func TestTwelveNodesLeaveThreeClientsThatGetNoLog(t *testing.T) {
	c := testcluster.New(t, 12, bigCluster(nil))
	c.WaitLeader(bigClusterWait)
	_, _, _, clients := func() (*testcluster.Node, map[string]bool, map[string]bool, map[string]bool) {
		v, s, cl := waitRoles(t, c, bigClusterWait, 5, 4, 3)
		return nil, v, s, cl
	}()
	// A client receives no log. It may hold entries from before it was a
	// client: while the core forms, a better-ranked node that stabilises
	// late takes a voter seat, and the worst-ranked standby gives up its
	// seat and keeps what it had (the raftcore golden
	// standby-displaced-by-staged-newcomer). So what a client holds must
	// not grow.
	var client *testcluster.Node
	held, added := map[string]uint64{}, map[string]int{}
	for _, n := range c.Running() {
		if clients[n.Name] {
			client = n
			// The leader's configuration says n is out. A displaced standby
			// may not have received the entry that removed it (see
			// TestDisplacedStandbyStopsServingItsFrozenReplica) and learns
			// it only after some silence: it is judged below by whether it
			// gets more entries.
			st := n.RaftStatus()
			held[n.Name] = st.LastIndex
			added[n.Name] = timesAdded(c, n.Name)
		}
	}
	// Every node, client or not, carries the cluster's ID. Any leader
	// knows it: a settled one is not needed (12 in-process nodes under
	// the race detector can be between leaders for a while on 2 cores).
	var want string
	testcluster.WaitFor(t, bigClusterWait, "a leader that knows the cluster id", func() bool {
		if l := c.Leader(); l != nil {
			want = l.RaftStatus().ClusterID
		}
		return want != ""
	})
	for _, n := range c.Running() {
		testcluster.WaitFor(t, 10*time.Second, n.Name+" adopting the cluster id", func() bool {
			return n.RaftStatus().ClusterID == want
		})
	}
	// Each client knows it is one (a displaced standby asks the leader
	// after three heartbeat timeouts of silence) before its reads are
	// judged: until then its stale reads come from a frozen replica.
	for _, n := range c.Running() {
		if clients[n.Name] {
			testcluster.WaitFor(t, bigClusterWait, n.Name+" knowing it is a client", func() bool {
				_, _, _, now := roles(c)
				return !now[n.Name] || n.RaftStatus().State == "client"
			})
		}
	}
	// A client forwards writes and reads to the core. On a loaded machine
	// the core may be between leaders for a moment: an Unavailable write
	// (of the same value) is tried again, anything else fails.
	var putErr error
	testcluster.WaitFor(t, 20*time.Second, "a write via client "+client.Name, func() bool {
		_, putErr = client.KV().Put(ctxT(t), "from-client", []byte("x"))
		if putErr != nil && !errors.Is(putErr, cluster.ErrUnavailable) {
			t.Fatalf("write via client %s: %v", client.Name, putErr)
		}
		return putErr == nil
	})
	// Reads are forwarded too, and meet the same moments without a leader
	// (seen with two test runs side by side): Unavailable is tried again.
	// So is a stale read that does not see the write yet: a late reshuffle
	// may have made the client a standby, whose replica may lag; a frozen
	// one never catches up and fails the wait.
	for _, mode := range []cluster.ReadMode{cluster.ReadDefault, cluster.ReadStale, cluster.ReadConsistent} {
		testcluster.WaitFor(t, 20*time.Second, fmt.Sprintf("a %s read via client %s", mode, client.Name), func() bool {
			e, err := client.KV().Get(ctxT(t), "from-client", mode)
			if mode == cluster.ReadStale && errors.Is(err, cluster.ErrNotFound) {
				return false
			}
			if (err != nil && !errors.Is(err, cluster.ErrUnavailable)) || (err == nil && string(e.Value) != "x") {
				t.Fatalf("%s read via client: %+v %v", mode, e, err)
			}
			return err == nil
		})
	}
	// Judged for the nodes that stayed clients all along: on a starved
	// machine gossip may find a standby dead, and the leader gives its seat
	// to a client (which then gets the log) and may take it back the same
	// way (seen: a client that got 15 entries and was a client again at
	// the end). Every seat given is logged by the leader that gave it.
	_, _, _, stillClients := roles(c)
	for _, n := range c.Running() {
		if last, ok := held[n.Name]; ok && stillClients[n.Name] && timesAdded(c, n.Name) == added[n.Name] {
			if st := n.RaftStatus(); st.LastIndex != last {
				t.Fatalf("client %s received Raft log entries: last index %d, was %d", n.Name, st.LastIndex, last)
			}
		}
	}
	// Clients see roles from the leader's configuration, asked for at
	// each call: a call that finds no leader within configTimeout (the
	// core between leaders on a loaded machine) shows none, so wait for
	// an answer; a wrong count still fails.
	testcluster.WaitFor(t, bigClusterWait, "client "+client.Name+"'s members view to show 5 voters", func() bool {
		voters := 0
		for _, m := range client.Members() {
			if m.RaftRole == "voter" {
				voters++
			}
		}
		return voters == 5
	})
}

// timesAdded counts the seats any leader has given node so far (its
// "reconciled" log lines).
func timesAdded(c *testcluster.Cluster, node string) int {
	return c.CountLogs("", `"change":"add-standby","peer":"`+node+`"`) +
		c.CountLogs("", `"change":"add-voter","peer":"`+node+`"`)
}

func TestVotersSpreadOverFailureDomains(t *testing.T) {
	domains := []string{"a", "a", "b", "b", "c", "c"}
	c := testcluster.New(t, 6, testcluster.Options{Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.FailureDomain = domains[i]
	}})
	c.WaitLeader(20 * time.Second)
	voters, _, _ := waitRoles(t, c, 30*time.Second, 5, 1, 0)
	perDomain := map[string]int{}
	for _, n := range c.Nodes() {
		if voters[n.Name] {
			perDomain[domains[n.Index()]]++
		}
	}
	if len(perDomain) != 3 {
		t.Fatalf("voters cover %d domains, want 3: %v", len(perDomain), perDomain)
	}
	for d, k := range perDomain {
		if 5-k < 3 {
			t.Fatalf("losing domain %s (%d voters) leaves no voter majority: %v", d, k, perDomain)
		}
	}
}

func TestIneligibleNeverVoteAndPriorityOrders(t *testing.T) {
	// n1-n3 bootstrap; n4 is ineligible; n5 has the best priority, n6 the worst.
	c := testcluster.New(t, 6, testcluster.Options{Configure: func(i int, cfg *config.Config) {
		switch i {
		case 3:
			cfg.Cluster.Raft.Eligible = false
		case 4:
			cfg.Cluster.Raft.Priority = 1
		case 5:
			cfg.Cluster.Raft.Priority = 900
		}
	}})
	c.WaitLeader(20 * time.Second)
	voters, standbys, clients := waitRoles(t, c, 30*time.Second, 5, 0, 1)
	if voters["n4"] || standbys["n4"] || !clients["n4"] {
		t.Fatalf("ineligible n4 is in the core: voters %v standbys %v", voters, standbys)
	}
	if !voters["n5"] {
		t.Fatalf("best-priority n5 is not a voter: %v", voters)
	}
	if len(standbys) != 0 {
		t.Fatalf("standbys %v, want none (5 eligible nodes are all voters)", standbys)
	}
}

func TestKilledVoterReplacedByStandby(t *testing.T) {
	c := testcluster.New(t, 7, testcluster.Options{})
	c.WaitLeader(20 * time.Second)
	voters, _, _ := waitRoles(t, c, 30*time.Second, 5, 2, 0)
	var victim *testcluster.Node
	leader := c.Leader()
	for _, n := range c.Running() {
		if voters[n.Name] && n != leader {
			victim = n
			break
		}
	}
	c.Kill(victim)
	start := time.Now()
	after, _, _ := waitRoles(t, c, 20*time.Second, 5, 1, 0)
	if after[victim.Name] {
		t.Fatalf("killed %s still a voter", victim.Name)
	}
	t.Logf("voters back to 5 without %s after %s", victim.Name, time.Since(start).Round(time.Millisecond))
}

// Two voters of five die at once. The reconciler promotes standbys before
// it removes the dead, so quorum holds throughout: a writer never sees the
// cluster unavailable for longer than a leader election.
func TestTwoVotersLostAtOnceNeverLoseQuorum(t *testing.T) {
	c := testcluster.New(t, 9, bigCluster(nil))
	c.WaitLeader(bigClusterWait)
	voters, _, _ := waitRoles(t, c, bigClusterWait, 5, 4, 0)
	leader := c.Leader()
	var victims []*testcluster.Node
	var writer *testcluster.Node
	for _, n := range c.Running() {
		switch {
		case voters[n.Name] && n != leader && len(victims) < 2:
			victims = append(victims, n)
		case !voters[n.Name] && writer == nil:
			writer = n
		}
	}
	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		ok, fail atomic.Int64
		lastErr  atomic.Value
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := writer.KV().Put(ctxT(t), fmt.Sprintf("w/%d", i), []byte("v")); err != nil {
				fail.Add(1)
				lastErr.Store(err.Error())
			} else {
				ok.Add(1)
			}
		}
	}()
	for _, v := range victims {
		c.Kill(v)
	}
	after, _, _ := waitRoles(t, c, 30*time.Second, 5, 2, 0)
	close(stop)
	wg.Wait()
	for _, v := range victims {
		if after[v.Name] {
			t.Fatalf("dead %s still a voter", v.Name)
		}
	}
	if fail.Load() != 0 {
		t.Fatalf("%d of %d writes failed during the reconfiguration (last: %v)", fail.Load(), ok.Load()+fail.Load(), lastErr.Load())
	}
	t.Logf("%d writes, none failed, while two voters were replaced", ok.Load())
}

// A cold start is formation, not churn. The three bootstrap voters share
// a failure domain and every other agent has one of its own, so the leader
// grows the core to five and spreads it: two seeds give up their seats and
// four agents take one, six voter changes within a minute. The churn
// alert's counter stays 0 on every node (the leader counted 1 before voter
// changes counted only once the core settled).
func TestColdStartIsNotChurn(t *testing.T) {
	const n = 9
	regs := registries(n)
	c := testcluster.New(t, n, testcluster.Options{
		Configure: func(i int, cfg *config.Config) {
			cfg.Cluster.FailureDomain = "seeds"
			if i >= 3 {
				cfg.Cluster.FailureDomain = fmt.Sprintf("d%d", i)
			}
		},
		NodeOptions: func(i int) []cluster.Option {
			return []cluster.Option{cluster.WithRegisterer(regs[i]), cluster.WithRaftTimeout(bigRaftTimeout)}
		},
	})
	c.WaitLeader(bigClusterWait)
	waitRoles(t, c, bigClusterWait, 5, 4, 0)
	// The counts settle before the spread: a newcomer takes a seed's seat
	// once it has been stable for the stabilisation window.
	testcluster.WaitFor(t, bigClusterWait, "one seed among the voters (the core spread over the failure domains)", func() bool {
		_, voters, standbys, _ := roles(c)
		seeds := 0
		for _, n := range c.Running()[:3] {
			if voters[n.Name] {
				seeds++
			}
		}
		return seeds == 1 && len(voters) == 5 && len(standbys) == 4
	})
	for _, n := range c.Running() {
		if v := counter(t, regs[n.Index()], "conclave_raft_voter_churn_burst_total", ""); v != 0 {
			t.Errorf("%s counted %v voter churn bursts during a cold start", n.Name, v)
		}
	}
}

// TestDisplacedStandbyStopsServingItsFrozenReplica: a standby cut off
// while the leader removes it never gets the entry that removes it
// (hashicorp/raft stops replicating to a server once its removal is
// appended), so its own configuration still lists it. When the cut heals
// its seat has gone to another node and nobody replicates to it again: it
// must find out from the leader that it is out, and stop answering stale
// reads from a replica that will never move.
func TestDisplacedStandbyStopsServingItsFrozenReplica(t *testing.T) {
	c := testcluster.New(t, 5, testcluster.Options{Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.Raft.MaxVoters = 3
		cfg.Cluster.Raft.MaxStandbys = 1
	}})
	c.WaitLeader(20 * time.Second)
	_, standbys, _ := waitRoles(t, c, 30*time.Second, 3, 1, 1)
	var x *testcluster.Node
	for _, n := range c.Running() {
		if standbys[n.Name] {
			x = n
		}
	}
	// Cut off once it knows it is a member: a standby counts itself one
	// only when its replica has caught up to when it was added.
	testcluster.WaitFor(t, 20*time.Second, x.Name+" knowing it is a standby", func() bool {
		return x.RaftStatus().State == "follower"
	})
	c.Isolate(x)
	testcluster.WaitFor(t, bigClusterWait, "the cut-off standby "+x.Name+" replaced", func() bool {
		_, _, s, _ := roles(c)
		return len(s) == 1 && !s[x.Name]
	})
	leader := c.WaitLeader(20 * time.Second)
	if _, err := leader.KV().Put(ctxT(t), "after", []byte("x")); err != nil {
		t.Fatalf("put: %v", err)
	}
	if x.RaftStatus().State == "client" {
		t.Fatalf("%s, cut off, learnt of its removal: the test needs it not to", x.Name)
	}
	seated := timesAdded(c, x.Name)
	c.Heal()
	// On a starved machine gossip may find the new standby dead and give
	// x its seat back; x then gets the log again and there is nothing
	// displaced to test.
	readmitted := func() bool { return timesAdded(c, x.Name) > seated }
	testcluster.WaitFor(t, bigClusterWait, x.Name+" no longer a member in its own view", func() bool {
		return x.RaftStatus().State == "client" || readmitted()
	})
	if readmitted() {
		t.Skipf("%s was given a seat again before it found out it had lost one", x.Name)
	}
	testcluster.WaitFor(t, 20*time.Second, "a stale read on "+x.Name+" that sees the write", func() bool {
		e, err := x.KV().Get(ctxT(t), "after", cluster.ReadStale)
		return err == nil && string(e.Value) == "x"
	})
}
