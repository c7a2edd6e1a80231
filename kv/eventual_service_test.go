package kv

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeGossip records what the service hands to gossip.
type fakeGossip struct {
	mu     sync.Mutex
	queued [][]byte
	sent   chan []byte
}

func (g *fakeGossip) Queue(msg []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queued = append(g.queued, msg)
}

func (g *fakeGossip) SendToAll(msg []byte) { g.sent <- msg }

func (g *fakeGossip) nQueued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queued)
}

// A small write is piggybacked on gossip, a large one sent over TCP by
// Run; a receiver passes a small delta on and not a large one, and both
// end up holding both writes.
func TestEventualServiceRouting(t *testing.T) {
	now := func() time.Time { return t0 }
	ga, gb := &fakeGossip{sent: make(chan []byte, 4)}, &fakeGossip{sent: make(chan []byte, 4)}
	a := NewEventualService("a", EventualConfig{}, ga, 100, now)
	b := NewEventualService("b", EventualConfig{}, gb, 100, now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	if _, err := a.Put(ctx, "small", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if ga.nQueued() != 1 {
		t.Fatalf("%d deltas queued, want 1", ga.nQueued())
	}
	if _, err := a.Put(ctx, "large", make([]byte, 500)); err != nil {
		t.Fatal(err)
	}
	var large []byte
	select {
	case large = <-ga.sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the large delta was not sent over TCP")
	}
	if ga.nQueued() != 1 {
		t.Fatalf("the large delta was queued for gossip too")
	}

	ga.mu.Lock()
	small := ga.queued[0]
	ga.mu.Unlock()
	b.Merge(small)
	b.Merge(large)
	if gb.nQueued() != 1 {
		t.Fatalf("receiver passed on %d deltas, want the small one only", gb.nQueued())
	}
	b.Merge(small) // again: not news, not passed on
	if gb.nQueued() != 1 {
		t.Fatalf("a repeated delta was passed on")
	}
	for _, k := range []string{"small", "large"} {
		if _, err := b.Get(ctx, k); err != nil {
			t.Fatalf("receiver lacks %s: %v", k, err)
		}
	}
	if s := b.Store().Stats(); s.Merges != 2 {
		t.Fatalf("receiver merges %d, want 2", s.Merges)
	}
}
