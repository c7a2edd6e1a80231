package cluster_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/naming"
)

func lookupPID(n *testcluster.Node, name string, mode cluster.ReadMode) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := n.Names().Lookup(ctx, name, mode)
	if err != nil {
		return ""
	}
	return b.PID
}

// Every node registers one consistent name at once: exactly one wins, the
// others are refused with the winner named, and every node resolves it.
func TestNamesConsistentFirstWriteWins(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	c.WaitLeader(20 * time.Second)
	nodes := c.Running()
	sessions := make([]*cluster.Session, len(nodes))
	for i, n := range nodes {
		sessions[i] = openSession(t, n)
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func(i int, n *testcluster.Node) {
			defer wg.Done()
			_, errs[i] = n.Names().Register(ctxT(t), sessions[i].PID(), "svc/billing", naming.ScopeConsistent, []byte("addr"))
		}(i, n)
	}
	wg.Wait()
	winner := ""
	for i, err := range errs {
		if err == nil {
			if winner != "" {
				t.Fatalf("two winners: %s and %s", winner, sessions[i].PID())
			}
			winner = sessions[i].PID()
		}
	}
	if winner == "" {
		t.Fatalf("no winner: %v", errs)
	}
	for i, err := range errs {
		if err == nil {
			continue
		}
		var nc *cluster.NameConflict
		if !errors.Is(err, cluster.ErrNameTaken) || !errors.As(err, &nc) || nc.Owner != winner || !strings.Contains(err.Error(), winner) {
			t.Fatalf("loser %s: %v, want ErrNameTaken naming %s", sessions[i].PID(), err, winner)
		}
	}
	for _, n := range nodes {
		if got := lookupPID(n, "svc/billing", cluster.ReadConsistent); got != winner {
			t.Fatalf("%s resolves svc/billing to %q, want %s", n.Name, got, winner)
		}
	}
	// The winner registering again is idempotent.
	for i, n := range nodes {
		if sessions[i].PID() == winner {
			b, err := n.Names().Register(ctxT(t), winner, "svc/billing", naming.ScopeConsistent, nil)
			if err != nil || b.PID != winner || string(b.Meta) != "addr" {
				t.Fatalf("re-register by the owner = %+v, %v", b, err)
			}
			// The session ends: the name is released everywhere.
			if err := sessions[i].Close(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	testcluster.WaitFor(t, 10*time.Second, "the name released on every node", func() bool {
		for _, n := range nodes {
			if lookupPID(n, "svc/billing", cluster.ReadStale) != "" {
				return false
			}
		}
		return true
	})
}

func TestNamesBadInputChangesNothing(t *testing.T) {
	c := testcluster.New(t, 1, testcluster.Options{BootstrapExpect: 1})
	n := c.WaitLeader(10 * time.Second)
	s := openSession(t, n)
	for what, tc := range map[string]struct {
		name  string
		scope naming.Scope
		meta  []byte
		field string
	}{
		"empty":         {"", naming.ScopeConsistent, nil, "name"},
		"too long":      {strings.Repeat("n", 257), naming.ScopeEventual, nil, "name"},
		"reserved":      {"_sys/x", naming.ScopeLocal, nil, "name"},
		"oversize meta": {"ok", naming.ScopeStrong, make([]byte, 4097), "metadata"},
		"bad scope":     {"ok", naming.Scope(9), nil, "scope"},
	} {
		_, err := n.Names().Register(ctxT(t), s.PID(), tc.name, tc.scope, tc.meta)
		if !errors.Is(err, cluster.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want ErrInvalidArgument naming %s", what, err, tc.field)
		}
	}
	if bs, err := n.Names().List(ctxT(t), "", 0, cluster.ReadConsistent); err != nil || len(bs) != 0 {
		t.Fatalf("bad input left bindings: %+v %v", bs, err)
	}
	if _, err := n.Names().Register(ctxT(t), "n1/nosuch", "ok", naming.ScopeLocal, nil); !errors.Is(err, cluster.ErrNoSession) {
		t.Fatalf("unknown session: %v", err)
	}
}

// Lookup prefers consistent/strong, then eventual, then local.
func TestNamesShadowing(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	c.WaitLeader(20 * time.Second)
	nodes := c.Running()
	n1, n2 := nodes[0], nodes[1]
	sl, se, sc := openSession(t, n1), openSession(t, n2), openSession(t, n2)
	if _, err := n1.Names().Register(ctxT(t), sl.PID(), "svc", naming.ScopeLocal, nil); err != nil {
		t.Fatal(err)
	}
	if got := lookupPID(n1, "svc", cluster.ReadDefault); got != sl.PID() {
		t.Fatalf("local only: %q", got)
	}
	if got := lookupPID(n2, "svc", cluster.ReadDefault); got != "" {
		t.Fatalf("a local name is visible on another node: %q", got)
	}
	if _, err := n2.Names().Register(ctxT(t), se.PID(), "svc", naming.ScopeEventual, nil); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the eventual name shadowing the local one on n1", func() bool {
		return lookupPID(n1, "svc", cluster.ReadDefault) == se.PID()
	})
	// A strong registration is refused: n1 holds a local binding of it.
	_, err := n2.Names().Register(ctxT(t), sc.PID(), "svc", naming.ScopeStrong, nil)
	var nc *cluster.NameConflict
	if !errors.As(err, &nc) {
		t.Fatalf("strong over local and eventual bindings: %v, want a conflict", err)
	}
	if _, err := n2.Names().Register(ctxT(t), sc.PID(), "svc", naming.ScopeConsistent, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if got := lookupPID(n, "svc", cluster.ReadConsistent); got != sc.PID() {
			t.Fatalf("%s: consistent name does not shadow: %q", n.Name, got)
		}
	}
	bs, err := n1.Names().List(ctxT(t), "sv", 0, cluster.ReadConsistent)
	if err != nil || len(bs) != 3 || bs[0].Scope != naming.ScopeConsistent || bs[1].Scope != naming.ScopeEventual || bs[2].Scope != naming.ScopeLocal {
		t.Fatalf("list on n1 = %+v, %v", bs, err)
	}
}

// A strong registration is refused at once by a node holding a conflicting
// binding, and expires naming the node that cannot answer.
func TestNamesStrong(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{Configure: func(_ int, cfg *config.Config) {
		cfg.Cluster.Names.StrongDeadline = config.Duration(1500 * time.Millisecond)
	}})
	leader := c.WaitLeader(20 * time.Second)
	var other []*testcluster.Node
	for _, n := range c.Running() {
		if n != leader {
			other = append(other, n)
		}
	}
	holder, far := other[0], other[1]
	sh, sl := openSession(t, holder), openSession(t, leader)
	if _, err := holder.Names().Register(ctxT(t), sh.PID(), "job", naming.ScopeLocal, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := leader.Names().Register(ctxT(t), sl.PID(), "job", naming.ScopeStrong, nil)
	var nc *cluster.NameConflict
	if !errors.As(err, &nc) || nc.Owner != sh.PID() || nc.Node != holder.Name {
		t.Fatalf("strong over a local binding: %v, want a conflict from %s naming %s", err, holder.Name, sh.PID())
	}
	t.Logf("refused by %s in %s", holder.Name, time.Since(start))
	// Nothing is left reserved: the holder's session can take it strongly.
	if _, err := holder.Names().Register(ctxT(t), sh.PID(), "job", naming.ScopeStrong, []byte("m")); err != nil {
		t.Fatalf("strong by the local owner: %v", err)
	}
	if got := lookupPID(leader, "job", cluster.ReadConsistent); got != sh.PID() {
		t.Fatalf("strong name resolves to %q", got)
	}

	// Cut one node off: the registration cannot gather its ack.
	c.Isolate(far)
	start = time.Now()
	_, err = leader.Names().Register(ctxT(t), sl.PID(), "lead", naming.ScopeStrong, nil)
	if !errors.Is(err, cluster.ErrNameExpired) || !strings.Contains(err.Error(), far.Name) {
		t.Fatalf("strong with %s cut off: %v, want ErrNameExpired naming it", far.Name, err)
	}
	t.Logf("expired after %s: %v", time.Since(start), err)
	if got := lookupPID(leader, "lead", cluster.ReadConsistent); got != "" {
		t.Fatalf("an expired strong registration is visible: %q", got)
	}
	c.Heal()
}

// Two sides of a partition claim one eventual name; after the heal every
// node resolves the same winner and the loser hears of it once.
func TestNamesEventualConflictAfterHeal(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	n1 := c.WaitLeader(20 * time.Second)
	nodes := c.Running()
	var n3 *testcluster.Node
	for _, n := range nodes {
		if n != n1 {
			n3 = n
		}
	}
	s1, s3 := openSession(t, n1), openSession(t, n3)
	// n3 must know it is a Raft member (and so read its own replica)
	// before it is cut off.
	testcluster.WaitFor(t, 10*time.Second, "n3 reading its own replica", func() bool {
		_, err := n3.Names().List(ctxT(t), "", naming.ScopeConsistent, cluster.ReadStale)
		st := n3.RaftStatus()
		return err == nil && st.State == "follower" && st.AppliedIndex > 0
	})
	c.Isolate(n3)
	if _, err := n1.Names().Register(ctxT(t), s1.PID(), "cache", naming.ScopeEventual, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := n3.Names().Register(ctxT(t), s3.PID(), "cache", naming.ScopeEventual, nil); err != nil {
		t.Fatalf("register on the cut-off side: %v", err)
	}
	if b, err := n3.Names().Lookup(ctxT(t), "cache", cluster.ReadStale); err != nil || b.PID != s3.PID() {
		t.Fatalf("cut-off side resolves %+v: %v", b, err)
	}
	healed := time.Now()
	c.Heal()
	testcluster.WaitFor(t, 20*time.Second, "every node resolving the earlier claim", func() bool {
		for _, n := range nodes {
			if lookupPID(n, "cache", cluster.ReadStale) != s1.PID() {
				return false
			}
		}
		return true
	})
	t.Logf("converged %s after the heal", time.Since(healed))
	ev := nextSessionEvent(t, s3, 10*time.Second)
	if ev.Kind != cluster.EventNameRevoked || ev.Name != "cache" || ev.Owner != s1.PID() {
		t.Fatalf("loser event %+v", ev)
	}
	// A later name from n1 reaching n3 proves gossip went on; still no
	// second revocation.
	if _, err := n1.Names().Register(ctxT(t), s1.PID(), "marker", naming.ScopeEventual, nil); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the marker on n3", func() bool {
		return lookupPID(n3, "marker", cluster.ReadStale) == s1.PID()
	})
	select {
	case ev := <-s3.Events():
		t.Fatalf("second event for the loser: %+v", ev)
	default:
	}
	// The winner's session ends: its tombstone reaches every node.
	if err := s1.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the released eventual name gone everywhere", func() bool {
		for _, n := range nodes {
			if lookupPID(n, "cache", cluster.ReadStale) != "" {
				return false
			}
		}
		return true
	})
}

func nextSessionEvent(t *testing.T, s *cluster.Session, within time.Duration) cluster.SessionEvent {
	t.Helper()
	select {
	case ev := <-s.Events():
		return *ev
	case <-time.After(within):
		t.Fatalf("no session event within %s", within)
	}
	return cluster.SessionEvent{}
}

// A killed node's names go with it, in every scope that reaches other nodes.
func TestNamesReleasedOnNodeKill(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	var victim *testcluster.Node
	for _, n := range c.Running() {
		if n != leader {
			victim = n
		}
	}
	s := openSession(t, victim)
	for _, sc := range []naming.Scope{naming.ScopeConsistent, naming.ScopeEventual} {
		if _, err := victim.Names().Register(ctxT(t), s.PID(), "k/"+sc.String(), sc, nil); err != nil {
			t.Fatal(err)
		}
	}
	testcluster.WaitFor(t, 10*time.Second, "the eventual name on the leader", func() bool {
		return lookupPID(leader, "k/eventual", cluster.ReadStale) != ""
	})
	killed := time.Now()
	c.Kill(victim)
	released := map[string]time.Duration{}
	testcluster.WaitFor(t, 20*time.Second, "both names released", func() bool {
		for _, name := range []string{"k/consistent", "k/eventual"} {
			if _, ok := released[name]; !ok && lookupPID(leader, name, cluster.ReadStale) == "" {
				released[name] = time.Since(killed)
			}
		}
		return len(released) == 2
	})
	t.Logf("released after kill: %v", released)
}

// A minority cannot register cluster-wide names but still resolves them.
func TestNamesMinority(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	var minority *testcluster.Node
	for _, n := range c.Running() {
		if n != leader {
			minority = n
		}
	}
	sl, sm := openSession(t, leader), openSession(t, minority)
	reg, err := leader.Names().Register(ctxT(t), sl.PID(), "existing", naming.ScopeConsistent, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Applied by the minority node's own replica (a stale read on a node
	// that does not know yet that it is a member is forwarded, so it
	// cannot tell).
	testcluster.WaitFor(t, 10*time.Second, "the name applied by the minority node's replica", func() bool {
		st := minority.RaftStatus()
		return st.State == "follower" && st.AppliedIndex >= reg.Index
	})
	c.Isolate(minority)
	for _, sc := range []naming.Scope{naming.ScopeConsistent, naming.ScopeStrong} {
		_, err := minority.Names().Register(ctxT(t), sm.PID(), "new-"+sc.String(), sc, nil)
		if !errors.Is(err, cluster.ErrUnavailable) && !errors.Is(err, cluster.ErrNameExpired) {
			t.Fatalf("%s register in a minority: %v, want unavailable", sc, err)
		}
	}
	var b naming.Binding
	testcluster.WaitFor(t, 5*time.Second, "a stale lookup in the minority", func() bool {
		b, err = minority.Names().Lookup(ctxT(t), "existing", cluster.ReadStale)
		if err != nil {
			t.Logf("stale lookup in a minority: %v (raft state %s)", err, minority.RaftStatus().State)
		}
		return err == nil && b.PID == sl.PID()
	})
	// Local names keep working.
	if _, err := minority.Names().Register(ctxT(t), sm.PID(), "here", naming.ScopeLocal, nil); err != nil {
		t.Fatalf("local register in a minority: %v", err)
	}
	c.Heal()
}

// A watch sees registrations and releases under its prefix, in order.
func TestNamesWatch(t *testing.T) {
	c := testcluster.New(t, 1, testcluster.Options{BootstrapExpect: 1})
	n := c.WaitLeader(10 * time.Second)
	w, err := n.Names().Watch("svc/")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s := openSession(t, n)
	for _, sc := range []naming.Scope{naming.ScopeLocal, naming.ScopeEventual, naming.ScopeConsistent} {
		if _, err := n.Names().Register(ctxT(t), s.PID(), "svc/"+sc.String(), sc, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Names().Register(ctxT(t), s.PID(), "other", naming.ScopeLocal, nil); err != nil {
		t.Fatal(err)
	}
	if err := n.Names().Unregister(ctxT(t), s.PID(), "svc/consistent"); err != nil {
		t.Fatal(err)
	}
	want := []string{"bound svc/local", "bound svc/eventual", "bound svc/consistent", "unbound svc/consistent"}
	for _, w1 := range want {
		select {
		case ev := <-w.Events():
			if got := ev.Kind.String() + " " + ev.Binding.Name; got != w1 {
				t.Fatalf("event %q, want %q", got, w1)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event, want %q", w1)
		}
	}
}
