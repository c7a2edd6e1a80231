package cluster

import (
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
	// SemInfo is a semaphore as the FSM holds it.
	SemInfo = locks.SemInfo
	// Election is an election's leader, value and candidates.
	Election = locks.Election
)
