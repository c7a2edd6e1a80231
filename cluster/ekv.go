package cluster

import (
	"time"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/kv"
)

// The eventual KV store (package kv's EventualService) shares gossip's
// user-data paths with the eventual names: its deltas go into the same
// broadcast queue, a peer's message is routed by its kind byte
// (kv.IsEventualMessage), and the push/pull state is one frame carrying
// both (pushPullFrame).

// EventualKV is the node's eventual KV store: readable and writable here
// with or without a Raft quorum.
func (n *Node) EventualKV() *kv.EventualService { return n.ekv }

// newEventualKV builds the eventual store on the names' gossip delegate,
// before gossip starts.
func (n *Node) newEventualKV(ng *nameGossip) *kv.EventualService {
	ec := kv.DefaultEventualConfig()
	ec.MaxValueBytes = n.cfg.Cluster.EventualKV.MaxValueBytes
	ec.MaxStoreBytes = n.cfg.Cluster.EventualKV.MaxStoreBytes
	ec.TombstoneTTL = n.cfg.Cluster.EventualKV.TombstoneTTL.Duration()
	s := kv.NewEventualService(n.cfg.Cluster.Name, ec, ng, gossip.MaxBroadcast, time.Now)
	ng.ekv = s
	return s
}

// pushPullFrame marks a push/pull state that carries the eventual names'
// state and the eventual KV's, as two byte strings. Its value is neither
// a naming nor a kv message kind; a state without it is the names' alone.
const pushPullFrame = 0x20

func encodePushPull(names, ekv []byte) []byte {
	w := wire.NewEncoder(pushPullFrame)
	w.Bytes(names)
	w.Bytes(ekv)
	return w.Data()
}

// decodePushPull splits a push/pull state into its two parts.
func decodePushPull(buf []byte) (names, ekv []byte, err error) {
	if len(buf) == 0 || buf[0] != pushPullFrame {
		return buf, nil, nil
	}
	d := wire.NewDecoder(buf[1:])
	names, ekv = d.Bytes(), d.Bytes()
	if err := d.Done(); err != nil {
		return nil, nil, err
	}
	return names, ekv, nil
}
