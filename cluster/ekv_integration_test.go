package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/testcluster"
)

func ekvValue(n *testcluster.Node, key string) string {
	e, err := n.EventualKV().Get(context.Background(), key)
	if err != nil {
		return ""
	}
	return string(e.Value)
}

// The eventual store works on a node cut off from the majority: its write
// succeeds at once (no quorum), the majority writes the same key and
// another meanwhile, and after the heal every node holds the same store,
// with the later write of the contested key, within a bound.
func TestEventualKVPartitionConverges(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)
	var minority *testcluster.Node
	var majority []*testcluster.Node
	for _, n := range c.Running() {
		if n != leader && minority == nil {
			minority = n
			continue
		}
		majority = append(majority, n)
	}
	// Before the cut: a write reaches everyone, and so does one too large
	// for a gossip packet (sent over TCP).
	if _, err := leader.EventualKV().Put(ctxT(t), "before", []byte("x")); err != nil {
		t.Fatal(err)
	}
	large := strings.Repeat("L", 60<<10)
	if _, err := leader.EventualKV().Put(ctxT(t), "large", []byte(large)); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the first writes on every node", func() bool {
		for _, n := range c.Running() {
			if ekvValue(n, "before") != "x" || ekvValue(n, "large") != large {
				return false
			}
		}
		return true
	})

	c.Isolate(minority)
	if _, err := majority[0].EventualKV().Put(ctxT(t), "contested", []byte("majority")); err != nil {
		t.Fatal(err)
	}
	if _, err := majority[1].EventualKV().Put(ctxT(t), "only-majority", []byte("m")); err != nil {
		t.Fatal(err)
	}
	// Written later (a higher HLC), so it must win everywhere after the
	// heal.
	start := time.Now()
	if _, err := minority.EventualKV().Put(ctxT(t), "contested", []byte("minority")); err != nil {
		t.Fatalf("eventual put on a minority node: %v", err)
	}
	if _, err := minority.EventualKV().Put(ctxT(t), "only-minority", []byte("n")); err != nil {
		t.Fatal(err)
	}
	if err := minority.EventualKV().Delete(ctxT(t), "before"); err != nil {
		t.Fatal(err)
	}
	if got := ekvValue(minority, "contested"); got != "minority" {
		t.Fatalf("minority reads %q of its own write", got)
	}
	// The cut holds: a marker written on the majority after the
	// minority's writes reaches the other majority node, and neither the
	// marker crosses to the minority nor the minority's writes to the
	// majority.
	if _, err := majority[0].EventualKV().Put(ctxT(t), "marker", []byte("1")); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, "the marker on the other majority node", func() bool {
		return ekvValue(majority[1], "marker") == "1"
	})
	if got := ekvValue(majority[1], "only-minority"); got != "" {
		t.Fatalf("majority saw %q across the partition", got)
	}
	if got := ekvValue(minority, "marker"); got != "" {
		t.Fatalf("minority saw the marker across the partition")
	}

	healAt := time.Now()
	c.Heal()
	const bound = 30 * time.Second
	testcluster.WaitFor(t, bound, "every node holding the same eventual store", func() bool {
		want := minority.EventualKV().Store().Digest()
		for _, n := range c.Running() {
			if n.EventualKV().Store().Digest() != want ||
				ekvValue(n, "contested") != "minority" || ekvValue(n, "only-minority") != "n" ||
				ekvValue(n, "only-majority") != "m" || ekvValue(n, "marker") != "1" || ekvValue(n, "before") != "" {
				return false
			}
		}
		return true
	})
	t.Logf("converged %v after the heal (%v after the minority's write); bound %v", time.Since(healAt), time.Since(start), bound)
}

// A node that joins after the writes gets the whole store by anti-entropy
// (the push/pull of its join and after): no delta was ever sent to it.
func TestEventualKVLateJoinerByAntiEntropy(t *testing.T) {
	c := testcluster.New(t, 2, testcluster.Options{BootstrapExpect: 2})
	c.WaitLeader(20 * time.Second)
	first := c.Running()[0]
	for i := 0; i < 50; i++ {
		if _, err := first.EventualKV().Put(ctxT(t), fmt.Sprintf("early/%02d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.EventualKV().Delete(ctxT(t), "early/00"); err != nil {
		t.Fatal(err)
	}
	// Every delta retransmitted to its end, so the late node can only
	// learn the store by push/pull.
	for _, n := range c.Running() {
		testcluster.WaitFor(t, 20*time.Second, n.Name+"'s gossip queue drained", func() bool { return n.GossipQueued() == 0 })
	}
	late := c.AddNode()
	joined := time.Now()
	c.Start()
	testcluster.WaitFor(t, 30*time.Second, "the late node holding the same store", func() bool {
		return late.Running() && late.EventualKV().Store().Digest() == first.EventualKV().Store().Digest()
	})
	t.Logf("late joiner converged %v after its start", time.Since(joined))
	if s := late.EventualKV().Store().Stats(); s.Keys != 49 || s.Tombstones != 1 {
		t.Fatalf("late joiner holds %+v, want 49 keys and the tombstone", s)
	}
}
