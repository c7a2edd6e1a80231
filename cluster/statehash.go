package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/internode"
)

// The state-hash cross-check (DESIGN §12, etcd's corruption check as the
// model): every Raft member hashes its whole replicated state at the same
// checkpoints of the log (the first command at or after each multiple of
// every entries), and members compare the hashes they took at the same
// index. A member whose hash differs from what a majority of the members
// that took that checkpoint agree on has a state that silently diverged
// (memory or disk that changed it, a nondeterministic apply): it counts
// the mismatch, logs it and fails the state_hash readiness check.
//
// The hash is SHA-256 over the snapshot encoding, which is canonical for
// every table (sorted, no map order), so equal states hash equal.

// hashPoint is the state's hash after the entry at index was applied.
type hashPoint struct {
	index uint64
	sum   [sha256.Size]byte
}

// maxHashPoints is how many checkpoints a member keeps for comparison.
const maxHashPoints = 16

// stateHashes takes and keeps a member's checkpoints. checkpoint runs on
// the FSM goroutine and only takes the tables' O(1) views; the Node's hash
// loop writes them through SHA-256.
type stateHashes struct {
	every   uint64
	pending chan pendingHash // to the hash loop; full: the checkpoint is skipped

	last atomic.Uint64 // the last command index applied (crossing detection)

	mu     sync.Mutex
	points []hashPoint // oldest first

	// divergent is the checkpoint at which this member's state was found
	// to differ from the majority's (0: never); the state does not heal,
	// so it stays until the node restarts.
	divergent  atomic.Uint64
	mismatches atomic.Uint64
	reason     atomic.Pointer[string]
}

type pendingHash struct {
	index uint64
	snap  *snapshot
}

func newStateHashes(every uint64) *stateHashes {
	return &stateHashes{every: every, pending: make(chan pendingHash, 1)}
}

// checkpoint is called after the command at index is applied: at the
// first command at or after a multiple of every, it hands the state's views
// to the hash loop.
func (h *stateHashes) checkpoint(f *fsm, index uint64) {
	if h == nil {
		return
	}
	prev := h.last.Swap(index)
	if prev == 0 || index/h.every == prev/h.every {
		return
	}
	snap, err := f.Snapshot()
	if err != nil {
		return // halted: nothing to compare
	}
	select {
	case h.pending <- pendingHash{index: index, snap: snap.(*snapshot)}:
	default: // the previous checkpoint is still being hashed
	}
}

// reset forgets the checkpoints: a restored state starts a new history.
func (h *stateHashes) reset() {
	if h == nil {
		return
	}
	h.last.Store(0)
	h.mu.Lock()
	h.points = nil
	h.mu.Unlock()
}

func (h *stateHashes) compute(p pendingHash) {
	sum := sha256.New()
	if err := p.snap.writeTo(sum); err != nil {
		return
	}
	var pt hashPoint
	pt.index = p.index
	copy(pt.sum[:], sum.Sum(nil))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.points = append(h.points, pt)
	if len(h.points) > maxHashPoints {
		h.points = h.points[len(h.points)-maxHashPoints:]
	}
}

func (h *stateHashes) snapshot() []hashPoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hashPoint(nil), h.points...)
}

// encodeHashPoints is a ClassHash reply: count, then index and sum each.
func encodeHashPoints(ps []hashPoint) []byte {
	e := wire.NewEncoder()
	e.Uvarint(uint64(len(ps)))
	for _, p := range ps {
		e.Uvarint(p.index)
		e.Bytes(p.sum[:])
	}
	return e.Data()
}

func decodeHashPoints(b []byte) ([]hashPoint, error) {
	d := wire.NewDecoder(b)
	n := d.Count(sha256.Size + 2)
	out := make([]hashPoint, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		p := hashPoint{index: d.Uvarint()}
		sum := d.BytesMax(sha256.Size)
		if d.Err() == nil && len(sum) != sha256.Size {
			d.Fail("hash of the wrong size")
		}
		copy(p.sum[:], sum)
		out = append(out, p)
	}
	if err := d.Done(); err != nil {
		return nil, err
	}
	return out, nil
}

// handleHash answers a peer's ClassHash request with this member's
// checkpoints.
func (n *Node) handleHash(context.Context, []byte) ([]byte, error) {
	return encodeHashPoints(n.fsm.hashes.snapshot()), nil
}

// hashLoop hashes the checkpoints the FSM hands over and, every interval,
// compares this member's with the other members'. It runs until ctx ends.
func (n *Node) hashLoop(ctx context.Context, interval time.Duration) {
	h := n.fsm.hashes
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-h.pending:
			h.compute(p)
		case <-tick.C:
			if n.core.IsMember() && h.divergent.Load() == 0 {
				n.compareHashes(ctx)
			}
		}
	}
}

// compareHashes asks every other server of the configuration for its
// checkpoints and judges this member's newest checkpoint that a majority
// of the members (this one included) took: when the members that took it
// agree on a hash other than this member's, this member has diverged.
func (n *Node) compareHashes(ctx context.Context) {
	mine := n.fsm.hashes.snapshot()
	if len(mine) == 0 {
		return
	}
	servers := n.servers(n.core.Status())
	theirs := map[string][]hashPoint{}
	for _, s := range servers {
		if s.ID == n.Name() || s.Address == "" {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		b, err := n.mesh.Request(rctx, s.Address, internode.ClassHash, nil)
		cancel()
		if err != nil {
			continue
		}
		if ps, err := decodeHashPoints(b); err == nil {
			theirs[s.ID] = ps
		}
	}
	majority := len(servers)/2 + 1
	for i := len(mine) - 1; i >= 0; i-- {
		p := mine[i]
		votes := map[[sha256.Size]byte][]string{p.sum: {n.Name()}}
		for id, ps := range theirs {
			for _, q := range ps {
				if q.index == p.index {
					votes[q.sum] = append(votes[q.sum], id)
				}
			}
		}
		took := 0
		for _, ids := range votes {
			took += len(ids)
		}
		if took < majority {
			continue // too few members took this checkpoint to judge it
		}
		for sum, ids := range votes {
			if sum != p.sum && len(ids) >= majority {
				sort.Strings(ids)
				reason := fmt.Sprintf("state hash at index %d is %s; %s have %s: this replica's state diverged; restore it from a snapshot or wipe its data and rejoin",
					p.index, hex.EncodeToString(p.sum[:8]), strings.Join(ids, ", "), hex.EncodeToString(sum[:8]))
				n.fsm.hashes.reason.Store(&reason)
				n.fsm.hashes.divergent.Store(p.index)
				n.fsm.hashes.mismatches.Add(1)
				n.log.Error().Uint64("index", p.index).Strs("majority", ids).Msg(reason)
				return
			}
		}
		return // the newest judgeable checkpoint agrees (or there is no majority against it)
	}
}

// checkStateHash is the state_hash readiness check.
func (n *Node) checkStateHash(time.Time) (string, string) {
	h := n.fsm.hashes
	if h == nil {
		return HealthPass, "off"
	}
	if h.divergent.Load() != 0 {
		return HealthFail, *h.reason.Load()
	}
	ps := h.snapshot()
	if len(ps) == 0 {
		return HealthPass, "no checkpoint yet"
	}
	return HealthPass, fmt.Sprintf("last checkpoint at index %d", ps[len(ps)-1].index)
}
