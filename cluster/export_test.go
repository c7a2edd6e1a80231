package cluster

import (
	"bytes"
	"context"

	"github.com/hashicorp/raft"

	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/internode"
	"github.com/conclave-dev/conclave/kv"
)

// Test hooks for the integration tests of package cluster_test.

// KeyringRawRequest sends req as-is to the ClassKeyring handler at addr.
func (n *Node) KeyringRawRequest(ctx context.Context, addr string, req []byte) error {
	_, err := n.mesh.Request(ctx, addr, internode.ClassKeyring, req)
	return err
}

// KeyringMalformed is the count of undecodable keyring requests.
func (n *Node) KeyringMalformed() uint64 { return n.ml.KeyringMalformed() }

// CorruptCommands makes this node's FSM see every committed command for
// which match is true with its last bit flipped (the entry raft holds is
// left alone), as a disk or memory that changed it would.
func (n *Node) CorruptCommands(match func(data []byte) bool) {
	f := func(l *raft.Log) *raft.Log {
		if !match(l.Data) || len(l.Data) == 0 {
			return l
		}
		c := *l
		c.Data = bytes.Clone(l.Data)
		c.Data[len(c.Data)-1] ^= 0x01
		return &c
	}
	n.fsm.corrupt.Store(&f)
}

// FSMHalted reports the index at which this node's FSM halted, if it has.
func (n *Node) FSMHalted() (uint64, bool) { return n.fsm.halted() }

// CorruptState writes key=value into this node's KV table directly, around
// Raft, as memory that changed under the state machine would: no other
// replica sees it, and no checksum covers it.
func (n *Node) CorruptState(key string, value []byte) error {
	_, op, d, err := wire.ParseCommand(kv.Put(key, value).Marshal())
	if err != nil {
		return err
	}
	_, err = n.fsm.tables[kv.TableID].Apply(1, op, d)
	return err
}

// GossipQueued is how many user broadcasts (eventual names and KV deltas)
// this node's gossip queue still retransmits.
func (n *Node) GossipQueued() int { return n.nameGossip.bq.Len() }

// LeaderLossElections is how many elections this node started because its
// leader's mesh port refused connections.
func (n *Node) LeaderLossElections() uint64 { return n.core.Stats().LeaderLossElections }

// GrantHints is how many lock grant hints this node took from its leader
// and how many it refused.
func (n *Node) GrantHints() (received, refused uint64) {
	return n.hints.received.Load(), n.hints.refused.Load()
}

// EarlyAppends is how many entry batches this node, as leader, sent to a
// voter before its own sync and the voter took.
func (n *Node) EarlyAppends() uint64 { return n.core.Stats().EarlyAppends }
