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

// memCluster runs n Services on one memNet, each with a recorded inbox.
type memCluster struct {
	t    *testing.T
	net  *memNet
	svcs []*Service
	mu   sync.Mutex
	got  map[string][]Message // pid -> delivered
}

func newMemCluster(t *testing.T, n int, opts ...Option) *memCluster {
	t.Helper()
	c := &memCluster{t: t, net: &memNet{svcs: map[string]*Service{}, alive: map[string]bool{}}, got: map[string][]Message{}}
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
		s, err := New(cfg, name, 1, memTransport{net: c.net, from: name}, memView{net: c.net, self: name},
			func(pid string, m Message) bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				c.got[pid] = append(c.got[pid], m)
				return true
			}, opts...)
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
		if _, err := s.Join(kA, s.state.Local()+"/s"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"a/s0", "b/s1", "c/s2"}
	for i := range c.svcs {
		waitFor(t, "members on every node", func() bool { return reflect.DeepEqual(c.members(i, kA), want) })
	}
	res, err := c.svcs[0].Broadcast(t.Context(), kA, "a/s0", []byte("hello"), false)
	if err != nil || res.Nodes != 3 || res.Members != 3 {
		t.Fatalf("broadcast %+v %v", res, err)
	}
	c.mu.Lock()
	for _, pid := range want {
		if len(c.got[pid]) != 1 || string(c.got[pid][0].Payload) != "hello" {
			t.Errorf("%s got %+v", pid, c.got[pid])
		}
	}
	c.mu.Unlock()
	if res, _ := c.svcs[0].Broadcast(t.Context(), kA, "a", []byte("local"), true); res.Nodes != 1 || res.Members != 1 {
		t.Fatalf("local broadcast %+v", res)
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
	if _, err := c.svcs[0].Join(kA, "a/x"); err != nil {
		t.Fatal(err)
	}
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
	if _, err := c.svcs[1].Join(kA, "b/x"); err != nil {
		t.Fatal(err)
	}
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
	s := newTestService(t, "n1")
	big := make([]byte, DefaultLocalConfig().MaxPayload+1)
	tests := map[string]struct {
		err   error
		field string
	}{
		"empty group": {func() error { _, err := s.Join(Key{"default", ""}, "n1/x"); return err }(), "group"},
		"reserved":    {func() error { _, err := s.Join(Key{"default", "_sys/x"}, "n1/x"); return err }(), "group"},
		"long":        {func() error { _, err := s.Join(Key{strings.Repeat("s", 257), "g"}, "n1/x"); return err }(), "scope"},
		"foreign pid": {func() error { _, err := s.Join(kA, "n2/x"); return err }(), "pid"},
		"oversize": {func() error {
			_, err := s.Broadcast(context.Background(), kA, "n1", big, false)
			return err
		}(), "payload"},
		"not member": {s.Leave(kA, "n1/x"), ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.field == "" {
				if !errors.Is(tc.err, ErrNotMember) {
					t.Fatalf("err %v", tc.err)
				}
				return
			}
			if !errors.Is(tc.err, ErrInvalid) || !strings.Contains(tc.err.Error(), tc.field+":") {
				t.Fatalf("err %v, want ErrInvalid naming %s", tc.err, tc.field)
			}
		})
	}
	if g, _, _ := s.Counts(); g != 0 {
		t.Fatalf("bad input changed the state: %d groups", g)
	}
}
