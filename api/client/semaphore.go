package client

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// Semaphore takes a slot of the semaphore name, which has limit slots, for
// this session and returns it with its fencing token. Every session must
// pass the semaphore's current limit (a FailedPrecondition error naming it
// otherwise). By default it fails at once when every slot is held (see
// IsLockHeld); with Wait it queues, FIFO. LockDelay does not apply to
// semaphores and is ignored. Taking a semaphore the session already has a
// slot of returns the same token.
func (s *Session) Semaphore(ctx context.Context, name string, limit int, opts ...LockOption) (*SemSlot, error) {
	var o lockOptions
	for _, opt := range opts {
		opt(&o)
	}
	req := &pb.SemAcquireRequest{Pid: s.pid, Name: name, Limit: uint32(max(limit, 0))}
	if o.wait != 0 {
		req.Wait = durationpb.New(o.wait)
	}
	resp, err := s.sems.Acquire(ctx, req)
	if err != nil {
		return nil, err
	}
	return &SemSlot{s: s, name: name, token: resp.GetToken()}, nil
}

// SemSlot is a semaphore slot held by a Session.
type SemSlot struct {
	s     *Session
	name  string
	token uint64
}

// Name is the semaphore's name.
func (l *SemSlot) Name() string { return l.name }

// Token is the slot's fencing token, unique among the semaphore's grants
// and increasing with every grant.
func (l *SemSlot) Token() uint64 { return l.token }

// Lost is closed when the session ends: the cluster then frees the slot.
func (l *SemSlot) Lost() <-chan struct{} { return l.s.Done() }

// Release frees the slot (FailedPrecondition if the session no longer has
// it, see IsNotHolder).
func (l *SemSlot) Release(ctx context.Context) error {
	_, err := l.s.sems.Release(ctx, &pb.SemReleaseRequest{Pid: l.s.pid, Name: l.name})
	return err
}

// SemInfo is one semaphore: its limit, holders in grant order and queue.
type SemInfo struct {
	Name    string
	Limit   int
	Holders []SemHolder
	Waiters []LockWaiter
}

// SemHolder is one holder of a semaphore slot.
type SemHolder struct {
	PID       string
	Token     uint64
	GrantedAt time.Time
}

func semInfoFromPB(p *pb.SemInfo) SemInfo {
	out := SemInfo{Name: p.GetName(), Limit: int(p.GetLimit())}
	for _, h := range p.GetHolders() {
		out.Holders = append(out.Holders, SemHolder{PID: h.GetPid(), Token: h.GetToken(), GrantedAt: timeFromPB(h.GetGrantedAt())})
	}
	for _, w := range p.GetWaiters() {
		out.Waiters = append(out.Waiters, LockWaiter{PID: w.GetPid(), Deadline: timeFromPB(w.GetDeadline())})
	}
	return out
}

// Semaphores reads the semaphores of the lock table.
type Semaphores struct {
	c pb.SemaphoreClient
}

// Inspect reads one semaphore; NotFound (see IsNotFound) when nobody holds
// or waits for it.
func (m *Semaphores) Inspect(ctx context.Context, name string, opts ...ReadOption) (SemInfo, error) {
	var o readOptions
	for _, opt := range opts {
		opt.applyRead(&o)
	}
	resp, err := m.c.Inspect(ctx, &pb.SemInspectRequest{Name: name, Mode: o.mode.pb()})
	if err != nil {
		return SemInfo{}, err
	}
	return semInfoFromPB(resp.GetSemaphore()), nil
}

// List returns the semaphores whose names start with prefix, by name.
func (m *Semaphores) List(ctx context.Context, prefix string, opts ...ReadOption) ([]SemInfo, error) {
	var o readOptions
	for _, opt := range opts {
		opt.applyRead(&o)
	}
	resp, err := m.c.List(ctx, &pb.SemListRequest{Prefix: prefix, Mode: o.mode.pb()})
	if err != nil {
		return nil, err
	}
	out := make([]SemInfo, 0, len(resp.GetSemaphores()))
	for _, s := range resp.GetSemaphores() {
		out = append(out, semInfoFromPB(s))
	}
	return out, nil
}

// Release frees pid's slot of name on behalf of the session pid, which
// must be open on the agent this Client talks to: an operator's tool.
func (m *Semaphores) Release(ctx context.Context, pid, name string) error {
	_, err := m.c.Release(ctx, &pb.SemReleaseRequest{Pid: pid, Name: name})
	return err
}
