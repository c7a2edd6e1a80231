package cluster

import (
	"context"

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
