package session

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// On a brand-new data dir sessions open at once, and what an earlier node
// of this name left is released session by session, leaving this
// incarnation's own sessions alone.
func TestLeftoversOnFreshDataDir(t *testing.T) {
	h := newHarness(t, true)
	mine := h.open(t, 0) // no release needed first
	h.owners.set(func(o *fakeOwners) {
		o.pids["n1"] = []string{"n1/old1", mine.PID(), "n1/old2", "n1/old1"}
		o.pids["n2"] = []string{"n2/x"}
	})
	h.svc.releaseLeftovers(context.Background())
	want := []Release{ReleaseSession{PID: "n1/old1", Now: t0}, ReleaseSession{PID: "n1/old2", Now: t0}}
	if got := h.core.committed(); !reflect.DeepEqual(got, want) {
		t.Fatalf("released %v, want %v", got, want)
	}
	if isDone(mine) {
		t.Fatal("this incarnation's session ended")
	}
}

// Until the owners can be read and the releases commit, the leftovers'
// release is retried every 4 intervals; an owners view that can never be
// listed ends it.
func TestLeftoversRetried(t *testing.T) {
	h := newHarness(t, true)
	h.owners.set(func(o *fakeOwners) {
		o.err = fmt.Errorf("%w: no leader", wire.ErrUnavailable)
		o.pids["n1"] = []string{"n1/old"}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.svc.releaseLeftovers(context.Background())
	}()
	if d := h.clock.awaitWaiting(t); d != 4*h.svc.cfg.Interval {
		t.Fatalf("retry after %s, want 4 intervals", d)
	}
	h.owners.set(func(o *fakeOwners) { o.err = nil })
	h.core.set(func(c *fakeCore) { c.down = true })
	h.clock.Advance(4 * h.svc.cfg.Interval)
	h.core.nextCall(t)
	h.clock.awaitWaiting(t)
	h.core.set(func(c *fakeCore) { c.down = false })
	h.clock.Advance(4 * h.svc.cfg.Interval)
	<-done
	want := []Release{ReleaseSession{PID: "n1/old", Now: t0.Add(8 * h.svc.cfg.Interval)}}
	if got := h.core.committed(); !reflect.DeepEqual(got, want) {
		t.Fatalf("released %v, want %v", got, want)
	}

	h = newHarness(t, true)
	h.owners.set(func(o *fakeOwners) { o.err = fmt.Errorf("%w: too large", ErrCannotList) })
	h.svc.releaseLeftovers(context.Background()) // returns at once
	if h.owners.asks != 1 || len(h.core.committed()) != 0 {
		t.Fatalf("asked %d times and released %v, want one ask and nothing", h.owners.asks, h.core.committed())
	}
}

// goneHarness is a leader whose tables hold entries of n2 and n3.
func goneHarness(t *testing.T) (*harness, map[string]time.Time) {
	h := newHarness(t, true)
	h.core.set(func(c *fakeCore) { c.leader = true })
	h.owners.set(func(o *fakeOwners) {
		o.pids["n1"] = []string{"n1/a"}
		o.pids["n2"] = []string{"n2/a"}
		o.pids["n3"] = []string{"n3/a"}
	})
	h.members.set("n3", true)
	return h, map[string]time.Time{}
}

// The leader declares a node gone once it has been dead in gossip for the
// grace, and not before: one release-node entry.
func TestNodeGoneAfterGrace(t *testing.T) {
	h, gone := goneHarness(t)
	grace := h.svc.cfg.NodeGoneGrace
	ctx := context.Background()
	h.svc.duty(ctx, gone) // n2 first seen dead
	h.clock.Advance(grace - time.Millisecond)
	h.svc.duty(ctx, gone)
	if got := h.core.committed(); len(got) != 0 {
		t.Fatalf("released %v within the grace", got)
	}
	h.clock.Advance(time.Millisecond)
	h.svc.duty(ctx, gone)
	want := []Release{ReleaseNode{Node: "n2", Now: t0.Add(grace)}}
	if got := h.core.committed(); !reflect.DeepEqual(got, want) {
		t.Fatalf("released %v, want %v", got, want)
	}
	// Released, but this replica still shows n2's entries (not applied
	// yet): the count starts again rather than releasing twice at once.
	h.svc.duty(ctx, gone)
	if got := h.core.committed(); len(got) != 0 {
		t.Fatalf("released again at once: %v", got)
	}
	h.owners.set(func(o *fakeOwners) { delete(o.pids, "n2") })
	h.svc.duty(ctx, gone)
	if len(gone) != 0 {
		t.Fatalf("gone = %v: a node that owns nothing is still counted", gone)
	}
}

// A node alive again within the grace is not declared gone; its count
// starts over when it dies again.
func TestNodeGoneNotWhenAliveAgain(t *testing.T) {
	h, gone := goneHarness(t)
	grace := h.svc.cfg.NodeGoneGrace
	ctx := context.Background()
	h.svc.duty(ctx, gone)
	h.clock.Advance(grace / 2)
	h.members.set("n2", true)
	h.svc.duty(ctx, gone)
	h.clock.Advance(grace / 2)
	h.members.set("n2", false)
	h.svc.duty(ctx, gone) // dead again: a new count from here
	h.clock.Advance(grace - time.Millisecond)
	h.svc.duty(ctx, gone)
	if got := h.core.committed(); len(got) != 0 {
		t.Fatalf("released %v for a node that came back", got)
	}
	h.clock.Advance(time.Millisecond)
	h.svc.duty(ctx, gone)
	if got := h.core.committed(); !reflect.DeepEqual(got, []Release{ReleaseNode{Node: "n2", Now: h.clock.Now()}}) {
		t.Fatalf("released %v, want n2 a grace after it died again", got)
	}
}

// Only the leader declares nodes gone; a follower forgets its count, so a
// new leader measures the grace itself.
func TestNodeGoneNotOnFollower(t *testing.T) {
	h, gone := goneHarness(t)
	grace := h.svc.cfg.NodeGoneGrace
	ctx := context.Background()
	h.core.set(func(c *fakeCore) { c.leader = false })
	for i := 0; i < 3; i++ {
		h.svc.duty(ctx, gone)
		h.clock.Advance(grace)
	}
	if got := h.core.committed(); len(got) != 0 {
		t.Fatalf("a follower released %v", got)
	}
	h.core.set(func(c *fakeCore) { c.leader = true })
	h.svc.duty(ctx, gone)
	h.core.set(func(c *fakeCore) { c.leader = false })
	h.svc.duty(ctx, gone) // leadership lost: the count is dropped
	h.clock.Advance(grace)
	h.core.set(func(c *fakeCore) { c.leader = true })
	h.svc.duty(ctx, gone)
	if got := h.core.committed(); len(got) != 0 {
		t.Fatalf("released %v on a count from an earlier term", got)
	}
	h.clock.Advance(grace)
	h.svc.duty(ctx, gone)
	if got := h.core.committed(); !reflect.DeepEqual(got, []Release{ReleaseNode{Node: "n2", Now: h.clock.Now()}}) {
		t.Fatalf("released %v, want n2", got)
	}
}

// A release of a gone node that fails is tried again next round.
func TestNodeGoneRetried(t *testing.T) {
	h, gone := goneHarness(t)
	ctx := context.Background()
	h.svc.duty(ctx, gone)
	h.clock.Advance(h.svc.cfg.NodeGoneGrace)
	h.core.set(func(c *fakeCore) { c.down = true })
	h.svc.duty(ctx, gone)
	if r := h.core.nextCall(t); !reflect.DeepEqual(r, ReleaseNode{Node: "n2", Now: h.clock.Now()}) {
		t.Fatalf("attempt %v, want release-node n2", r)
	}
	h.core.set(func(c *fakeCore) { c.down = false })
	h.clock.Advance(h.svc.cfg.Interval)
	h.svc.duty(ctx, gone)
	if got := h.core.committed(); !reflect.DeepEqual(got, []Release{ReleaseNode{Node: "n2", Now: h.clock.Now()}}) {
		t.Fatalf("released %v, want n2 on the next round", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{DefaultConfig("n1"), DefaultLocalConfig("n1")} {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	for name, mut := range map[string]func(*Config){
		"node":     func(c *Config) { c.Node = "" },
		"interval": func(c *Config) { c.Interval = 0 },
		"grace":    func(c *Config) { c.NodeGoneGrace = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig("n1")
			mut(&c)
			if err := c.Validate(); !errors.Is(err, wire.ErrInvalid) {
				t.Fatalf("Validate = %v, want invalid", err)
			}
			if _, err := New(c, Deps{Proposer: newFakeCore(), Owners: &fakeOwners{}, Members: &fakeMembers{}}); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	if _, err := New(DefaultConfig("n1"), Deps{}); err == nil {
		t.Fatal("New accepted missing collaborators")
	}
}
