package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/cluster/session"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internode"
	"github.com/conclave-dev/conclave/pg"
)

// ErrNotMember: a group leave for a session that is not a member.
// gRPC FailedPrecondition.
var ErrNotMember = pg.ErrNotMember

// GroupBroadcastResult says where a broadcast went: how many nodes it was
// delivered to or sent to, how many members they hosted, and how many
// nodes hosting members could not be reached.
type GroupBroadcastResult = pg.BroadcastResult

// GroupInfo is one group with members somewhere.
type GroupInfo = pg.GroupInfo

func pgConfig(cfg config.Config, local bool) pg.Config {
	c := pg.DefaultConfig()
	if local {
		c = pg.DefaultLocalConfig()
	}
	g := cfg.Cluster.Groups
	c.MaxPayload = g.MaxPayloadBytes
	c.AntiEntropyInterval = g.AntiEntropyInterval.Duration()
	c.HeartbeatInterval = g.HeartbeatInterval.Duration()
	return c
}

// newGroups builds the process-group service and registers its mesh class.
// Its Run starts with the node's other loops.
func (n *Node) newGroups(cfg config.Config, local bool, faults *Faults) error {
	opts := []pg.Option{pg.WithLogger(n.log)}
	if faults != nil && faults.DropGroupDelta != nil {
		opts = append(opts, pg.WithDeltaFilter(faults.DropGroupDelta))
	}
	svc, err := pg.New(pgConfig(cfg, local), cfg.Cluster.Name, uint64(time.Now().UnixNano()),
		groupTransport{n.mesh}, groupView{ml: n.ml, self: cfg.Cluster.Name}, groupSessions{n.sessions}, opts...)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.groups = svc
	n.mesh.Handle(internode.ClassGroups, func(ctx context.Context, req []byte) ([]byte, error) {
		if err := n.groupsSenderCheck(ctx, req); err != nil {
			return nil, err
		}
		return svc.Handle(ctx, internode.Peer(ctx), req)
	})
	// A session's memberships end with it.
	n.sessions.OnEnd(svc.LeaveAll)
	return nil
}

// groupTransport carries the groups class over the mesh.
type groupTransport struct{ mesh *internode.Mesh }

func (t groupTransport) Request(ctx context.Context, addr string, req []byte) ([]byte, error) {
	return t.mesh.Request(ctx, addr, internode.ClassGroups, req)
}

func (t groupTransport) Send(ctx context.Context, addr string, msg []byte) error {
	return t.mesh.Send(ctx, addr, internode.ClassGroups, msg)
}

// groupView gives pg the live peers of the gossip view.
type groupView struct {
	ml   *gossip.Membership
	self string
}

func (v groupView) Peers() []pg.Peer {
	members := v.ml.Members()
	out := make([]pg.Peer, 0, len(members))
	for _, m := range members {
		if p, ok := groupPeer(m, v.self); ok {
			out = append(out, p)
		}
	}
	return out
}

func groupPeer(m gossip.Member, self string) (pg.Peer, bool) {
	if m.Name == self || m.State != gossip.StateAlive || !m.MetaValid || m.Meta.InternodeAddr == "" {
		return pg.Peer{}, false
	}
	return pg.Peer{Name: m.Name, Addr: m.Meta.InternodeAddr}, true
}

// groupsOnGossip forwards a gossip event to the groups service; never blocks.
func (n *Node) groupsOnGossip(ev gossip.Event) {
	if ev.Member.Name == n.Name() {
		return
	}
	if p, ok := groupPeer(ev.Member, n.Name()); ok {
		n.groups.PeerUp(p)
		return
	}
	n.groups.PeerDown(ev.Member.Name)
}

// groupSessions gives pg the node's session table.
type groupSessions struct{ s *session.Service }

func (g groupSessions) Lookup(pid string) (<-chan struct{}, bool) {
	s, ok := g.s.Lookup(pid)
	if !ok {
		return nil, false
	}
	return s.Done(), true
}

// Deliver puts a broadcast on a member session's event stream.
func (g groupSessions) Deliver(pid string, m pg.Message) bool {
	return g.s.Emit(pid, SessionEvent{Kind: EventGroupMessage, Scope: m.Key.Scope, Group: m.Key.Group, From: m.From, Payload: m.Payload})
}
