package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internode"
	"github.com/conclave-dev/conclave/pg"
	"github.com/conclave-dev/conclave/cluster/session"
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

// groupsErr puts the groups service's errors in the node's words: it stops
// only with the node.
func groupsErr(err error) error {
	switch {
	case errors.Is(err, pg.ErrStopped):
		return fmt.Errorf("%w: %w", ErrShutdown, err)
	}
	return err
}

// groupsResult is groupsErr for calls that return a value.
func groupsResult[T any](v T, err error) (T, error) { return v, groupsErr(err) }

// GroupJoin makes the session pid, open on this node, a member of the
// group (scope "" is the default scope). Joining twice is harmless. It
// needs no Raft: it works while the core has no leader.
func (n *Node) GroupJoin(ctx context.Context, pid, scope, group string) error {
	return groupsErr(n.groups.Join(pg.Key{Scope: scope, Group: group}, pid))
}

// GroupLeave ends the session pid's membership of the group;
// ErrNotMember if it had none.
func (n *Node) GroupLeave(ctx context.Context, pid, scope, group string) error {
	return groupsErr(n.groups.Leave(pg.Key{Scope: scope, Group: group}, pid))
}

// GroupBroadcast sends payload to every member of the group (localOnly:
// to this node's members only), best effort: one internode send per other
// node hosting members. from, when set, must be a session open on this
// node and is what members see as the sender; otherwise they see the node
// name.
func (n *Node) GroupBroadcast(ctx context.Context, scope, group, from string, payload []byte, localOnly bool) (GroupBroadcastResult, error) {
	return groupsResult(n.groups.Broadcast(ctx, pg.Key{Scope: scope, Group: group}, from, payload, localOnly))
}

// GroupMembers lists the group's members (localOnly: on this node), as
// this node knows them, sorted by PID.
func (n *Node) GroupMembers(ctx context.Context, scope, group string, localOnly bool) ([]string, error) {
	return groupsResult(n.groups.Members(pg.Key{Scope: scope, Group: group}, localOnly))
}

// Groups lists the groups of scope ("" = the default scope) that have
// members on any node, by name.
func (n *Node) Groups(ctx context.Context, scope string) ([]GroupInfo, error) {
	return groupsResult(n.groups.Groups(scope))
}

// GroupMonitor watches a group: its members now, then every join and leave
// this node learns of. The caller must Close it.
func (n *Node) GroupMonitor(scope, group string) (*pg.Monitor, error) {
	return groupsResult(n.groups.Monitor(pg.Key{Scope: scope, Group: group}))
}

// LastGroupHeartbeat returns the peer whose heartbeat this node received
// last, and when (the zero time if none yet). A liveness check fails when
// that is too long ago while peers are alive.
func (n *Node) LastGroupHeartbeat() (string, time.Time) { return n.groups.LastBeat() }

// GroupStats returns the groups service's counters.
func (n *Node) GroupStats() pg.Stats { return n.groups.Stats() }
