package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

// ElectionNode is what the Election service and /v1/elections need of a
// node: the election methods of its lock service (*locks.Service).
type ElectionNode interface {
	// Campaign blocks until the session pid leads name (or ctx ends) and
	// returns the leadership's fencing token.
	Campaign(ctx context.Context, pid, name, value string) (uint64, error)
	// Proclaim sets the leader's value; blocks until committed.
	Proclaim(ctx context.Context, pid, name, value string) error
	// Resign ends pid's leadership or candidacy; blocks until committed.
	Resign(ctx context.Context, pid, name string) error
	// Leader reads the election in mode; ErrNotFound when nobody leads or
	// campaigns.
	Leader(ctx context.Context, name string, mode cluster.ReadMode) (cluster.Election, error)
	// Elections lists the elections whose names start with prefix.
	Elections(ctx context.Context, prefix string, mode cluster.ReadMode) ([]cluster.Election, error)
	// Observe calls emit with the current state and then every change, in
	// order, until ctx ends (nil) or emit fails.
	Observe(ctx context.Context, name string, emit func(cluster.Election) error) error
}

// electionService implements conclave.v1.Election.
type electionService struct {
	pb.UnimplementedElectionServer
	node    ElectionNode
	streams *streamSet
	guard   *guard
}

func (s *electionService) Campaign(ctx context.Context, req *pb.ElectionCampaignRequest) (*pb.ElectionCampaignResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	token, err := s.node.Campaign(ctx, req.GetPid(), req.GetName(), string(req.GetValue()))
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.ElectionCampaignResponse{Token: token}, nil
}

func (s *electionService) Proclaim(ctx context.Context, req *pb.ElectionProclaimRequest) (*pb.ElectionProclaimResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	if err := s.node.Proclaim(ctx, req.GetPid(), req.GetName(), string(req.GetValue())); err != nil {
		return nil, statusError(err)
	}
	return &pb.ElectionProclaimResponse{}, nil
}

func (s *electionService) Resign(ctx context.Context, req *pb.ElectionResignRequest) (*pb.ElectionResignResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	if err := s.node.Resign(ctx, req.GetPid(), req.GetName()); err != nil {
		return nil, statusError(err)
	}
	return &pb.ElectionResignResponse{}, nil
}

func (s *electionService) Leader(ctx context.Context, req *pb.ElectionLeaderRequest) (*pb.ElectionLeaderResponse, error) {
	mode, err := readMode(req.GetMode())
	if err != nil {
		return nil, err
	}
	e, err := s.node.Leader(ctx, req.GetName(), mode)
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.ElectionLeaderResponse{State: electionToPB(e)}, nil
}

func (s *electionService) Observe(req *pb.ElectionObserveRequest, stream pb.Election_ObserveServer) error {
	if !s.streams.add() {
		return errStopping
	}
	defer s.streams.done()
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	if err := s.guard.streamCheck(ctx, "Election.Observe", needs(acl.ResLock, req.GetName(), acl.Read)); err != nil {
		return err
	}
	go func() {
		// The node stopping ends the stream; the goroutine ends with it.
		select {
		case <-s.streams.stopping():
			cancel()
		case <-ctx.Done():
		}
	}()
	err := s.node.Observe(ctx, req.GetName(), func(e cluster.Election) error {
		return stream.Send(electionToPB(e))
	})
	if err != nil {
		return statusError(err)
	}
	if stream.Context().Err() == nil {
		return status.Error(codes.Unavailable, "election observe ended: the node is stopping")
	}
	return stream.Context().Err()
}

func electionToPB(e cluster.Election) *pb.ElectionState {
	out := &pb.ElectionState{Name: e.Name, Leader: e.Leader, Token: e.Token, Value: []byte(e.Value), Rev: e.Rev,
		GrantedAt: timestampOrNil(e.GrantedAt)}
	for _, c := range e.Candidates {
		out.Candidates = append(out.Candidates, c.PID)
	}
	return out
}
