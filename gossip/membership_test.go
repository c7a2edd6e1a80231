package gossip

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

const converge = 10 * time.Second // generous: -race on a loaded machine

// threeNodes starts n1 and two nodes that join it through Run, and waits
// until every node sees all three alive.
func threeNodes(t *testing.T) (n1, n2, n3 *Membership) {
	t.Helper()
	n1 = startNode(t, "n1", nodeOpt{meta: func(m *Meta) { m.FailureDomain = "fd-1" }})
	n2 = startNode(t, "n2", nodeOpt{cfg: joinTo(n1.LocalAddr()), meta: func(m *Meta) { m.FailureDomain = "fd-2" }})
	n3 = startNode(t, "n3", nodeOpt{cfg: joinTo(n1.LocalAddr()), meta: func(m *Meta) { m.FailureDomain = "fd-3" }})
	for _, n := range []*Membership{n1, n2, n3} {
		run(t, n)
	}
	for _, n := range []*Membership{n1, n2, n3} {
		waitFor(t, converge, n.LocalName()+" sees 3 alive", func() bool { return n.NumAlive() == 3 })
	}
	return n1, n2, n3
}

func TestThreeNodesJoinAndSeeMeta(t *testing.T) {
	n1, n2, n3 := threeNodes(t)
	nodes := []*Membership{n1, n2, n3}
	for _, n := range nodes {
		members := n.Members()
		if len(members) != 3 {
			t.Fatalf("%s: %d members, want 3", n.LocalName(), len(members))
		}
		for i, mem := range members {
			want := nodes[i]
			if mem.Name != want.LocalName() {
				t.Fatalf("%s: members not sorted by name: %v", n.LocalName(), members)
			}
			if mem.State != StateAlive || !mem.MetaValid || mem.LastSeen.IsZero() {
				t.Errorf("%s sees %s as %+v", n.LocalName(), mem.Name, mem)
			}
			if mem.Addr != want.LocalAddr() {
				t.Errorf("%s sees %s at %s, want %s", n.LocalName(), mem.Name, mem.Addr, want.LocalAddr())
			}
			if mem.Meta != want.LocalMeta() {
				t.Errorf("%s sees %s meta %+v, want %+v", n.LocalName(), mem.Name, mem.Meta, want.LocalMeta())
			}
		}
	}
	for _, n := range []*Membership{n2, n3} {
		if s := n.Stats(); s.Joins != 1 || s.JoinFailures != 0 {
			t.Errorf("%s stats %+v, want one join and no failures", n.LocalName(), s)
		}
	}
	// Joining took a TCP push/pull and UDP gossip both ways on every node.
	for _, n := range nodes {
		if s := n.Stats(); s.BytesIn == 0 || s.BytesOut == 0 {
			t.Errorf("%s counted no gossip bytes: in %d, out %d", n.LocalName(), s.BytesIn, s.BytesOut)
		}
	}
}

func TestUpdateMetaPropagates(t *testing.T) {
	n1, n2, _ := threeNodes(t)
	events, unsubscribe := n2.Subscribe(64)
	defer unsubscribe()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n1.UpdateMeta(ctx, func(m *Meta) { m.Leader, m.Term = "n1", 7 }); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	if got := n1.LocalMeta(); got.Leader != "n1" || got.Term != 7 {
		t.Fatalf("LocalMeta after update = %+v", got)
	}
	ev := waitEvent(t, events, converge, "n1 updated", func(e Event) bool {
		return e.Kind == NodeUpdated && e.Member.Name == "n1"
	})
	if ev.Member.Meta.Leader != "n1" || ev.Member.Meta.Term != 7 || ev.Member.Meta.FailureDomain != "fd-1" {
		t.Fatalf("update event carries %+v", ev.Member.Meta)
	}
	if mem, _ := n2.Member("n1"); mem.Meta.Term != 7 {
		t.Fatalf("n2's view of n1 after the event: %+v", mem.Meta)
	}

	// An update that does not fit changes nothing.
	err := n1.UpdateMeta(ctx, func(m *Meta) { m.Nonce = strings.Repeat("x", 600) })
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("oversized UpdateMeta err = %v", err)
	}
	if n1.LocalMeta().Nonce != "n1-nonce" {
		t.Fatalf("failed update leaked into local meta: %+v", n1.LocalMeta())
	}
}

func TestFailedAndLeft(t *testing.T) {
	n1, n2, n3 := threeNodes(t)
	events, unsubscribe := n1.Subscribe(64)
	defer unsubscribe()

	if err := n3.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	ev := waitEvent(t, events, converge, "n3 gone", func(e Event) bool {
		return e.Member.Name == "n3" && (e.Kind == NodeFailed || e.Kind == NodeLeft)
	})
	if ev.Kind != NodeFailed || ev.Member.State != StateDead {
		t.Fatalf("n3 was shut down without Leave but n1 got %v / %s", ev.Kind, ev.Member.State)
	}
	for _, n := range []*Membership{n1, n2} {
		waitFor(t, converge, n.LocalName()+" sees n3 dead", func() bool { return sees(n, "n3", StateDead) })
	}

	if err := n2.Leave(5 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	ev = waitEvent(t, events, converge, "n2 gone", func(e Event) bool {
		return e.Member.Name == "n2" && (e.Kind == NodeFailed || e.Kind == NodeLeft)
	})
	if ev.Kind != NodeLeft || ev.Member.State != StateLeft {
		t.Fatalf("n2 left gracefully but n1 got %v / %s", ev.Kind, ev.Member.State)
	}
	if n1.NumAlive() != 1 {
		t.Fatalf("n1 sees %d alive, want only itself", n1.NumAlive())
	}
	// Dead and left members stay in the view for status output.
	if got := len(n1.Members()); got != 3 {
		t.Fatalf("n1 view has %d members, want 3 (two gone ones kept)", got)
	}
}

func TestForgetDeadAfter(t *testing.T) {
	n1 := startNode(t, "n1", nodeOpt{cfg: func(c *Config) { c.ForgetDeadAfter = 300 * time.Millisecond }})
	events, unsubscribe := n1.Subscribe(16)
	defer unsubscribe()
	n2 := startNode(t, "n2", nodeOpt{cfg: joinTo(n1.LocalAddr())})
	run(t, n2)
	waitFor(t, converge, "n1 sees n2", func() bool { return sees(n1, "n2", StateAlive) })
	if err := n2.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// An event, not a poll of the view: the dead window is short here.
	waitEvent(t, events, converge, "n2 failed", func(e Event) bool { return e.Kind == NodeFailed && e.Member.Name == "n2" })
	waitFor(t, converge, "n1 forgets n2", func() bool { _, ok := n1.Member("n2"); return !ok })
	if names := aliveNames(n1); len(names) != 1 || !names["n1"] {
		t.Fatalf("n1 view after forgetting: %v", n1.Members())
	}
}

func TestSubscribeNeverBlocks(t *testing.T) {
	n1 := startNode(t, "n1", nodeOpt{})
	if n1.HealthScore() != 0 {
		t.Fatalf("fresh node health score %d, want 0", n1.HealthScore())
	}
	full, _ := n1.Subscribe(1) // never read
	live, unsubscribe := n1.Subscribe(16)
	for _, name := range []string{"a", "b", "c"} {
		n := startNode(t, name, nodeOpt{cfg: joinTo(n1.LocalAddr())})
		run(t, n)
	}
	for range 3 {
		waitEvent(t, live, converge, "a join", func(e Event) bool { return e.Kind == NodeJoined })
	}
	// The emitter may reach the full subscriber just after the live one.
	waitFor(t, converge, "two drops counted", func() bool { return n1.Stats().DroppedEvents >= 2 })
	if len(full) != 1 {
		t.Fatalf("full subscriber holds %d events, want its buffer of 1", len(full))
	}

	unsubscribe()
	unsubscribe()    // idempotent
	for range live { // ends only because unsubscribe closed it
	}

	if err := n1.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := n1.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	<-full // the buffered event
	if _, ok := <-full; ok {
		t.Fatal("subscription still open after Shutdown")
	}
	if ch, _ := n1.Subscribe(1); ch != nil {
		if _, ok := <-ch; ok {
			t.Fatal("Subscribe after Shutdown returned an open channel")
		}
	}
	if err := n1.UpdateMeta(context.Background(), func(*Meta) {}); !errors.Is(err, ErrShutdown) {
		t.Fatalf("UpdateMeta after Shutdown err = %v", err)
	}
	if err := n1.Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Leave after Shutdown err = %v", err)
	}
	if err := n1.Run(context.Background()); err != nil {
		t.Fatalf("Run after Shutdown = %v, want nil at once", err)
	}
}

// TestMalformedPeerMeta joins a plain memberlist node that gossips garbage
// as its meta: it is a member, flagged and counted, not a crash.
func TestMalformedPeerMeta(t *testing.T) {
	n1 := startNode(t, "n1", nodeOpt{})
	mc := memberlist.DefaultLocalConfig()
	mc.Name = "raw"
	mc.BindAddr = "127.0.0.1"
	mc.BindPort = 0
	mc.LogOutput = discard{}
	mc.Delegate = garbageMeta{}
	raw, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Shutdown() })
	if _, err := raw.Join([]string{n1.LocalAddr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, converge, "n1 sees raw", func() bool { return sees(n1, "raw", StateAlive) })
	mem, _ := n1.Member("raw")
	if mem.MetaValid || mem.Meta != (Meta{}) {
		t.Fatalf("garbage meta accepted: %+v", mem)
	}
	if n1.Stats().MalformedMeta == 0 {
		t.Fatal("malformed meta not counted")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type garbageMeta struct{}

func (garbageMeta) NodeMeta(int) []byte                 { return []byte{1, 0xff, 0xff, 3} }
func (garbageMeta) NotifyMsg([]byte)                    {}
func (garbageMeta) GetBroadcasts(int, int) [][]byte     { return nil }
func (garbageMeta) LocalState(bool) []byte              { return nil }
func (garbageMeta) MergeRemoteState(buf []byte, _ bool) {}
