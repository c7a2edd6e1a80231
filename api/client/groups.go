package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// GroupOption configures a process-group call.
type GroupOption func(*groupOptions)

type groupOptions struct {
	scope     string
	localOnly bool
}

// InScope names the group's scope; the default is the agent's default
// scope ("default").
func InScope(scope string) GroupOption { return func(o *groupOptions) { o.scope = scope } }

// LocalOnly limits Broadcast to the members on the agent the Client talks
// to, and Members to the members there.
func LocalOnly() GroupOption { return func(o *groupOptions) { o.localOnly = true } }

func groupOpts(opts []GroupOption) groupOptions {
	var o groupOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Join makes the session a member of group: every broadcast to the group
// arrives on Events as an EventGroupMessage, until Leave or the session
// ends. Joining twice is harmless. Groups need no Raft quorum.
func (s *Session) Join(ctx context.Context, group string, opts ...GroupOption) error {
	o := groupOpts(opts)
	_, err := s.groups.Join(ctx, &pb.GroupJoinRequest{Pid: s.pid, Scope: o.scope, Group: group})
	return err
}

// Leave ends the session's membership of group; a FailedPrecondition
// error (see IsNotHolder) if it was not a member.
func (s *Session) Leave(ctx context.Context, group string, opts ...GroupOption) error {
	o := groupOpts(opts)
	_, err := s.groups.Leave(ctx, &pb.GroupLeaveRequest{Pid: s.pid, Scope: o.scope, Group: group})
	return err
}

// Broadcast sends payload to group with this session as the sender members
// see (Client's Groups().Broadcast sends as the agent's node).
func (s *Session) Broadcast(ctx context.Context, group string, payload []byte, opts ...GroupOption) (BroadcastResult, error) {
	return broadcast(ctx, s.groups, s.pid, group, payload, opts)
}

// Groups is the process groups' API that needs no session: broadcast,
// members, the group list and monitors. Joining goes through a Session.
// It shares the Client's connection.
type Groups struct {
	c pb.GroupsClient
}

// Groups returns the process groups' API.
func (c *Client) Groups() *Groups { return c.groups }

// BroadcastResult says where a broadcast went.
type BroadcastResult struct {
	Nodes     int // nodes it was delivered on or sent to
	Members   int // members those nodes hosted
	Unreached int // nodes hosting members that could not be reached
}

// Broadcast sends payload to every member of group (with LocalOnly: the
// agent's own members), best effort. Members see the agent's node name as
// the sender. A payload above the agent's limit (default 1 MiB) is an
// InvalidArgument error.
func (g *Groups) Broadcast(ctx context.Context, group string, payload []byte, opts ...GroupOption) (BroadcastResult, error) {
	return broadcast(ctx, g.c, "", group, payload, opts)
}

func broadcast(ctx context.Context, c pb.GroupsClient, from, group string, payload []byte, opts []GroupOption) (BroadcastResult, error) {
	o := groupOpts(opts)
	resp, err := c.Broadcast(ctx, &pb.GroupBroadcastRequest{Scope: o.scope, Group: group, Payload: payload, LocalOnly: o.localOnly, From: from})
	if err != nil {
		return BroadcastResult{}, err
	}
	return BroadcastResult{Nodes: int(resp.GetNodes()), Members: int(resp.GetMembers()), Unreached: int(resp.GetUnreached())}, nil
}

// Leave removes the session pid, which must be open on the agent this
// Client talks to, from group: an operator's tool. Applications use
// Session.Leave.
func (g *Groups) Leave(ctx context.Context, pid, group string, opts ...GroupOption) error {
	o := groupOpts(opts)
	_, err := g.c.Leave(ctx, &pb.GroupLeaveRequest{Pid: pid, Scope: o.scope, Group: group})
	return err
}

// GroupMember is a member of a group: a session's PID and its node.
type GroupMember struct {
	PID  string
	Node string
}

// GroupInfo is a group with members.
type GroupInfo struct {
	Scope, Group string
	Members      int // on every node
	LocalMembers int // on the agent
}

// Members lists group's members as the agent knows them, by PID.
func (g *Groups) Members(ctx context.Context, group string, opts ...GroupOption) ([]GroupMember, error) {
	o := groupOpts(opts)
	resp, err := g.c.Members(ctx, &pb.GroupMembersRequest{Scope: o.scope, Group: group, LocalOnly: o.localOnly})
	if err != nil {
		return nil, err
	}
	return membersFromPB(resp), nil
}

// List lists the groups of the scope (InScope; default "default") that
// have members, by name.
func (g *Groups) List(ctx context.Context, opts ...GroupOption) ([]GroupInfo, error) {
	o := groupOpts(opts)
	resp, err := g.c.Groups(ctx, &pb.GroupsRequest{Scope: o.scope})
	if err != nil {
		return nil, err
	}
	out := make([]GroupInfo, 0, len(resp.GetGroups()))
	for _, gi := range resp.GetGroups() {
		out = append(out, GroupInfo{Scope: gi.GetScope(), Group: gi.GetGroup(),
			Members: int(gi.GetMembers()), LocalMembers: int(gi.GetLocalMembers())})
	}
	return out, nil
}

func membersFromPB(resp *pb.GroupMembersResponse) []GroupMember {
	out := make([]GroupMember, 0, len(resp.GetMembers()))
	for _, m := range resp.GetMembers() {
		out = append(out, GroupMember{PID: m.GetPid(), Node: m.GetNode()})
	}
	return out
}

// GroupEvent is a join or leave seen by a GroupMonitor.
type GroupEvent struct {
	Joined bool // false: left
	Member GroupMember
}

// GroupMonitor watches a group: Members is who was in it when the monitor
// started, then Events carries each join and leave as the agent learns of
// them. One goroutine reads the stream; it ends, closing Events, when ctx
// (of Monitor) ends, Close is called, or the stream fails (Err says why:
// ResourceExhausted when this reader fell too far behind).
type GroupMonitor struct {
	members []GroupMember
	events  chan GroupEvent
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	err     error
}

// Monitor starts watching group. ctx bounds the whole watch.
func (g *Groups) Monitor(ctx context.Context, group string, opts ...GroupOption) (*GroupMonitor, error) {
	o := groupOpts(opts)
	ctx, cancel := context.WithCancel(ctx)
	stream, err := g.c.Monitor(ctx, &pb.GroupMonitorRequest{Scope: o.scope, Group: group})
	if err != nil {
		cancel()
		return nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, err
	}
	members := first.GetMembers()
	if members == nil {
		cancel()
		return nil, fmt.Errorf("client: monitor: the agent answered with %T, want the members", first.GetKind())
	}
	m := &GroupMonitor{members: membersFromPB(members), events: make(chan GroupEvent, 64), cancel: cancel, done: make(chan struct{})}
	go m.receive(ctx, stream)
	return m, nil
}

func (m *GroupMonitor) receive(ctx context.Context, stream pb.Groups_MonitorClient) {
	defer close(m.done)
	defer close(m.events)
	for {
		resp, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || (ctx.Err() != nil && status.Code(err) == codes.Canceled) {
				err = nil
			}
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
			return
		}
		ev := resp.GetEvent()
		if ev == nil {
			continue // a kind this SDK does not know
		}
		out := GroupEvent{Joined: ev.GetKind() == pb.GroupEvent_JOIN,
			Member: GroupMember{PID: ev.GetMember().GetPid(), Node: ev.GetMember().GetNode()}}
		select {
		case m.events <- out:
		case <-ctx.Done():
		}
	}
}

// Members is the group's members when the monitor started, by PID.
func (m *GroupMonitor) Members() []GroupMember { return append([]GroupMember(nil), m.members...) }

// Events delivers joins and leaves in order; closed when the monitor ends.
func (m *GroupMonitor) Events() <-chan GroupEvent { return m.events }

// Err says why the monitor ended: nil while running, after Close or once
// ctx ended; otherwise the stream's status.
func (m *GroupMonitor) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Close stops the monitor and waits for its goroutine.
func (m *GroupMonitor) Close() {
	m.cancel()
	<-m.done
}
