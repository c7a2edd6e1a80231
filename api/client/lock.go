package client

import (
	"context"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// LockOption configures Session.Lock.
type LockOption func(*lockOptions)

type lockOptions struct {
	wait, lockDelay time.Duration
}

// Wait makes Lock queue (FIFO) for up to d when the lock is held, instead
// of failing at once. ctx must allow for d: its deadline still applies. A
// wait that runs out is a DeadlineExceeded error.
func Wait(d time.Duration) LockOption { return func(o *lockOptions) { o.wait = d } }

// LockDelay keeps the lock unavailable for d after it is released
// automatically (the session ended, or its node is gone), so that work
// the lost holder may still be doing can drain. At most 60 s; off by
// default.
func LockDelay(d time.Duration) LockOption { return func(o *lockOptions) { o.lockDelay = d } }

// Lock takes the lock name for this session and returns it with its
// fencing token. By default it fails at once if another session holds the
// lock (see IsLockHeld; the message names the holder); with Wait it queues.
// Taking a lock the session already holds returns the same Lock.
func (s *Session) Lock(ctx context.Context, name string, opts ...LockOption) (*Lock, error) {
	var o lockOptions
	for _, opt := range opts {
		opt(&o)
	}
	req := &pb.LockAcquireRequest{Pid: s.pid, Name: name}
	// Negative values go out as is, for the agent to reject naming the
	// field.
	if o.wait != 0 {
		req.Wait = durationpb.New(o.wait)
	}
	if o.lockDelay != 0 {
		req.LockDelay = durationpb.New(o.lockDelay)
	}
	resp, err := s.locks.Acquire(ctx, req)
	if err != nil {
		return nil, err
	}
	return s.register(name, resp.GetToken())
}

// Lock is a lock held by a Session.
type Lock struct {
	s     *Session
	name  string
	token uint64
	lost  chan struct{}
	once  sync.Once
}

// Name is the lock's name.
func (l *Lock) Name() string { return l.name }

// Token is the fencing token of this grant: it strictly increases with
// every grant of the lock, so a resource can refuse a request carrying an
// older token than one it has seen.
func (l *Lock) Token() uint64 { return l.token }

// Lost is closed when the lock can no longer be relied on: the agent
// reported it lost (released by the cluster) or at risk (the agent lost
// contact with the Raft core), or the session ended. Stop the work the lock
// protects when it closes. It is not closed by Unlock.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

func (l *Lock) markLost() { l.once.Do(func() { close(l.lost) }) }

// Unlock releases the lock. A session that no longer holds it gets a
// FailedPrecondition error (see IsNotHolder).
func (l *Lock) Unlock(ctx context.Context) error {
	if _, err := l.s.locks.Release(ctx, &pb.LockReleaseRequest{Pid: l.s.pid, Name: l.name}); err != nil {
		return err
	}
	l.s.unregister(l)
	return nil
}

// Locks reads the replicated lock table.
type Locks struct {
	c pb.LockClient
}

// Inspect reads one lock. A lock that is free with nobody waiting is a
// NotFound error (see IsNotFound).
func (l *Locks) Inspect(ctx context.Context, name string, opts ...ReadOption) (LockInfo, error) {
	var o readOptions
	for _, opt := range opts {
		opt.applyRead(&o)
	}
	resp, err := l.c.Inspect(ctx, &pb.LockInspectRequest{Name: name, Mode: o.mode.pb()})
	if err != nil {
		return LockInfo{}, err
	}
	return lockInfoFromPB(resp.GetLock()), nil
}

// List returns the locks whose names start with prefix, by name.
func (l *Locks) List(ctx context.Context, prefix string, opts ...ReadOption) ([]LockInfo, error) {
	var o readOptions
	for _, opt := range opts {
		opt.applyRead(&o)
	}
	resp, err := l.c.List(ctx, &pb.LockListRequest{Prefix: prefix, Mode: o.mode.pb()})
	if err != nil {
		return nil, err
	}
	out := make([]LockInfo, 0, len(resp.GetLocks()))
	for _, info := range resp.GetLocks() {
		out = append(out, lockInfoFromPB(info))
	}
	return out, nil
}

// Release releases name on behalf of the session pid, which must be open
// on the agent this Client talks to: an operator's tool for a stuck
// holder. Applications use Lock.Unlock.
func (l *Locks) Release(ctx context.Context, pid, name string) error {
	_, err := l.c.Release(ctx, &pb.LockReleaseRequest{Pid: pid, Name: name})
	return err
}
