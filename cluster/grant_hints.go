package cluster

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internode"
	"github.com/conclave-dev/conclave/locks"
)

// Grant hints (locks/grant_hint.go): the leader's lock service hands a
// hint for a waiter on another node to pushGrant on the FSM goroutine;
// grantHintLoop sends it over the mesh (one-way, class grant), and the
// waiter's node checks that it comes from the leader it knows before its
// lock service wakes the waiter. A hint that is dropped (queue full, node
// unreachable, sender not the leader) costs only time: the waiter's own
// replica, or its poll, delivers the grant.

// grantHintQueue bounds the hints waiting to be sent.
const grantHintQueue = 256

// grantHintTimeout bounds one send, dial included.
const grantHintTimeout = time.Second

type grantHint struct {
	node string
	hint []byte
}

type grantHints struct {
	// on is set once n.core is: the FSM may apply entries, and so hand
	// out grants, before New has stored the core.
	on       atomic.Bool
	q        chan grantHint
	dropped  atomic.Uint64 // queue full
	received atomic.Uint64 // from the leader, handed to the lock service
	refused  atomic.Uint64 // received from a node that is not the leader, or malformed
}

func newGrantHints() *grantHints { return &grantHints{q: make(chan grantHint, grantHintQueue)} }

// pushGrant queues a hint of ev for its session's node if this node leads;
// it never blocks (locks.GrantPusher).
func (n *Node) pushGrant(ev locks.IndexedEvent) {
	if !n.hints.on.Load() || !n.core.IsLeader() {
		return
	}
	select {
	case n.hints.q <- grantHint{locks.NodeOf(ev.PID), locks.EncodeGrantHint(ev)}:
	default:
		n.hints.dropped.Add(1)
	}
}

// grantHintLoop sends queued hints until ctx ends.
func (n *Node) grantHintLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case h := <-n.hints.q:
			m, ok := n.ml.Member(h.node)
			if !ok || m.State != gossip.StateAlive || !m.MetaValid || m.Meta.InternodeAddr == "" {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, grantHintTimeout)
			err := n.mesh.Send(sctx, m.Meta.InternodeAddr, internode.ClassGrant, h.hint)
			cancel()
			if err != nil {
				n.log.Debug().Err(err).Str("to", h.node).Msg("grant hint not sent")
			}
		}
	}
}

// handleGrantHint takes a hint from the mesh if its sender is the leader
// this node knows: under TLS the connection's verified node, in clear the
// address it claims.
func (n *Node) handleGrantHint(ctx context.Context, hint []byte) ([]byte, error) {
	id, addr := n.core.Leader()
	from, leader := internode.Peer(ctx), addr
	if node := internode.PeerNode(ctx); node != "" {
		from, leader = node, id
	}
	if leader == "" || from != leader {
		n.hints.refused.Add(1)
		return nil, nil
	}
	if err := n.lockSvc.HandleGrantHint(hint); err != nil {
		n.hints.refused.Add(1)
		return nil, err
	}
	n.hints.received.Add(1)
	return nil, nil
}
