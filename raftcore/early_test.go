package raftcore

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
)

// fakeLeader is the raft earlyLog sees: its state and term are the test's.
type fakeLeader struct {
	leader atomic.Bool
	term   atomic.Uint64
}

func (f *fakeLeader) State() raft.RaftState {
	if f.leader.Load() {
		return raft.Leader
	}
	return raft.Follower
}

func (f *fakeLeader) CurrentTerm() uint64 { return f.term.Load() }

// heldStore is an in-memory log store whose appends wait for the test:
// each StoreLogs takes one value from gate (nil: succeed, else fail).
type heldStore struct {
	*raft.InmemStore
	gate    chan error
	batches chan []uint64 // the indexes of each append that succeeded
	once    sync.Once
}

// open lets every append through from now on.
func (h *heldStore) open() { h.once.Do(func() { close(h.gate) }) }

func (h *heldStore) StoreLogs(logs []*raft.Log) error {
	if err := <-h.gate; err != nil {
		return err
	}
	var idx []uint64
	for _, l := range logs {
		idx = append(idx, l.Index)
	}
	if err := h.InmemStore.StoreLogs(logs); err != nil {
		return err
	}
	h.batches <- idx
	return nil
}

func (h *heldStore) StoreLog(l *raft.Log) error { return h.StoreLogs([]*raft.Log{l}) }

func newHeldEarly(t *testing.T) (*earlyLog, *heldStore, *fakeLeader, chan struct{}) {
	t.Helper()
	h := &heldStore{InmemStore: raft.NewInmemStore(), gate: make(chan error), batches: make(chan []uint64, 16)}
	stopping := make(chan struct{})
	var n atomic.Uint64
	e := newEarlyLog(h, stopping, &n, zerolog.Nop())
	t.Cleanup(func() {
		select {
		case <-stopping:
		default:
			close(stopping)
		}
		h.open() // lets a writer blocked in the store finish
		e.stop()
	})
	r := &fakeLeader{}
	r.leader.Store(true)
	r.term.Store(2)
	e.start(r)
	return e, h, r, stopping
}

func entries(term, first uint64, n int, typ raft.LogType) []*raft.Log {
	var out []*raft.Log
	for i := range n {
		out = append(out, &raft.Log{Index: first + uint64(i), Term: term, Type: typ, Data: []byte{byte(i)}})
	}
	return out
}

// returnsWithin runs f and fails the test unless it returns within d.
func returnsWithin(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
		return nil
	}
}

func waitBatch(t *testing.T, h *heldStore) []uint64 {
	t.Helper()
	select {
	case b := <-h.batches:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no append reached the store")
		return nil
	}
}

// The leader's own entries are queued: StoreLogs returns while the store
// still holds them, raft can read them back, the gate and the commit index
// told to followers wait for them, and the writer stores everything queued
// meanwhile in one append.
func TestEarlyLogQueuesTheLeadersEntries(t *testing.T) {
	e, h, _, _ := newHeldEarly(t)
	if err := returnsWithin(t, time.Second, "StoreLogs of the leader's entries", func() error {
		return e.StoreLogs(entries(2, 1, 2, raft.LogCommand))
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.StoreLogs(entries(2, 3, 1, raft.LogCommand)); err != nil {
		t.Fatal(err)
	}
	if last, _ := e.LastIndex(); last != 3 {
		t.Fatalf("LastIndex = %d, want 3 (queued entries count)", last)
	}
	if first, _ := e.FirstIndex(); first != 1 {
		t.Fatalf("FirstIndex = %d on an empty store with 1..3 queued, want 1", first)
	}
	var l raft.Log
	if err := e.GetLog(2, &l); err != nil || l.Index != 2 || l.Data[0] != 1 {
		t.Fatalf("GetLog(2) of a queued entry = %+v, %v", l, err)
	}
	if got := e.commitCap(3); got != 0 {
		t.Fatalf("commit index told to followers = %d while 1..3 are unsynced, want 0", got)
	}
	stored := make(chan error, 1)
	go func() { stored <- e.waitStored(1) }()
	select {
	case err := <-stored:
		t.Fatalf("gate opened (%v) before the leader stored entry 1", err)
	case <-time.After(50 * time.Millisecond):
	}

	h.gate <- nil // the writer's first append: 1..2 or 1..3
	b := waitBatch(t, h)
	if b[0] != 1 {
		t.Fatalf("first append %v, want it to start at 1", b)
	}
	if err := returnsWithin(t, 5*time.Second, "the gate for entry 1", func() error { return <-stored }); err != nil {
		t.Fatal(err)
	}
	if len(b) == 2 {
		h.gate <- nil
		if b2 := waitBatch(t, h); len(b2) != 1 || b2[0] != 3 {
			t.Fatalf("second append %v, want [3]", b2)
		}
	}
	if err := returnsWithin(t, 5*time.Second, "the gate for entry 3", func() error { return e.waitStored(3) }); err != nil {
		t.Fatal(err)
	}
	if got := e.commitCap(3); got != 3 {
		t.Fatalf("commit index told to followers = %d once all are synced, want 3", got)
	}
	if err := h.InmemStore.GetLog(3, &l); err != nil {
		t.Fatalf("entry 3 not in the store: %v", err)
	}
}

// Everything else is written before StoreLogs returns, after the queue: a
// follower's entries, a configuration entry, another term's entries; a
// deletion waits for the queue too.
func TestEarlyLogWritesOthersInOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		next func(r *fakeLeader) []*raft.Log
	}{
		{"follower", func(r *fakeLeader) []*raft.Log { r.leader.Store(false); return entries(2, 2, 1, raft.LogCommand) }},
		{"configuration", func(*fakeLeader) []*raft.Log { return entries(2, 2, 1, raft.LogConfiguration) }},
		{"old term", func(*fakeLeader) []*raft.Log { return entries(1, 2, 1, raft.LogCommand) }},
		{"gap", func(*fakeLeader) []*raft.Log { return entries(2, 3, 1, raft.LogCommand) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, h, r, _ := newHeldEarly(t)
			if err := e.StoreLogs(entries(2, 1, 1, raft.LogCommand)); err != nil {
				t.Fatal(err)
			}
			next := tc.next(r)
			done := make(chan error, 1)
			go func() { done <- e.StoreLogs(next) }()
			h.gate <- nil // the queued entry 1
			if b := waitBatch(t, h); len(b) != 1 || b[0] != 1 {
				t.Fatalf("first append %v, want the queued [1]", b)
			}
			h.gate <- nil // the written batch
			if b := waitBatch(t, h); b[0] != next[0].Index {
				t.Fatalf("second append %v, want the written batch after the queue", b)
			}
			if err := returnsWithin(t, 5*time.Second, "the written StoreLogs", func() error { return <-done }); err != nil {
				t.Fatal(err)
			}
		})
	}

	e, h, _, _ := newHeldEarly(t)
	if err := e.StoreLogs(entries(2, 1, 2, raft.LogCommand)); err != nil {
		t.Fatal(err)
	}
	deleted := make(chan error, 1)
	go func() { deleted <- e.DeleteRange(2, 2) }()
	h.gate <- nil
	waitBatch(t, h)
	if err := returnsWithin(t, 5*time.Second, "DeleteRange after the queue", func() error { return <-deleted }); err != nil {
		t.Fatal(err)
	}
	if last, _ := e.LastIndex(); last != 1 {
		t.Fatalf("LastIndex after deleting 2 = %d, want 1", last)
	}

	// A compaction (raft's snapshot goroutine) covers stored entries only:
	// it does not wait for what the leader queues meanwhile.
	if err := e.StoreLogs(entries(2, 2, 2, raft.LogCommand)); err != nil {
		t.Fatal(err)
	}
	if err := returnsWithin(t, time.Second, "DeleteRange of the stored prefix", func() error { return e.DeleteRange(1, 1) }); err != nil {
		t.Fatal(err)
	}
	if first, _ := e.FirstIndex(); first != 2 {
		t.Fatalf("FirstIndex after compacting 1 = %d, want 2 (queued)", first)
	}
}

// A failing writer keeps its entries and tries again; meanwhile every
// store and deletion fails at once (raft steps the leader down), the gate
// stays shut, and once the store takes them all goes on as before.
func TestEarlyLogRetriesAFailingStore(t *testing.T) {
	e, h, _, _ := newHeldEarly(t)
	if err := e.StoreLogs(entries(2, 1, 1, raft.LogCommand)); err != nil {
		t.Fatal(err)
	}
	h.gate <- syscall.ENOSPC
	for {
		e.mu.Lock()
		failing, ch := e.failing != nil, e.changed
		e.mu.Unlock()
		if failing {
			break
		}
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("the writer never reported the store's failure")
		}
	}
	if err := e.StoreLogs(entries(2, 2, 1, raft.LogCommand)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("StoreLogs while the writer fails = %v, want ENOSPC", err)
	}
	if err := e.DeleteRange(1, 1); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("DeleteRange while the writer fails = %v, want ENOSPC", err)
	}
	if err := e.waitStoredWithin(1, 50*time.Millisecond); err == nil {
		t.Fatal("gate opened for an entry the store refused")
	}
	var l raft.Log
	if err := e.GetLog(1, &l); err != nil || l.Index != 1 {
		t.Fatalf("GetLog(1) of the retried entry = %+v, %v", l, err)
	}
	h.gate <- nil // the retry
	if b := waitBatch(t, h); len(b) != 1 || b[0] != 1 {
		t.Fatalf("retry appended %v, want [1]", b)
	}
	if err := returnsWithin(t, 5*time.Second, "the gate after the retry", func() error { return e.waitStored(1) }); err != nil {
		t.Fatal(err)
	}
	if err := e.StoreLogs(entries(2, 2, 1, raft.LogCommand)); err != nil {
		t.Fatalf("StoreLogs after the store recovered: %v", err)
	}
}

// Shutting down releases the gate and the writer even when the store never
// takes the queued entries.
func TestEarlyLogStopsWithEntriesQueued(t *testing.T) {
	e, h, _, stopping := newHeldEarly(t)
	if err := e.StoreLogs(entries(2, 1, 1, raft.LogCommand)); err != nil {
		t.Fatal(err)
	}
	h.gate <- syscall.EIO
	gated := make(chan error, 1)
	go func() { gated <- e.waitStored(1) }()
	close(stopping)
	if err := returnsWithin(t, 5*time.Second, "the gate at shutdown", func() error { return <-gated }); !errors.Is(err, errEarlyStopped) {
		t.Fatalf("gate at shutdown = %v, want errEarlyStopped", err)
	}
	h.open()
	returnsWithin(t, 5*time.Second, "stop", func() error { e.stop(); return nil })
}

// waitStoredWithin is waitStored bounded by d (a test's "still shut").
func (e *earlyLog) waitStoredWithin(index uint64, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- e.waitStored(index) }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return errors.New("still waiting")
	}
}
