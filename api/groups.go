package api

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/pg"
)

// GroupNode is what the Groups service and the /v1/groups endpoints need
// of a node: the methods of its process-group service (*pg.Service,
// Node.Groups). Called concurrently from request goroutines; none blocks
// on Raft (groups work without a leader), and Broadcast blocks at most for
// one node-to-node send per destination. Once the node stops, every method
// fails with pg.ErrStopped.
type GroupNode interface {
	// Join makes the session pid, open on this node, a member of k.
	Join(k pg.Key, pid string) error
	// Leave ends that membership (cluster.ErrNotMember if none).
	Leave(k pg.Key, pid string) error
	// Broadcast sends payload to the group's members; payload is the
	// request's buffer, which the node may keep.
	Broadcast(ctx context.Context, k pg.Key, from string, payload []byte, localOnly bool) (cluster.GroupBroadcastResult, error)
	// Members lists the members' PIDs, sorted.
	Members(k pg.Key, localOnly bool) ([]string, error)
	// Groups lists the groups of scope with members.
	Groups(scope string) ([]cluster.GroupInfo, error)
	// Monitor starts watching a group; the Monitor handler reads it from
	// its goroutine only and closes it.
	Monitor(k pg.Key) (*pg.Monitor, error)
}

// groupKey is the group a request names (scope "" is the default scope).
func groupKey(scope, group string) pg.Key { return pg.Key{Scope: scope, Group: group} }

// groupsService implements conclave.v1.Groups.
type groupsService struct {
	pb.UnimplementedGroupsServer
	node    GroupNode
	streams *streamSet
	guard   *guard
}

func (s *groupsService) Join(ctx context.Context, req *pb.GroupJoinRequest) (*pb.GroupJoinResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	if err := s.node.Join(groupKey(req.GetScope(), req.GetGroup()), req.GetPid()); err != nil {
		return nil, groupStatus(err)
	}
	return &pb.GroupJoinResponse{}, nil
}

func (s *groupsService) Leave(ctx context.Context, req *pb.GroupLeaveRequest) (*pb.GroupLeaveResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	if err := s.node.Leave(groupKey(req.GetScope(), req.GetGroup()), req.GetPid()); err != nil {
		return nil, groupStatus(err)
	}
	return &pb.GroupLeaveResponse{}, nil
}

func (s *groupsService) Broadcast(ctx context.Context, req *pb.GroupBroadcastRequest) (*pb.GroupBroadcastResponse, error) {
	r, err := s.node.Broadcast(ctx, groupKey(req.GetScope(), req.GetGroup()), req.GetFrom(), req.GetPayload(), req.GetLocalOnly())
	if err != nil {
		return nil, groupStatus(err)
	}
	return &pb.GroupBroadcastResponse{Nodes: uint32(r.Nodes), Members: uint32(r.Members), Unreached: uint32(r.Unreached)}, nil
}

func (s *groupsService) Members(ctx context.Context, req *pb.GroupMembersRequest) (*pb.GroupMembersResponse, error) {
	pids, err := s.node.Members(groupKey(req.GetScope(), req.GetGroup()), req.GetLocalOnly())
	if err != nil {
		return nil, groupStatus(err)
	}
	return membersToPB(pids), nil
}

func (s *groupsService) Groups(ctx context.Context, req *pb.GroupsRequest) (*pb.GroupsResponse, error) {
	gs, err := s.node.Groups(req.GetScope())
	if err != nil {
		return nil, groupStatus(err)
	}
	resp := &pb.GroupsResponse{Groups: make([]*pb.GroupInfo, 0, len(gs))}
	for _, g := range gs {
		if !mayRead(ctx, acl.ResGroup, g.Group) {
			continue
		}
		resp.Groups = append(resp.Groups, &pb.GroupInfo{Scope: g.Scope, Group: g.Group,
			Members: uint32(g.Members), LocalMembers: uint32(g.Local)})
	}
	return resp, nil
}

// Monitor sends the members, then every event, until the client goes,
// the watch ends or the server stops. A watch that fell behind ends the
// stream with RESOURCE_EXHAUSTED: its picture is no longer complete, and
// the client should start a new one.
func (s *groupsService) Monitor(req *pb.GroupMonitorRequest, stream pb.Groups_MonitorServer) error {
	if !s.streams.add() {
		return errStopping
	}
	defer s.streams.done()
	if err := s.guard.streamCheck(stream.Context(), "Groups.Monitor", needs(acl.ResGroup, req.GetGroup(), acl.Read)); err != nil {
		return err
	}
	m, err := s.node.Monitor(groupKey(req.GetScope(), req.GetGroup()))
	if err != nil {
		return groupStatus(err)
	}
	defer m.Close()
	first := &pb.GroupMonitorResponse{Kind: &pb.GroupMonitorResponse_Members{Members: membersToPB(m.Initial())}}
	if err := stream.Send(first); err != nil {
		return err
	}
	ctx := stream.Context()
	for {
		select {
		case ev := <-m.Events():
			kind := pb.GroupEvent_LEAVE
			if ev.Joined {
				kind = pb.GroupEvent_JOIN
			}
			if err := stream.Send(&pb.GroupMonitorResponse{Kind: &pb.GroupMonitorResponse_Event{Event: &pb.GroupEvent{
				Kind: kind, Member: &pb.GroupMember{Pid: ev.PID, Node: wire.NodeOf(ev.PID)},
			}}}); err != nil {
				return err
			}
		case <-m.Done():
			if errors.Is(m.Err(), pg.ErrMonitorOverflow) {
				return status.Error(codes.ResourceExhausted, m.Err().Error())
			}
			return status.Errorf(codes.Unavailable, "monitor ended: %v", m.Err())
		case <-ctx.Done():
			return nil
		case <-s.streams.stopping():
			return errStopping
		}
	}
}

func membersToPB(pids []string) *pb.GroupMembersResponse {
	out := &pb.GroupMembersResponse{Members: make([]*pb.GroupMember, 0, len(pids))}
	for _, pid := range pids {
		out.Members = append(out.Members, &pb.GroupMember{Pid: pid, Node: wire.NodeOf(pid)})
	}
	return out
}

// groupStatus maps a groups error: a leave of a group the session is not
// in is FAILED_PRECONDITION, the rest as every other node error.
func groupStatus(err error) error {
	if errors.Is(err, cluster.ErrNotMember) {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return statusError(groupsErr(err))
}

// groupsErr puts the groups service's errors in the node's words: the
// service stops only with the node, so a stopped service is a node shut
// down (UNAVAILABLE).
func groupsErr(err error) error {
	if errors.Is(err, pg.ErrStopped) {
		return fmt.Errorf("%w: %w", cluster.ErrShutdown, err)
	}
	return err
}
