package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

// ClusterNode is what the Cluster service, the membership and Raft REST
// endpoints, /metrics and the health fallback need of a node: its name and
// its views of the cluster. The one service every Server has.
type ClusterNode interface {
	// Name is the node's name; it never changes. Called for health
	// output, REST answers and error messages.
	Name() string
	// Members is the node's membership view; must not block.
	Members() []cluster.Member
	// RaftStatus is the node's Raft view; must not block. It is also read
	// on every /metrics scrape.
	RaftStatus() cluster.RaftStatus
	// Leave makes the node leave the cluster and stop. The Leave handler
	// still returns its response afterwards, so the caller must stop this
	// Server gracefully (cancel Serve's ctx) rather than Close it.
	Leave(ctx context.Context) error
}

// AdmitNode records operator admissions for raft.admission: manual. Admit
// blocks until the entry commits or ctx ends. Without it, Cluster.Admit
// fails Unimplemented.
type AdmitNode interface {
	// Admit adds node to the replicated admitted set.
	Admit(ctx context.Context, node string) error
}

// clusterService implements conclave.v1.Cluster.
type clusterService struct {
	pb.UnimplementedClusterServer
	node  ClusterNode
	admit AdmitNode // nil: Admit is Unimplemented
}

func (s *clusterService) Members(ctx context.Context, _ *pb.MembersRequest) (*pb.MembersResponse, error) {
	members := s.node.Members()
	resp := &pb.MembersResponse{Members: make([]*pb.Member, 0, len(members))}
	for _, m := range members {
		if !mayRead(ctx, acl.ResOperator, m.Name) {
			continue
		}
		resp.Members = append(resp.Members, memberToPB(m))
	}
	return resp, nil
}

func (s *clusterService) RaftStatus(ctx context.Context, _ *pb.RaftStatusRequest) (*pb.RaftStatusResponse, error) {
	return &pb.RaftStatusResponse{Status: raftStatusToPB(s.node.RaftStatus())}, nil
}

func (s *clusterService) Leave(ctx context.Context, _ *pb.LeaveRequest) (*pb.LeaveResponse, error) {
	// Read the name first: after Leave the node is stopped.
	name := s.node.Name()
	if err := s.node.Leave(ctx); err != nil {
		return nil, statusError(err)
	}
	return &pb.LeaveResponse{Node: name}, nil
}

func (s *clusterService) Admit(ctx context.Context, req *pb.AdmitRequest) (*pb.AdmitResponse, error) {
	if s.admit == nil {
		return nil, status.Error(codes.Unimplemented, "this node does not record admissions")
	}
	if err := s.admit.Admit(ctx, req.GetNode()); err != nil {
		return nil, statusError(err)
	}
	return &pb.AdmitResponse{Node: req.GetNode()}, nil
}

func memberToPB(m cluster.Member) *pb.Member {
	return &pb.Member{
		Name:          m.Name,
		Addr:          m.Addr,
		State:         m.State,
		FailureDomain: m.FailureDomain,
		Priority:      int64(m.Priority),
		Eligible:      m.Eligible,
		RoleHint:      m.RoleHint,
		RaftRole:      m.RaftRole,
		InternodeAddr: m.InternodeAddr,
		ApiAddr:       m.APIAddr,
		HttpAddr:      m.HTTPAddr,
		Leader:        m.Leader,
		ClusterId:     m.ClusterID,
	}
}

func raftStatusToPB(s cluster.RaftStatus) *pb.RaftStatus {
	out := &pb.RaftStatus{
		Node:         s.Node,
		State:        s.State,
		Term:         s.Term,
		LeaderId:     s.LeaderID,
		LeaderAddr:   s.LeaderAddr,
		ClusterId:    s.ClusterID,
		CommitIndex:  s.CommitIndex,
		AppliedIndex: s.AppliedIndex,
		LastIndex:    s.LastIndex,
		LastContact:  durationpb.New(s.LastContact),
		Servers:      make([]*pb.RaftServer, 0, len(s.Servers)),
		Admitted:     s.Admitted,
	}
	for _, srv := range s.Servers {
		out.Servers = append(out.Servers, &pb.RaftServer{
			Id:            srv.ID,
			Address:       srv.Address,
			Suffrage:      srv.Suffrage,
			Leader:        srv.Leader,
			Role:          srv.Role,
			FailureDomain: srv.FailureDomain,
			Priority:      int32(srv.Priority),
		})
	}
	return out
}
