package pg

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memCluster runs n Services on one memNet; one session table serves them
// all (a PID names its node).
type memCluster struct {
	t    *testing.T
	net  *memNet
	svcs []*Service
	sess *fakeSessions
}

func newMemCluster(t *testing.T, n int, opts ...Option) *memCluster {
	t.Helper()
	c := &memCluster{t: t, net: &memNet{svcs: map[string]*Service{}, alive: map[string]bool{}}, sess: newFakeSessions()}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for i := range n {
		name := string(rune('a' + i))
		cfg := DefaultLocalConfig()
		cfg.AntiEntropyInterval = 50 * time.Millisecond
		cfg.HeartbeatInterval = 20 * time.Millisecond
		s, err := New(cfg, name, 1, memTransport{net: c.net, from: name}, memView{net: c.net, self: name}, c.sess, opts...)
		if err != nil {
			t.Fatal(err)
		}
		c.net.mu.Lock()
		c.net.svcs[name], c.net.alive[name] = s, true
		c.net.mu.Unlock()
		c.svcs = append(c.svcs, s)
	}
	for _, s := range c.svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Run(ctx)
		}()
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// join opens the session pid and joins it to k on node i.
func (c *memCluster) join(i int, k Key, pid string) {
	c.t.Helper()
	c.sess.start(pid)
	if err := c.svcs[i].Join(k, pid); err != nil {
		c.t.Fatal(err)
	}
}

func (c *memCluster) members(i int, k Key) []string {
	m, err := c.svcs[i].Members(k, false)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

func TestServiceReplicatesAndBroadcasts(t *testing.T) {
	c := newMemCluster(t, 3)
	for i, s := range c.svcs {
		c.join(i, kA, s.state.Local()+"/s"+string(rune('0'+i)))
	}
	want := []string{"a/s0", "b/s1", "c/s2"}
	for i := range c.svcs {
		waitFor(t, "members on every node", func() bool { return reflect.DeepEqual(c.members(i, kA), want) })
	}
	res, err := c.svcs[0].Broadcast(t.Context(), kA, "a/s0", []byte("hello"), false)
	if err != nil || res.Nodes != 3 || res.Members != 3 {
		t.Fatalf("broadcast %+v %v", res, err)
	}
	for _, pid := range want {
		if got := c.sess.inbox(pid); len(got) != 1 || string(got[0].Payload) != "hello" || got[0].From != "a/s0" {
			t.Errorf("%s got %+v", pid, got)
		}
	}
	if res, _ := c.svcs[0].Broadcast(t.Context(), kA, "", []byte("local"), true); res.Nodes != 1 || res.Members != 1 {
		t.Fatalf("local broadcast %+v", res)
	}
	if got := c.sess.inbox("a/s0"); len(got) != 2 || got[1].From != "a" {
		t.Fatalf("a broadcast from no session comes from the node: %+v", got)
	}
	waitFor(t, "heartbeats", func() bool {
		for _, s := range c.svcs {
			if node, at := s.LastBeat(); node == "" || at.IsZero() {
				return false
			}
		}
		return true
	})
}

func TestServiceAntiEntropyRepairsDroppedDelta(t *testing.T) {
	var drop atomic.Bool
	drop.Store(true)
	c := newMemCluster(t, 2, WithDeltaFilter(func(string) bool { return drop.Load() }))
	waitFor(t, "links up", func() bool { return len(c.members(1, heartbeatKey)) == 2 })
	c.join(0, kA, "a/x")
	waitFor(t, "anti-entropy repair", func() bool { return reflect.DeepEqual(c.members(1, kA), []string{"a/x"}) })
	if st := c.svcs[0].Stats(); st.DeltasDropped == 0 {
		t.Fatalf("no delta was dropped: %+v", st)
	}
	if c.svcs[0].Stats().Repairs+c.svcs[1].Stats().Repairs == 0 {
		t.Fatal("repaired without anti-entropy counting a repair")
	}
}

func TestServicePeerDownDropsMembersAndMonitorSeesIt(t *testing.T) {
	c := newMemCluster(t, 2)
	mon, err := c.svcs[0].Monitor(kA)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	c.join(1, kA, "b/x")
	next := func() Change {
		select {
		case ev := <-mon.Events():
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no monitor event")
			return Change{}
		}
	}
	if ev := next(); ev != (Change{Key: kA, PID: "b/x", Joined: true}) {
		t.Fatalf("event %+v", ev)
	}
	c.net.mu.Lock()
	c.net.alive["b"] = false
	c.net.mu.Unlock()
	if ev := next(); ev != (Change{Key: kA, PID: "b/x"}) {
		t.Fatalf("event %+v", ev)
	}
	if m := c.members(0, kA); len(m) != 0 {
		t.Fatalf("members of a gone node remain: %v", m)
	}
}

func TestServiceRejectsBadInput(t *testing.T) {
	s, sess := newTestService(t, "n1")
	sess.start("n1/x", "n2/y") // n2/y: a table that wrongly holds another node's session
	big := make([]byte, DefaultLocalConfig().MaxPayload+1)
	tests := map[string]struct {
		err      error
		sentinel error
		field    string
	}{
		"empty group":    {s.Join(Key{"default", ""}, "n1/x"), ErrInvalid, "group"},
		"reserved":       {s.Join(Key{"default", "_sys/x"}, "n1/x"), ErrInvalid, "group"},
		"reserved scope": {s.Join(Key{HeartbeatScope, HeartbeatGroup}, "n1/x"), ErrInvalid, "scope"},
		"long":           {s.Join(Key{strings.Repeat("s", 257), "g"}, "n1/x"), ErrInvalid, "scope"},
		"control char":   {s.Join(Key{"", "a\nb"}, "n1/x"), ErrInvalid, "group"},
		"bad pid":        {s.Join(kA, "nopid"), ErrInvalid, "pid"},
		"no session":     {s.Join(kA, "n1/feed"), ErrNoSession, ""},
		"foreign pid":    {s.Join(kA, "n2/x"), ErrNoSession, ""},
		"foreign open":   {s.Join(kA, "n2/y"), ErrInvalid, "pid"},
		"oversize": {func() error {
			_, err := s.Broadcast(context.Background(), kA, "n1/x", big, false)
			return err
		}(), ErrInvalid, "payload"},
		"from no session": {func() error {
			_, err := s.Broadcast(context.Background(), kA, "n1/gone", nil, false)
			return err
		}(), ErrNoSession, ""},
		"broadcast reserved": {func() error {
			_, err := s.Broadcast(context.Background(), heartbeatKey, "", nil, false)
			return err
		}(), ErrInvalid, "scope"},
		"not member":       {s.Leave(kA, "n1/x"), ErrNotMember, ""},
		"leave no session": {s.Leave(kA, "n1/feed"), ErrNoSession, ""},
		"members":          {func() error { _, err := s.Members(Key{"", ""}, false); return err }(), ErrInvalid, "group"},
		"groups":           {func() error { _, err := s.Groups("a\x01"); return err }(), ErrInvalid, "scope"},
		"monitor":          {func() error { _, err := s.Monitor(Key{"", "a\x00"}); return err }(), ErrInvalid, "group"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.sentinel) || !strings.Contains(tc.err.Error(), tc.field+":") {
				t.Fatalf("err %v, want %v naming %s", tc.err, tc.sentinel, tc.field)
			}
		})
	}
	if g, _, _ := s.Counts(); g != 0 {
		t.Fatalf("bad input changed the state: %d groups", g)
	}
}

// TestServiceDefaultScope: a key without a scope is in DefaultScope, for
// writes and reads alike; reads may name the reserved heartbeat group.
func TestServiceDefaultScope(t *testing.T) {
	s, sess := newTestService(t, "n1")
	sess.start("n1/x")
	if err := s.Join(Key{Group: "g"}, "n1/x"); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Members(Key{Scope: DefaultScope, Group: "g"}, false); err != nil || !reflect.DeepEqual(m, []string{"n1/x"}) {
		t.Fatalf("members %v %v", m, err)
	}
	if m, err := s.Members(Key{Group: "g"}, true); err != nil || !reflect.DeepEqual(m, []string{"n1/x"}) {
		t.Fatalf("local members %v %v", m, err)
	}
	gs, err := s.Groups("")
	if want := []GroupInfo{{Scope: DefaultScope, Group: "g", Members: 1, Local: 1}}; err != nil || !reflect.DeepEqual(gs, want) {
		t.Fatalf("groups %+v %v, want %+v", gs, err, want)
	}
	if gs, err := s.Groups("other"); err != nil || gs == nil || len(gs) != 0 {
		t.Fatalf("groups of an empty scope %#v %v, want empty", gs, err)
	}
	mon, err := s.Monitor(Key{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	if mon.Key() != (Key{DefaultScope, "g"}) || !reflect.DeepEqual(mon.Initial(), []string{"n1/x"}) {
		t.Fatalf("monitor of %v starts with %v", mon.Key(), mon.Initial())
	}
	if _, err := s.Members(heartbeatKey, false); err != nil {
		t.Fatalf("reading the heartbeat group: %v", err)
	}
	if err := s.Leave(Key{Group: "g"}, "n1/x"); err != nil {
		t.Fatal(err)
	}
	if g, _, _ := s.Counts(); g != 0 {
		t.Fatalf("%d groups after the leave", g)
	}
}

// TestServiceJoinOfEndingSession: a session that ends while it joins (its
// end hook, LeaveAll, ran between the Service's check and the join) keeps
// no membership, and the join says so.
func TestServiceJoinOfEndingSession(t *testing.T) {
	s, sess := newTestService(t, "n1")
	mon, err := s.Monitor(kA)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	sess.start("n1/x")
	sess.onLookup = func(pid string) {
		sess.end(pid)
		s.LeaveAll(pid) // what the node's end hook does
	}
	if err := s.Join(kA, "n1/x"); !errors.Is(err, ErrNoSession) || !strings.Contains(err.Error(), "ended") {
		t.Fatalf("join of an ending session: %v, want ErrNoSession", err)
	}
	if m, _ := s.Members(kA, false); len(m) != 0 {
		t.Fatalf("an ended session is still a member: %v", m)
	}
	// Monitors saw it come and go.
	for _, want := range []Change{{Key: kA, PID: "n1/x", Joined: true}, {Key: kA, PID: "n1/x"}} {
		select {
		case ev := <-mon.Events():
			if ev != want {
				t.Fatalf("event %+v, want %+v", ev, want)
			}
		default:
			t.Fatalf("no event %+v", want)
		}
	}
}

// TestServiceStopped: once Run has returned, writes and monitors are
// refused with ErrStopped; reads still answer from the last state.
func TestServiceStopped(t *testing.T) {
	s, sess := newTestService(t, "n1")
	sess.start("n1/x")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	_, berr := s.Broadcast(t.Context(), kA, "", nil, false)
	_, merr := s.Monitor(kA)
	for name, err := range map[string]error{"join": s.Join(kA, "n1/x"), "leave": s.Leave(kA, "n1/x"), "broadcast": berr, "monitor": merr} {
		if !errors.Is(err, ErrStopped) {
			t.Errorf("%s after stop: %v, want ErrStopped", name, err)
		}
	}
	if _, err := s.Members(kA, false); err != nil {
		t.Errorf("members after stop: %v", err)
	}
}
