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
)

// ErrNotMember: a group leave for a session that is not a member.
// gRPC FailedPrecondition.
var ErrNotMember = errors.New("cluster: not a group member")

// GroupBroadcastResult says where a broadcast went: how many nodes it was
// delivered to or sent to, how many members they hosted, and how many
// nodes hosting members could not be reached.
type GroupBroadcastResult struct {
	Nodes, Members, Unreached int
}

// GroupInfo is one group with members somewhere.
type GroupInfo struct {
	Scope, Group string
	Members      int // on every node
	Local        int // on this node
}

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
		groupTransport{n.mesh}, groupView{ml: n.ml, self: cfg.Cluster.Name}, n.deliverGroup, opts...)
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
	n.sessions.onSessionEnd(svc.LeaveAll)
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

// deliverGroup puts a broadcast on a member session's event stream.
func (n *Node) deliverGroup(pid string, m pg.Message) bool {
	s, ok := n.sessions.get(pid)
	if !ok {
		return false
	}
	s.emit(SessionEvent{Kind: EventGroupMessage, Scope: m.Key.Scope, Group: m.Key.Group, From: m.From, Payload: m.Payload})
	return true
}

// groupErr maps pg's errors onto the node's sentinels.
func groupErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pg.ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	case errors.Is(err, pg.ErrNotMember):
		return fmt.Errorf("%w: %w", ErrNotMember, err)
	case errors.Is(err, pg.ErrStopped):
		return fmt.Errorf("%w: %w", ErrShutdown, err)
	}
	return err
}

func groupKey(scope, group string, reserved bool) (pg.Key, error) {
	if scope == "" {
		scope = pg.DefaultScope
	}
	k := pg.Key{Scope: scope, Group: group}
	return k, groupErr(pg.ValidateKey(k, reserved))
}

// openSession checks that pid is a session open on this node.
func (n *Node) openSession(pid string) (*session, error) {
	if err := pg.ValidatePID("pid", pid); err != nil {
		return nil, groupErr(err)
	}
	s, ok := n.sessions.get(pid)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not open on node %s", ErrNoSession, pid, n.Name())
	}
	return s, nil
}

// GroupJoin makes the session pid, open on this node, a member of the
// group (scope "" is the default scope). Joining twice is harmless. It
// needs no Raft: it works while the core has no leader.
func (n *Node) GroupJoin(ctx context.Context, pid, scope, group string) error {
	k, err := groupKey(scope, group, false)
	if err != nil {
		return err
	}
	s, err := n.openSession(pid)
	if err != nil {
		return err
	}
	if _, err := n.groups.Join(k, pid); err != nil {
		return groupErr(err)
	}
	select {
	case <-s.Done():
		// The session ended meanwhile and its end hook may have run
		// before the join: leave again so nothing outlives it.
		n.groups.LeaveAll(pid)
		return fmt.Errorf("%w: %q ended", ErrNoSession, pid)
	default:
	}
	return nil
}

// GroupLeave ends the session pid's membership of the group;
// ErrNotMember if it had none.
func (n *Node) GroupLeave(ctx context.Context, pid, scope, group string) error {
	k, err := groupKey(scope, group, false)
	if err != nil {
		return err
	}
	if _, err := n.openSession(pid); err != nil {
		return err
	}
	return groupErr(n.groups.Leave(k, pid))
}

// GroupBroadcast sends payload to every member of the group (localOnly:
// to this node's members only), best effort: one internode send per other
// node hosting members. from, when set, must be a session open on this
// node and is what members see as the sender; otherwise they see the node
// name.
func (n *Node) GroupBroadcast(ctx context.Context, scope, group, from string, payload []byte, localOnly bool) (GroupBroadcastResult, error) {
	k, err := groupKey(scope, group, false)
	if err != nil {
		return GroupBroadcastResult{}, err
	}
	if from == "" {
		from = n.Name()
	} else if _, err := n.openSession(from); err != nil {
		return GroupBroadcastResult{}, err
	}
	r, err := n.groups.Broadcast(ctx, k, from, payload, localOnly)
	if err != nil {
		return GroupBroadcastResult{}, groupErr(err)
	}
	return GroupBroadcastResult{Nodes: r.Nodes, Members: r.Members, Unreached: r.Unreached}, nil
}

// GroupMembers lists the group's members (localOnly: on this node), as
// this node knows them, sorted by PID.
func (n *Node) GroupMembers(ctx context.Context, scope, group string, localOnly bool) ([]string, error) {
	k, err := groupKey(scope, group, true)
	if err != nil {
		return nil, err
	}
	m, err := n.groups.Members(k, localOnly)
	return m, groupErr(err)
}

// Groups lists the groups of scope ("" = the default scope) that have
// members on any node, by name.
func (n *Node) Groups(ctx context.Context, scope string) ([]GroupInfo, error) {
	if scope == "" {
		scope = pg.DefaultScope
	}
	gs, err := n.groups.Groups(scope)
	if err != nil {
		return nil, groupErr(err)
	}
	out := make([]GroupInfo, len(gs))
	for i, g := range gs {
		out[i] = GroupInfo{Scope: g.Key.Scope, Group: g.Key.Group, Members: g.Members, Local: g.Local}
	}
	return out, nil
}

// GroupMonitor watches a group: its members now, then every join and leave
// this node learns of. The caller must Close it.
func (n *Node) GroupMonitor(scope, group string) (*pg.Monitor, error) {
	k, err := groupKey(scope, group, true)
	if err != nil {
		return nil, err
	}
	m, err := n.groups.Monitor(k)
	return m, groupErr(err)
}

// LastGroupHeartbeat returns the peer whose heartbeat this node received
// last, and when (the zero time if none yet). A liveness check fails when
// that is too long ago while peers are alive.
func (n *Node) LastGroupHeartbeat() (string, time.Time) { return n.groups.LastBeat() }

// GroupStats returns the groups service's counters.
func (n *Node) GroupStats() pg.Stats { return n.groups.Stats() }
