package api

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

// LockNode is what the Lock service and the /v1/locks endpoints need of a
// node: the methods of its lock service (*locks.Service, Node.Locks).
type LockNode interface {
	// Acquire takes the lock name for the session pid open on this
	// node and returns the fencing token; with opts.Wait it blocks up to
	// that long (or until ctx ends) for the grant.
	Acquire(ctx context.Context, pid, name string, opts cluster.AcquireOptions) (uint64, error)
	// Release releases name if pid holds it (or drops pid from its
	// queue); blocks until committed.
	Release(ctx context.Context, pid, name string) error
	// Inspect reads one lock in mode; ErrNotFound when it is free and
	// nobody waits.
	Inspect(ctx context.Context, name string, mode cluster.ReadMode) (cluster.LockInfo, error)
	// List reads the locks whose names start with prefix, by name.
	List(ctx context.Context, prefix string, mode cluster.ReadMode) ([]cluster.LockInfo, error)
}

// lockService implements conclave.v1.Lock. It checks what the wire allows
// and the node cannot see (an empty pid, negative or malformed durations,
// unknown read modes); lock names and limits are the node's to judge.
//
// Acquire with a wait blocks for up to that wait: nothing here bounds it,
// so the client's deadline (carried by ctx) is the only other limit.
type lockService struct {
	pb.UnimplementedLockServer
	node LockNode
}

func (s *lockService) Acquire(ctx context.Context, req *pb.LockAcquireRequest) (*pb.LockAcquireResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	wait, err := durationField("wait", req.GetWait())
	if err != nil {
		return nil, err
	}
	delay, err := durationField("lock_delay", req.GetLockDelay())
	if err != nil {
		return nil, err
	}
	token, err := s.node.Acquire(ctx, req.GetPid(), req.GetName(), cluster.AcquireOptions{Wait: wait, LockDelay: delay})
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.LockAcquireResponse{Token: token}, nil
}

func (s *lockService) Release(ctx context.Context, req *pb.LockReleaseRequest) (*pb.LockReleaseResponse, error) {
	if req.GetPid() == "" {
		return nil, invalidArgument("pid", "must not be empty")
	}
	if err := s.node.Release(ctx, req.GetPid(), req.GetName()); err != nil {
		return nil, statusError(err)
	}
	return &pb.LockReleaseResponse{}, nil
}

func (s *lockService) Inspect(ctx context.Context, req *pb.LockInspectRequest) (*pb.LockInspectResponse, error) {
	mode, err := readMode(req.GetMode())
	if err != nil {
		return nil, err
	}
	info, err := s.node.Inspect(ctx, req.GetName(), mode)
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.LockInspectResponse{Lock: lockInfoToPB(info)}, nil
}

func (s *lockService) List(ctx context.Context, req *pb.LockListRequest) (*pb.LockListResponse, error) {
	mode, err := readMode(req.GetMode())
	if err != nil {
		return nil, err
	}
	infos, err := s.node.List(ctx, req.GetPrefix(), mode)
	if err != nil {
		return nil, statusError(err)
	}
	resp := &pb.LockListResponse{Locks: make([]*pb.LockInfo, 0, len(infos))}
	for _, info := range infos {
		if !mayRead(ctx, acl.ResLock, info.Name) {
			continue
		}
		resp.Locks = append(resp.Locks, lockInfoToPB(info))
	}
	return resp, nil
}

// durationField reads an optional, non-negative duration field; unset is 0.
func durationField(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, invalidArgument(field, "%v", err)
	}
	v := d.AsDuration()
	if v < 0 {
		return 0, invalidArgument(field, "must not be negative, got %s", v)
	}
	return v, nil
}

func lockInfoToPB(l cluster.LockInfo) *pb.LockInfo {
	out := &pb.LockInfo{
		Name:       l.Name,
		Holder:     l.Holder,
		Token:      l.Token,
		GrantedAt:  timestampOrNil(l.GrantedAt),
		LockDelay:  durationpb.New(l.LockDelay),
		DelayUntil: timestampOrNil(l.DelayUntil),
		Waiters:    make([]*pb.LockWaiter, 0, len(l.Waiters)),
	}
	for _, w := range l.Waiters {
		out.Waiters = append(out.Waiters, &pb.LockWaiter{Pid: w.PID, Deadline: timestampOrNil(w.Deadline)})
	}
	return out
}

// timestampOrNil leaves a zero time unset on the wire rather than sending
// year 1.
func timestampOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
