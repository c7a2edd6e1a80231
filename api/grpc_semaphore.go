package api

import (
	"context"
	"time"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

// SemaphoreNode is what the Semaphore service and the /v1/semaphores
// endpoints need of a node: the semaphore methods of its lock service
// (*locks.Service, Node.Locks).
type SemaphoreNode interface {
	// SemAcquire takes a slot of the semaphore name (limit slots) for the
	// session pid open on this node and returns its fencing token; with
	// wait > 0 it blocks up to that long (or until ctx ends) for a slot.
	SemAcquire(ctx context.Context, pid, name string, limit int, wait time.Duration) (uint64, error)
	// SemRelease frees pid's slot (or drops pid from the queue); blocks
	// until committed.
	SemRelease(ctx context.Context, pid, name string) error
	// SemInspect reads one semaphore in mode; ErrNotFound when nobody
	// holds or waits for it.
	SemInspect(ctx context.Context, name string, mode cluster.ReadMode) (cluster.SemInfo, error)
	// SemList reads the semaphores whose names start with prefix, by name.
	SemList(ctx context.Context, prefix string, mode cluster.ReadMode) ([]cluster.SemInfo, error)
}

// semaphoreService implements conclave.v1.Semaphore, as lockService does
// the Lock service: it checks what the wire allows; names and limits are
// the node's to judge.
type semaphoreService struct {
	pb.UnimplementedSemaphoreServer
	node SemaphoreNode
}

func (s *semaphoreService) Acquire(ctx context.Context, req *pb.SemAcquireRequest) (*pb.SemAcquireResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	wait, err := durationField("wait", req.GetWait())
	if err != nil {
		return nil, err
	}
	limit := req.GetLimit()
	if limit > 1<<20 {
		limit = 1 << 20 // out of range either way; the node names the bound
	}
	token, err := s.node.SemAcquire(ctx, req.GetPid(), req.GetName(), int(limit), wait)
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.SemAcquireResponse{Token: token}, nil
}

func (s *semaphoreService) Release(ctx context.Context, req *pb.SemReleaseRequest) (*pb.SemReleaseResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	if err := s.node.SemRelease(ctx, req.GetPid(), req.GetName()); err != nil {
		return nil, statusError(err)
	}
	return &pb.SemReleaseResponse{}, nil
}

func (s *semaphoreService) Inspect(ctx context.Context, req *pb.SemInspectRequest) (*pb.SemInspectResponse, error) {
	mode, err := readMode(req.GetMode())
	if err != nil {
		return nil, err
	}
	info, err := s.node.SemInspect(ctx, req.GetName(), mode)
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.SemInspectResponse{Semaphore: semInfoToPB(info)}, nil
}

func (s *semaphoreService) List(ctx context.Context, req *pb.SemListRequest) (*pb.SemListResponse, error) {
	mode, err := readMode(req.GetMode())
	if err != nil {
		return nil, err
	}
	infos, err := s.node.SemList(ctx, req.GetPrefix(), mode)
	if err != nil {
		return nil, statusError(err)
	}
	resp := &pb.SemListResponse{Semaphores: make([]*pb.SemInfo, 0, len(infos))}
	for _, info := range infos {
		if !mayRead(ctx, acl.ResLock, info.Name) {
			continue
		}
		resp.Semaphores = append(resp.Semaphores, semInfoToPB(info))
	}
	return resp, nil
}

func semInfoToPB(s cluster.SemInfo) *pb.SemInfo {
	out := &pb.SemInfo{Name: s.Name, Limit: uint32(max(s.Limit, 0)),
		Holders: make([]*pb.SemHolder, 0, len(s.Holders)), Waiters: make([]*pb.LockWaiter, 0, len(s.Waiters))}
	for _, h := range s.Holders {
		out.Holders = append(out.Holders, &pb.SemHolder{Pid: h.PID, Token: h.Token, GrantedAt: timestampOrNil(h.GrantedAt)})
	}
	for _, w := range s.Waiters {
		out.Waiters = append(out.Waiters, &pb.LockWaiter{Pid: w.PID, Deadline: timestampOrNil(w.Deadline)})
	}
	return out
}
