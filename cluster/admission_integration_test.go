package cluster_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// roleOf is name's role in the leader's configuration: "voter", "standby"
// or "" (not in it, or no leader).
func roleOf(c *testcluster.Cluster, name string) string {
	l := c.Leader()
	if l == nil {
		return ""
	}
	for _, s := range l.RaftStatus().Servers {
		if s.ID == name && (s.Role == "voter" || s.Role == "standby") {
			return s.Role
		}
	}
	return ""
}

// stayOut watches, until the deadline, that name never enters the leader's
// configuration.
func stayOut(t *testing.T, c *testcluster.Cluster, name string, until time.Time) {
	t.Helper()
	for time.Now().Before(until) {
		if r := roleOf(c, name); r != "" {
			t.Fatalf("%s is a %s before its stabilisation window ended", name, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A new node joining a small core waits out the stabilisation window before
// it joins the configuration (as a standby), and becomes a voter only once
// it has been caught up for the window, however small the core.
func TestNewNodeWaitsOutTheWindowInASmallCore(t *testing.T) {
	const window = 3 * time.Second
	for name, tc := range map[string]struct{ n, voters int }{
		"1 voter":  {1, 3},
		"3 voters": {3, 3},
	} {
		t.Run(name, func(t *testing.T) {
			c := testcluster.New(t, tc.n, testcluster.Options{BootstrapExpect: tc.n, Configure: func(i int, cfg *config.Config) {
				cfg.Cluster.Raft.Stabilization = config.Duration(window)
				if i >= tc.n {
					cfg.Cluster.Raft.BootstrapExpect = 0
				}
			}})
			c.WaitLeader(20 * time.Second)
			waitRoles(t, c, 20*time.Second, tc.n, 0, 0) // bootstrap is not slowed by the window
			var added []*testcluster.Node
			for len(c.Nodes()) < 3 || len(added) == 0 {
				added = append(added, c.AddNode())
			}
			start := time.Now()
			c.Start()
			for _, n := range added {
				stayOut(t, c, n.Name, start.Add(window-200*time.Millisecond))
			}
			// In the 1-voter core the two new nodes must become voters;
			// in the 3-voter core the fourth node ends as a standby.
			wantStandbys := len(c.Nodes()) - tc.voters
			waitRoles(t, c, 30*time.Second, tc.voters, wantStandbys, 0)
			if tc.n == 1 {
				// Voter only after caught up for a further window.
				if d := time.Since(start); d < 2*window-200*time.Millisecond {
					t.Fatalf("new nodes became voters %s after joining, before two windows", d)
				}
			}
		})
	}
}

// The story: three voters in zones a, b and c; a node with no zone
// and a better priority joins. It must not unseat a voter: it ends as a
// standby, and the three voters keep their seats throughout.
func TestBetterRankedNewcomerDoesNotDemoteAVoter(t *testing.T) {
	zones := []string{"zone-a", "zone-b", "zone-c", ""}
	c := testcluster.New(t, 3, testcluster.Options{BootstrapExpect: 3, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.FailureDomain = zones[i]
		if i == 3 {
			cfg.Cluster.Raft.BootstrapExpect = 0
			cfg.Cluster.Raft.Priority = 1
		}
	}})
	c.WaitLeader(20 * time.Second)
	before, _, _ := waitRoles(t, c, 20*time.Second, 3, 0, 0)
	late := c.AddNode()
	c.Start()
	testcluster.WaitFor(t, 20*time.Second, "the newcomer added as a standby", func() bool {
		return roleOf(c, late.Name) == "standby"
	})
	// Several windows (1 s each here) and reconcile passes later, it is
	// still a standby and the voters are the same three.
	until := time.Now().Add(3 * time.Second)
	for time.Now().Before(until) {
		_, voters, _, _ := roles(c)
		if voters[late.Name] {
			t.Fatalf("the newcomer became a voter: %v", voters)
		}
		for v := range before {
			if c.Leader() != nil && !voters[v] && len(voters) > 0 {
				t.Fatalf("voter %s lost its seat: voters %v", v, voters)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// With raft.admission: manual, new servers stay clients, past the
// stabilisation window, until an operator admits them; then the leader
// adds them (a standby first, a voter once caught up). The admitted set is
// replicated to every member, and the bootstrap voters stay.
func TestManualAdmission(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{BootstrapExpect: 3, Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.Raft.Admission = config.AdmissionManual
		if i >= 3 {
			cfg.Cluster.Raft.BootstrapExpect = 0
		}
	}})
	c.WaitLeader(20 * time.Second)
	waitRoles(t, c, 20*time.Second, 3, 0, 0)
	n4, n5 := c.AddNode(), c.AddNode()
	c.Start()
	testcluster.WaitFor(t, 10*time.Second, "the new nodes in the leader's gossip view", func() bool {
		l := c.Leader()
		if l == nil {
			return false
		}
		alive := 0
		for _, m := range l.Members() {
			if (m.Name == n4.Name || m.Name == n5.Name) && m.State == "alive" {
				alive++
			}
		}
		return alive == 2
	})
	// Three windows (1 s) later they are still clients, and the voters
	// were recorded as admitted.
	stayOut(t, c, n4.Name, time.Now().Add(3*time.Second))
	if r := roleOf(c, n5.Name); r != "" {
		t.Fatalf("%s is a %s without admission", n5.Name, r)
	}
	testcluster.WaitFor(t, 10*time.Second, "the bootstrap voters recorded as admitted", func() bool {
		l := c.Leader()
		return l != nil && len(l.AdmittedNodes()) == 3
	})

	if err := c.Nodes()[1].Admit(ctxT(t), n4.Name); err != nil { // any node takes the call
		t.Fatalf("admit %s: %v", n4.Name, err)
	}
	testcluster.WaitFor(t, 20*time.Second, n4.Name+" added as a standby", func() bool {
		return roleOf(c, n4.Name) == "standby"
	})
	if r := roleOf(c, n5.Name); r != "" {
		t.Fatalf("%s, not admitted, is a %s", n5.Name, r)
	}
	if err := c.Leader().Admit(ctxT(t), n5.Name); err != nil {
		t.Fatalf("admit %s: %v", n5.Name, err)
	}
	waitRoles(t, c, 30*time.Second, 5, 0, 0)
	for _, n := range c.Running() {
		testcluster.WaitFor(t, 10*time.Second, n.Name+" knows the admitted set", func() bool {
			return strings.Join(n.RaftStatus().Admitted, " ") == "n1 n2 n3 n4 n5"
		})
	}
	if err := c.Leader().Admit(ctxT(t), "bad/name"); !errors.Is(err, cluster.ErrInvalidArgument) {
		t.Fatalf("admit of a bad name: %v, want InvalidArgument", err)
	}
}
