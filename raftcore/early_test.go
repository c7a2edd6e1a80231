package raftcore

import (
	"testing"

	"github.com/hashicorp/raft"
)

func earlyReq(term, first uint64, n int) *raft.AppendEntriesRequest {
	r := &raft.AppendEntriesRequest{Term: term, PrevLogEntry: first - 1}
	for i := range n {
		r.Entries = append(r.Entries, &raft.Log{Index: first + uint64(i), Term: term})
	}
	return r
}

func pendingIndexes(p *earlyPeer) (prev uint64, idx []uint64) {
	if p.pending == nil {
		return 0, nil
	}
	for _, l := range p.pending.Entries {
		idx = append(idx, l.Index)
	}
	return p.pending.PrevLogEntry, idx
}

// Batches queued for a voter while its last early request is in flight go
// in the next request together when they follow on from each other; one
// that does not (another term, a gap) replaces them; more than
// earlyMaxPending entries are dropped, and each queue wakes the sender.
func TestEarlyPeerQueue(t *testing.T) {
	p := &earlyPeer{wake: make(chan struct{}, 1)}
	first := earlyReq(3, 10, 2)
	p.queue(first)
	p.queue(earlyReq(3, 12, 1))
	if prev, idx := pendingIndexes(p); prev != 9 || len(idx) != 3 || idx[0] != 10 || idx[2] != 12 {
		t.Fatalf("after two batches in a row: prev %d entries %v, want prev 9 entries [10 11 12]", prev, idx)
	}
	if len(first.Entries) != 2 {
		t.Fatalf("merging changed the first request (shared by other voters): %d entries", len(first.Entries))
	}
	if len(p.wake) != 1 {
		t.Fatal("queue did not wake the sender")
	}

	p.queue(earlyReq(3, 20, 1)) // a gap: 13..19 were never queued
	if prev, idx := pendingIndexes(p); prev != 19 || len(idx) != 1 || idx[0] != 20 {
		t.Fatalf("after a gap: prev %d entries %v, want prev 19 entries [20]", prev, idx)
	}
	p.queue(earlyReq(4, 21, 1)) // a new term
	if prev, idx := pendingIndexes(p); prev != 20 || len(idx) != 1 || p.pending.Term != 4 {
		t.Fatalf("after a new term: prev %d entries %v term %d, want prev 20, [21], term 4", prev, idx, p.pending.Term)
	}

	p.pending = nil
	p.queue(earlyReq(4, 30, earlyMaxPending))
	p.queue(earlyReq(4, 30+earlyMaxPending, 1))
	if _, idx := pendingIndexes(p); len(idx) != 1 || idx[0] != 30+earlyMaxPending {
		t.Fatalf("over earlyMaxPending: %d entries pending starting at %v, want only the last batch", len(idx), idx[:min(1, len(idx))])
	}
	p.queue(earlyReq(4, 1000, earlyMaxPending+1))
	if p.pending != nil {
		t.Fatalf("a batch over earlyMaxPending was queued (%d entries)", len(p.pending.Entries))
	}
}
