package naming

import (
	"errors"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// world is a set of Eventual replicas with a shared, editable liveness view.
type world struct {
	mu    sync.Mutex
	dead  map[string]bool
	nodes map[string]*Eventual
}

func newWorld(names ...string) *world {
	w := &world{dead: map[string]bool{}, nodes: map[string]*Eventual{}}
	for i, n := range names {
		w.nodes[n] = NewEventual(n, uint64(100+i), w.alive, time.Minute)
	}
	return w
}

func (w *world) alive(n string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.dead[n]
}

// mustMerge merges msg and returns the events, the revocations and the
// tombstones of revoked claims (the last outgoing delta, when there were
// revocations).
func mustMerge(t *testing.T, e *Eventual, msg []byte) ([]Event, []Revocation, []byte) {
	t.Helper()
	res, err := e.Merge(t0, msg)
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	var tomb []byte
	if len(res.Revocations) > 0 {
		tomb = res.Outgoing[len(res.Outgoing)-1]
	}
	return res.Events, res.Revocations, tomb
}

func TestEventualConflictSameWinnerEverywhere(t *testing.T) {
	for _, order := range [][]string{{"a", "b"}, {"b", "a"}} {
		w := newWorld("a", "b", "c")
		a, b, c := w.nodes["a"], w.nodes["b"], w.nodes["c"]
		// b claims later by its clock; a's earlier claim must win.
		_, _, da, err := a.Register(t0, "svc", "a/1", []byte("A"))
		if err != nil {
			t.Fatal(err)
		}
		_, _, db, err := b.Register(t0.Add(time.Millisecond), "svc", "b/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		deltas := map[string][]byte{"a": da, "b": db}
		for _, from := range order {
			mustMerge(t, c, deltas[from])
		}
		_, revsA, _ := mustMerge(t, a, db)
		_, revsB, tomb := mustMerge(t, b, da)
		if len(revsA) != 0 {
			t.Fatalf("winner revoked: %v", revsA)
		}
		if len(revsB) != 1 || revsB[0].PID != "b/1" || revsB[0].Winner != "a/1" || tomb == nil {
			t.Fatalf("loser revocations %v, tombstone %v", revsB, tomb != nil)
		}
		// Gossip keeps delivering: no second revocation.
		if _, revs, _ := mustMerge(t, b, da); len(revs) != 0 {
			t.Fatalf("second revocation %v", revs)
		}
		mustMerge(t, a, tomb)
		mustMerge(t, c, tomb)
		for n, e := range w.nodes {
			got, ok := e.Get("svc")
			if !ok || got.PID != "a/1" || string(got.Meta) != "A" {
				t.Fatalf("order %v: node %s resolves svc to %+v %v", order, n, got, ok)
			}
		}
		// The loser may not register again while the winner holds it.
		var cf *Conflict
		if _, _, _, err := b.Register(t0, "svc", "b/1", nil); !errors.As(err, &cf) || cf.Owner != "a/1" {
			t.Fatalf("re-register by loser = %v", err)
		}
	}
}

// TestEventualConvergesUnderShuffledDelivery: random registrations,
// unregistrations and releases on three nodes, every message delivered to
// every other node in a random order, some twice, then a push/pull round:
// all nodes hold the same bindings.
func TestEventualConvergesUnderShuffledDelivery(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	w := newWorld("a", "b", "c")
	names := []string{"x", "y", "z", "w"}
	type msg struct {
		from string
		b    []byte
	}
	var msgs []msg
	now := t0
	for i := 0; i < 300; i++ {
		now = now.Add(time.Millisecond)
		from := []string{"a", "b", "c"}[rng.Intn(3)]
		e := w.nodes[from]
		pid := from + "/" + string(rune('0'+rng.Intn(3)))
		name := names[rng.Intn(len(names))]
		var d []byte
		switch rng.Intn(3) {
		case 0, 1:
			_, _, d, _ = e.Register(now, name, pid, nil)
		case 2:
			_, d = e.ReleaseSession(now, pid)
		}
		if d != nil {
			msgs = append(msgs, msg{from, d})
		}
		// Deliver a random pending message somewhere now and then.
		if len(msgs) > 0 && rng.Intn(2) == 0 {
			m := msgs[rng.Intn(len(msgs))]
			for to, te := range w.nodes {
				if to != m.from && rng.Intn(2) == 0 {
					_, _, tomb := mustMerge(t, te, m.b)
					if tomb != nil {
						msgs = append(msgs, msg{to, tomb})
					}
				}
			}
		}
	}
	// Anti-entropy: full states until nothing changes.
	for round := 0; round < 5; round++ {
		for from, fe := range w.nodes {
			st := fe.State()
			for to, te := range w.nodes {
				if to != from {
					mustMerge(t, te, st)
				}
			}
		}
	}
	want := w.nodes["a"].List("")
	for n, e := range w.nodes {
		got := e.List("")
		if len(got) != len(want) {
			t.Fatalf("node %s has %d bindings, a has %d", n, len(got), len(want))
		}
		for i := range got {
			if got[i].Name != want[i].Name || got[i].PID != want[i].PID {
				t.Fatalf("node %s: %+v, a: %+v", n, got[i], want[i])
			}
		}
	}
}

func TestEventualDeadNodeAndNewIncarnation(t *testing.T) {
	w := newWorld("a", "b")
	a, b := w.nodes["a"], w.nodes["b"]
	_, _, d, _ := b.Register(t0, "x", "b/1", nil)
	mustMerge(t, a, d)
	if _, ok := a.Get("x"); !ok {
		t.Fatal("not merged")
	}
	w.mu.Lock()
	w.dead["b"] = true
	w.mu.Unlock()
	if evs := a.DropNode("b"); len(evs) != 1 || evs[0].Kind != Unbound {
		t.Fatalf("drop = %v", evs)
	}
	// A stale copy from a third party while b is dead changes nothing.
	if evs, _, _ := mustMerge(t, a, d); len(evs) != 0 {
		t.Fatalf("dead node's claim accepted: %v", evs)
	}
	// b restarts (new incarnation, no claims): its state replaces the old.
	w.mu.Lock()
	w.dead["b"] = false
	w.mu.Unlock()
	mustMerge(t, a, d) // old incarnation, alive again: accepted
	b2 := NewEventual("b", 999, w.alive, time.Minute)
	mustMerge(t, a, b2.State())
	if _, ok := a.Get("x"); ok {
		t.Fatal("old incarnation's claim survived the new incarnation's state")
	}
	if evs, _, _ := mustMerge(t, a, d); len(evs) != 0 {
		t.Fatal("old incarnation's delta accepted after the new one")
	}
}

// A node that learns a claim from a delta passes it on; one that already
// had it does not, so the epidemic dies out.
func TestEventualForwardsNews(t *testing.T) {
	w := newWorld("a", "b", "c")
	a, b, c := w.nodes["a"], w.nodes["b"], w.nodes["c"]
	_, _, d, _ := a.Register(t0, "x", "a/1", nil)
	res, err := b.Merge(t0, d)
	if err != nil || len(res.Outgoing) != 1 {
		t.Fatalf("first receipt: %d outgoing, %v", len(res.Outgoing), err)
	}
	// c hears it from b, not from a.
	if _, err := c.Merge(t0, res.Outgoing[0]); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Get("x"); !ok || got.PID != "a/1" {
		t.Fatalf("forwarded claim: %+v %v", got, ok)
	}
	again, _ := b.Merge(t0, d)
	if len(again.Outgoing) != 0 {
		t.Fatal("a repeated delta was forwarded again")
	}
	// A push/pull state is not forwarded (it is already the whole set).
	st, _ := c.Merge(t0, a.State())
	if len(st.Outgoing) != 0 {
		t.Fatal("a state was forwarded")
	}
}

func TestEventualTombstoneCompaction(t *testing.T) {
	w := newWorld("a")
	a := w.nodes["a"]
	a.Register(t0, "x", "a/1", nil)
	a.Unregister(t0, "x", "a/1")
	if n := a.Compact(t0.Add(30 * time.Second)); n != 0 {
		t.Fatalf("compacted a fresh tombstone")
	}
	if n := a.Compact(t0.Add(2 * time.Minute)); n != 1 {
		t.Fatalf("compacted %d, want 1", n)
	}
}

func TestEventualMalformedMessagesChangeNothing(t *testing.T) {
	w := newWorld("a", "b")
	a, b := w.nodes["a"], w.nodes["b"]
	_, _, good, _ := b.Register(t0, "x", "b/1", []byte("meta"))
	bad := [][]byte{nil, {9}, {msgDelta, 200}}
	for i := 1; i < len(good); i++ {
		bad = append(bad, good[:i])
	}
	forged := append([]byte(nil), good...)
	forged[len(forged)-8] ^= 0xff // scramble inside the claim
	bad = append(bad, forged)
	for i, m := range bad {
		if _, err := a.Merge(t0, m); err == nil && i < len(bad)-1 {
			t.Fatalf("malformed message %d accepted", i)
		}
	}
	// Another node's PID inside b's section is refused.
	c := NewEventual("c", 1, w.alive, time.Minute)
	_, _, fromC, _ := c.Register(t0, "y", "c/1", nil)
	fake := make([]byte, len(fromC))
	copy(fake, fromC)
	// Re-label the section as b's: the claim's PID no longer matches.
	if _, err := a.Merge(t0, relabel(fake, "c", "b")); err == nil {
		t.Fatal("claim with a PID of another node accepted")
	}
	if _, ok := a.Get("y"); ok {
		t.Fatal("forged claim visible")
	}
}

func relabel(msg []byte, from, to string) []byte {
	e := wire.NewEncoder(msg[0])
	d := wire.NewDecoder(msg[1:])
	n := d.Uvarint()
	e.Uvarint(n)
	node := d.StringMax(100)
	if node == from {
		node = to
	}
	e.String(node)
	return append(e.Data(), d.Rest()...)
}
