package cluster

import (
	"context"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/locks"
)

// Lock errors and types are the locks package's; api maps the errors to
// gRPC codes (DESIGN §13).
var (
	// ErrLockHeld: the lock is held by another session (fail-fast acquire);
	// the message names the holder. gRPC AlreadyExists.
	ErrLockHeld = locks.ErrHeld
	// ErrNotHolder: release by a session that does not hold the lock.
	// gRPC FailedPrecondition.
	ErrNotHolder = locks.ErrNotHolder
	// ErrWaitExpired: an acquire with wait was not granted in time.
	// gRPC DeadlineExceeded.
	ErrWaitExpired = locks.ErrWaitExpired
	// ErrNoSession: the PID names no open session on this node.
	// gRPC FailedPrecondition.
	ErrNoSession = wire.ErrNoSession
)

type (
	// LockInfo is a lock as the FSM holds it.
	LockInfo = locks.Info
	// LockWaiter is one queued acquirer.
	LockWaiter = locks.WaiterInfo
	// AcquireOptions tune one acquire.
	AcquireOptions = locks.AcquireOptions
)

// LockAcquire acquires the lock name for the open session pid on this node
// and returns its fencing token. Fail-fast by default (ErrLockHeld naming the
// holder); with opts.Wait it queues (FIFO) and waits for the grant or
// ErrWaitExpired. Acquiring a lock the session already holds returns the
// same token.
func (n *Node) LockAcquire(ctx context.Context, pid, name string, opts AcquireOptions) (uint64, error) {
	return n.lockSvc.Acquire(ctx, pid, name, opts)
}

// LockRelease releases name if pid holds it (ErrNotHolder otherwise); a
// waiting pid gives up its place in the queue.
func (n *Node) LockRelease(ctx context.Context, pid, name string) error {
	return n.lockSvc.Release(ctx, pid, name)
}

// LockInspect returns one lock. ErrNotFound if it is free with no waiters.
func (n *Node) LockInspect(ctx context.Context, name string, mode ReadMode) (LockInfo, error) {
	return n.lockSvc.Inspect(ctx, name, mode)
}

// LockList returns the locks whose names have the prefix, by name.
func (n *Node) LockList(ctx context.Context, prefix string, mode ReadMode) ([]LockInfo, error) {
	return n.lockSvc.List(ctx, prefix, mode)
}

// lockCore adapts the Raft core to locks.Proposer. It reads n.core at
// each call: the service is built before the core (the lock table's
// events go to it from the core's first applied entry), and is called
// only once the core exists.
type lockCore struct{ n *Node }

func (c lockCore) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	return proposer{c.n.core}.Apply(ctx, cmd)
}

func (c lockCore) Query(ctx context.Context, mode wire.ReadMode, q []byte) ([]byte, error) {
	return proposer{c.n.core}.Query(ctx, mode, q)
}

func (c lockCore) ApplyTimeout() time.Duration { return c.n.core.ApplyTimeout() }

func (c lockCore) Status() locks.CoreStatus {
	st := c.n.core.Status()
	return locks.CoreStatus{Leader: st.State == "leader", Member: st.Member, LeaderKnown: st.LeaderID != "", LastContact: st.LastContact}
}

// Ping asks the leader for the servers: any answer is contact.
func (c lockCore) Ping(ctx context.Context) error {
	_, err := c.n.core.Servers(ctx)
	return err
}

// lockSessions adapts the session table to locks.Sessions.
type lockSessions struct{ t *sessionTable }

func (s lockSessions) Lookup(pid string) (<-chan struct{}, bool) {
	ss, ok := s.t.get(pid)
	if !ok {
		return nil, false
	}
	return ss.done, true
}

func (s lockSessions) Emit(pid string, n locks.Notice) {
	if ss, ok := s.t.get(pid); ok {
		ss.emit(SessionEvent{Kind: SessionEventKind(n.Kind), Lock: n.Lock, Token: n.Token, Detail: n.Detail})
	}
}
