package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internode"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/raftcore"
)

// view adapts the gossip membership to raftcore's View. A peer whose
// metadata did not decode is treated as not alive.
type view struct{ ml *gossip.Membership }

func (v view) Peers() []raftcore.Peer {
	members := v.ml.Members()
	out := make([]raftcore.Peer, 0, len(members))
	for _, m := range members {
		out = append(out, raftcore.Peer{
			ID:        m.Name,
			Addr:      m.Meta.InternodeAddr,
			Alive:     m.State == gossip.StateAlive && m.MetaValid,
			Eligible:  m.Meta.Eligible && m.Meta.Role != "client",
			Priority:  m.Meta.Priority,
			Domain:    m.Meta.FailureDomain,
			Expect:    m.Meta.Expect,
			Bootstrap: raftcore.BootstrapState(m.Meta.Bootstrap),
			Nonce:     m.Meta.Nonce,
			ClusterID: m.Meta.ClusterID,
			Leader:    m.Meta.Leader,
			Term:      m.Meta.Term,
		})
	}
	return out
}

// The two enums are kept in step by hand; this fails to compile if they drift.
var _ = [1]struct{}{}[int(gossip.BootstrapDone)-int(raftcore.BootstrapDone)]

// publisher writes raftcore's advert into the gossip metadata.
type publisher struct{ ml *gossip.Membership }

// publishTimeout bounds the wait for one advert's broadcast: gossip spreads
// it later anyway, and raftcore's loop must not stall behind it.
const publishTimeout = 2 * time.Second

func (p publisher) Publish(ctx context.Context, a raftcore.Advert) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	// Setting ClusterID in the meta also arms gossip's cluster-ID guard.
	_ = p.ml.UpdateMeta(ctx, func(m *gossip.Meta) {
		m.Bootstrap = gossip.BootstrapState(a.Bootstrap)
		m.Nonce = a.Nonce
		m.ClusterID = a.ClusterID
		m.Leader = a.Leader
		m.Term = a.Term
	})
}

// requester sends raftcore's forwarded requests over the mesh's forward
// class, translating "surely not sent" and "reply too large" between the
// two packages.
type requester struct{ mesh *internode.Mesh }

func (r requester) Request(ctx context.Context, addr string, req []byte) ([]byte, error) {
	resp, err := r.mesh.Request(ctx, addr, internode.ClassForward, req)
	switch {
	case err == nil:
	case errors.Is(err, internode.ErrNotSent):
		return nil, fmt.Errorf("%w: %w", raftcore.ErrNotSent, err)
	case errors.Is(err, internode.ErrFrameTooLarge):
		// The leader ran it; only the reply could not come back, and
		// asking again the same way fails again: say what to do instead.
		return nil, fmt.Errorf("%w: the answer exceeds the internode frame limit of %d MiB between this node and the leader; "+
			"ask for less (a narrower prefix, or a limit and then the rest), or ask the leader's node directly: %w",
			raftcore.ErrReplyTooLarge, internode.DefaultConfig().MaxFrameSize>>20, err)
	}
	return resp, err
}

// proposer adapts the Raft core to every domain service's Proposer (each
// declares the subset it uses): it proposes and reads through raftcore
// (forwarding to the leader included); raftcore's errors already wrap the
// shared sentinels (wire.ErrUnavailable, ErrShutdown, ErrTooLarge). It reads n.core at each call: the services are built before
// the core (their tables go into the FSM the core is built with) and call
// it only once it exists.
type proposer struct{ n *Node }

func (p proposer) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	return p.n.core.Apply(ctx, cmd)
}

func (p proposer) Query(ctx context.Context, mode ReadMode, q []byte) ([]byte, error) {
	return p.n.core.Query(ctx, mode, q)
}

func (p proposer) ApplyTimeout() time.Duration { return p.n.core.ApplyTimeout() }

// IsLeader reports whether this node leads the core, for the session
// service's leader duty.
func (p proposer) IsLeader() bool { return p.n.core.IsLeader() }

// OutcomeUnknown reports a write that may or may not have been applied
// (the leader was lost after accepting it).
func (p proposer) OutcomeUnknown(err error) bool { return errors.Is(err, raftcore.ErrOutcomeUnknown) }

// Status is this node's contact with the core, for the lock service's
// at-risk checks.
func (p proposer) Status() locks.CoreStatus {
	st := p.n.core.Status()
	return locks.CoreStatus{Leader: st.State == "leader", Member: st.Member, LeaderKnown: st.LeaderID != "", LastContact: st.LastContact}
}

// Ping asks the leader for the servers: any answer is contact.
func (p proposer) Ping(ctx context.Context) error {
	_, err := p.n.core.Servers(ctx)
	return err
}
