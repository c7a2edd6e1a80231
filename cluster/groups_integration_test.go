package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/pg"
)

// fastGroups gives every node fast process-group timings (the harness
// keeps the production ones, so big clusters are not busy with heartbeats).
func fastGroups(i int, cfg *config.Config) {
	cfg.Cluster.Groups.AntiEntropyInterval = config.Duration(300 * time.Millisecond)
	cfg.Cluster.Groups.HeartbeatInterval = config.Duration(200 * time.Millisecond)
}

// openSession opens a session on n, closed at cleanup. Its TTL outlasts
// any test (they send no keepalives): a loaded machine stretches a test
// past the default 10 s, and a lapsed session leaves its groups.
func openSession(t *testing.T, n *testcluster.Node) *cluster.Session {
	t.Helper()
	s, err := n.OpenSession(ctxT(t), 10*time.Minute)
	if err != nil {
		t.Fatalf("open session on %s: %v", n.Name, err)
	}
	t.Cleanup(func() {
		if n.Running() {
			// Without quorum the release stays pending; the node's close
			// ends the session anyway, so do not wait out the election.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = s.Close(ctx)
		}
	})
	return s
}

// waitMembers waits until every node in nodes lists exactly want as the
// members of group (default scope).
func waitMembers(t *testing.T, nodes []*testcluster.Node, group string, want []string, timeout time.Duration) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	for _, n := range nodes {
		testcluster.WaitFor(t, timeout, fmt.Sprintf("%s to list %v in %s", n.Name, want, group), func() bool {
			got, err := n.Groups().Members(pg.Key{Group: group}, false)
			return err == nil && slices.Equal(got, want)
		})
	}
}

// nextGroupMessage returns the session's next group message.
func nextGroupMessage(t *testing.T, s *cluster.Session) cluster.SessionEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-s.Events():
			if ev.Kind == cluster.EventGroupMessage {
				return *ev
			}
		case <-timeout:
			t.Fatalf("%s: no group message within 10s", s.PID())
			return cluster.SessionEvent{}
		}
	}
}

// TestGroupsBroadcastAndMonitor: members on three nodes, a broadcast that
// reaches each member exactly once (the next message each sees is the
// following broadcast), a local-only broadcast that stays on its node, and
// a monitor that sees one session's joins and leaves in order.
func TestGroupsBroadcastAndMonitor(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{Configure: fastGroups})
	c.WaitLeader(20 * time.Second)
	nodes := c.Running()

	mon, err := nodes[2].Groups().Monitor(pg.Key{Group: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	if len(mon.Initial()) != 0 {
		t.Fatalf("initial members %v, want none", mon.Initial())
	}

	var sessions []*cluster.Session
	var pids []string
	for _, n := range nodes {
		for range 2 {
			s := openSession(t, n)
			if err := n.Groups().Join(pg.Key{Group: "chat"}, s.PID()); err != nil {
				t.Fatalf("join: %v", err)
			}
			sessions = append(sessions, s)
			pids = append(pids, s.PID())
		}
	}
	waitMembers(t, nodes, "chat", pids, 10*time.Second)

	res, err := nodes[0].Groups().Broadcast(ctxT(t), pg.Key{Group: "chat"}, sessions[0].PID(), []byte("one"), false)
	if err != nil || res.Nodes != 3 || res.Members != 6 || res.Unreached != 0 {
		t.Fatalf("broadcast: %+v, %v; want 3 nodes, 6 members", res, err)
	}
	for _, s := range sessions {
		if m := nextGroupMessage(t, s); string(m.Payload) != "one" || m.From != sessions[0].PID() || m.Scope != "default" || m.Group != "chat" {
			t.Errorf("%s: first message %+v", s.PID(), m)
		}
	}
	// Broadcasts from different senders are not ordered with each other,
	// so the second goes out once every member has the first: then a
	// duplicate of the first would show up before it.
	if _, err := nodes[1].Groups().Broadcast(ctxT(t), pg.Key{Group: "chat"}, "", []byte("two"), false); err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if m := nextGroupMessage(t, s); string(m.Payload) != "two" || m.From != nodes[1].Name {
			t.Errorf("%s: second message %q from %s, want \"two\" from %s (a duplicate of the first?)", s.PID(), m.Payload, m.From, nodes[1].Name)
		}
	}

	// Local only: node 2's members get it, the others see the next
	// cluster-wide broadcast first.
	res, err = nodes[1].Groups().Broadcast(ctxT(t), pg.Key{Group: "chat"}, "", []byte("local"), true)
	if err != nil || res.Nodes != 1 || res.Members != 2 {
		t.Fatalf("local broadcast: %+v, %v; want 1 node, 2 members", res, err)
	}
	if _, err := nodes[0].Groups().Broadcast(ctxT(t), pg.Key{Group: "chat"}, "", []byte("after"), false); err != nil {
		t.Fatal(err)
	}
	for i, s := range sessions {
		want := "after"
		if i/2 == 1 {
			want = "local"
		}
		if got := nextGroupMessage(t, s); string(got.Payload) != want {
			t.Errorf("%s on %s: got %q, want %q", s.PID(), nodes[i/2].Name, got.Payload, want)
		}
	}

	// The monitor saw the six joins, each once; then one session's join,
	// leave, join arrive in that order.
	seen := map[string]int{}
	for range pids {
		select {
		case ev := <-mon.Events():
			if !ev.Joined {
				t.Fatalf("unexpected leave %+v", ev)
			}
			seen[ev.PID]++
		case <-time.After(10 * time.Second):
			t.Fatalf("monitor saw only %v", seen)
		}
	}
	for _, pid := range pids {
		if seen[pid] != 1 {
			t.Fatalf("monitor joins %v, want each of %v once", seen, pids)
		}
	}
	s := sessions[0]
	syncs := func() uint64 { return nodes[0].Groups().Stats().SyncsSent + nodes[2].Groups().Stats().SyncsSent }
	syncsBefore := syncs()
	for _, op := range []string{"leave", "join", "leave"} {
		var err error
		if op == "join" {
			err = nodes[0].Groups().Join(pg.Key{Group: "chat"}, s.PID())
		} else {
			err = nodes[0].Groups().Leave(pg.Key{Group: "chat"}, s.PID())
		}
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	// Deltas arrive in order, so the monitor sees leave, join, leave. A
	// full sync between the two nodes (a link request that timed out on a
	// loaded machine, a peer that flapped in gossip) carries only the net
	// change: then the events must still alternate and end in a leave.
	var got []bool
	deadline := time.After(10 * time.Second)
collect:
	for len(got) < 3 {
		select {
		case ev := <-mon.Events():
			if ev.PID != s.PID() {
				t.Fatalf("monitor event %+v, want one of %s", ev, s.PID())
			}
			got = append(got, ev.Joined)
		case <-deadline:
			break collect
		}
	}
	if !slices.Equal(got, []bool{false, true, false}) {
		synced := syncs() > syncsBefore
		alternate := len(got)%2 == 1
		for i := range got {
			alternate = alternate && got[i] == (i%2 == 1)
		}
		if !synced || !alternate {
			t.Fatalf("monitor events (joined) %v, want [false true false] (full syncs between: %v)", got, synced)
		}
		t.Logf("monitor events %v: a full sync carried the net change", got)
	}
	if err := nodes[0].Groups().Leave(pg.Key{Group: "chat"}, s.PID()); !errors.Is(err, cluster.ErrNotMember) {
		t.Fatalf("second leave: %v, want ErrNotMember", err)
	}

	// A session's end takes its memberships with it everywhere.
	if err := sessions[5].Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes, "chat", pids[1:5], 10*time.Second)

	// Every node hears the others' heartbeats.
	testcluster.WaitFor(t, 10*time.Second, "heartbeats on every node", func() bool {
		for _, n := range nodes {
			if peer, at := n.Groups().LastBeat(); peer == "" || time.Since(at) > 5*time.Second {
				return false
			}
		}
		return true
	})
}

// TestGroupsAntiEntropyRepairsDroppedDelta drops every delta n1 sends to
// n3: n2 learns of the join from the delta, n3 only from anti-entropy.
func TestGroupsAntiEntropyRepairsDroppedDelta(t *testing.T) {
	var drop atomic.Bool
	c := testcluster.New(t, 3, testcluster.Options{
		Configure:      fastGroups,
		DropGroupDelta: func(from, to string) bool { return drop.Load() && from == "n1" && to == "n3" },
	})
	c.WaitLeader(20 * time.Second)
	nodes := c.Running()
	// Links up everywhere (the heartbeat group lists every node) before
	// the drop starts, so the member cannot arrive in a first sync.
	hb := make([]string, 0, 3)
	for _, n := range nodes {
		hb = append(hb, pg.HeartbeatPID(n.Name))
	}
	for _, n := range nodes {
		testcluster.WaitFor(t, 10*time.Second, n.Name+" sees every heartbeat member", func() bool {
			got, _ := n.Groups().Members(pg.Key{Scope: pg.HeartbeatScope, Group: pg.HeartbeatGroup}, false)
			return slices.Equal(got, hb)
		})
	}
	drop.Store(true)
	s := openSession(t, nodes[0])
	if err := nodes[0].Groups().Join(pg.Key{Group: "repair"}, s.PID()); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes[1:2], "repair", []string{s.PID()}, 10*time.Second)
	waitMembers(t, nodes[2:], "repair", []string{s.PID()}, 10*time.Second)
	if st := nodes[0].Groups().Stats(); st.DeltasDropped == 0 {
		t.Fatalf("no delta to n3 was dropped: %+v", st)
	}
	if r := nodes[0].Groups().Stats().Repairs + nodes[2].Groups().Stats().Repairs; r == 0 {
		t.Fatal("n3 caught up but anti-entropy counted no repair")
	}
}

// TestGroupsPartitionHealAndKill: memberships made on both sides of a
// partition converge when it heals; a killed node's members disappear
// from every other node.
func TestGroupsPartitionHealAndKill(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{Configure: fastGroups})
	c.WaitLeader(20 * time.Second)
	nodes := c.Running()
	n1, n3 := nodes[0], nodes[2]
	s3 := openSession(t, n3)
	if err := n3.Groups().Join(pg.Key{Group: "g"}, s3.PID()); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes, "g", []string{s3.PID()}, 10*time.Second)

	c.Isolate(n3)
	// Both sides drop the other's members once gossip declares it dead.
	waitMembers(t, nodes[:2], "g", nil, 20*time.Second)
	s1 := openSession(t, n1)
	if err := n1.Groups().Join(pg.Key{Group: "g"}, s1.PID()); err != nil {
		t.Fatal(err)
	}
	s3b := openSession(t, n3)
	if err := n3.Groups().Join(pg.Key{Group: "g"}, s3b.PID()); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes[2:], "g", []string{s3.PID(), s3b.PID()}, 20*time.Second)
	c.Heal()
	all := []string{s1.PID(), s3.PID(), s3b.PID()}
	waitMembers(t, nodes, "g", all, 30*time.Second)

	killed := time.Now()
	c.Kill(n3)
	waitMembers(t, nodes[:2], "g", []string{s1.PID()}, 20*time.Second)
	t.Logf("members of the killed node gone everywhere %s after the kill", time.Since(killed).Round(time.Millisecond))
}

// TestGroupsWorkWithoutRaftLeader kills two of three voters: the surviving
// voter and a non-voter have no Raft leader, and groups still work between
// them.
func TestGroupsWorkWithoutRaftLeader(t *testing.T) {
	c := testcluster.New(t, 4, testcluster.Options{Configure: func(i int, cfg *config.Config) {
		cfg.Cluster.Raft.MaxVoters = 3
		cfg.Cluster.Raft.MaxStandbys = 0
	}})
	leader := c.WaitLeader(20 * time.Second)
	var voters, others []*testcluster.Node
	for _, s := range leader.RaftStatus().Servers {
		for _, n := range c.Running() {
			if n.Name == s.ID && s.Suffrage == "voter" {
				voters = append(voters, n)
			}
		}
	}
	for _, n := range c.Running() {
		if !slices.Contains(voters, n) {
			others = append(others, n)
		}
	}
	if len(voters) != 3 || len(others) != 1 {
		t.Fatalf("voters %v, others %v; want 3 and 1", voters, others)
	}
	survivors := []*testcluster.Node{voters[2], others[0]}
	// Sessions open before the core goes: opening waits only for the
	// release of a previous incarnation, done at start.
	sa, sb := openSession(t, survivors[0]), openSession(t, survivors[1])
	c.Kill(voters[0])
	c.Kill(voters[1])
	testcluster.WaitFor(t, 20*time.Second, "no Raft leader among the survivors", func() bool {
		for _, n := range survivors {
			st := n.RaftStatus()
			if st.State == "leader" || st.LeaderID == survivors[0].Name {
				return false
			}
		}
		return true
	})
	for i, n := range survivors {
		s := []*cluster.Session{sa, sb}[i]
		if err := n.Groups().Join(pg.Key{Group: "noraft"}, s.PID()); err != nil {
			t.Fatalf("join without a leader: %v", err)
		}
	}
	waitMembers(t, survivors, "noraft", []string{sa.PID(), sb.PID()}, 20*time.Second)
	if res, err := survivors[0].Groups().Broadcast(ctxT(t), pg.Key{Group: "noraft"}, sa.PID(), []byte("still here"), false); err != nil || res.Members != 2 {
		t.Fatalf("broadcast without a leader: %+v, %v", res, err)
	}
	for _, s := range []*cluster.Session{sa, sb} {
		if got := nextGroupMessage(t, s); string(got.Payload) != "still here" {
			t.Fatalf("%s got %q", s.PID(), got.Payload)
		}
	}
	if st := survivors[0].RaftStatus(); st.State == "leader" {
		t.Fatal("a survivor became leader: the test did not run without one")
	}
}

// TestGroupsRejectBadInput: bad names, reserved names, oversize payloads
// and foreign sessions are refused naming the field, and change nothing.
func TestGroupsRejectBadInput(t *testing.T) {
	c := testcluster.New(t, 1, testcluster.Options{})
	n := c.WaitLeader(20 * time.Second)
	s := openSession(t, n)
	big := make([]byte, config.Default().Cluster.Groups.MaxPayloadBytes+1)
	tests := map[string]struct {
		err   error
		want  error
		field string
	}{
		"empty group":    {n.Groups().Join(pg.Key{Group: ""}, s.PID()), cluster.ErrInvalidArgument, "group"},
		"reserved group": {n.Groups().Join(pg.Key{Group: "_sys-x"}, s.PID()), cluster.ErrInvalidArgument, "group"},
		"reserved scope": {n.Groups().Join(pg.Key{Scope: "_sys", Group: "heartbeat"}, s.PID()), cluster.ErrInvalidArgument, "scope"},
		"long group":     {n.Groups().Join(pg.Key{Group: strings.Repeat("g", 257)}, s.PID()), cluster.ErrInvalidArgument, "group"},
		"control char":   {n.Groups().Join(pg.Key{Group: "a\nb"}, s.PID()), cluster.ErrInvalidArgument, "group"},
		"no session":     {n.Groups().Join(pg.Key{Group: "g"}, n.Name+"/feed"), cluster.ErrNoSession, ""},
		"bad pid":        {n.Groups().Join(pg.Key{Group: "g"}, "nopid"), cluster.ErrInvalidArgument, "pid"},
		"oversize": {func() error {
			_, err := n.Groups().Broadcast(ctxT(t), pg.Key{Group: "g"}, "", big, false)
			return err
		}(), cluster.ErrInvalidArgument, "payload"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) || !strings.Contains(tc.err.Error(), tc.field+":") {
				t.Fatalf("err %v, want %v naming %q", tc.err, tc.want, tc.field)
			}
		})
	}
	gs, err := n.Groups().Groups("")
	if err != nil || !reflect.DeepEqual(gs, []cluster.GroupInfo{}) {
		t.Fatalf("groups after bad input: %+v, %v", gs, err)
	}
}
