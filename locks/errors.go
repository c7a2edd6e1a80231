package locks

import (
	"errors"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Sentinel errors. Callers test them with errors.Is; the returned errors wrap
// them with the detail (the lock, the holder, the field). The api package maps
// them to gRPC codes: ErrInvalid → InvalidArgument, ErrHeld →
// AlreadyExists, ErrNotHolder → FailedPrecondition, ErrWaitExpired →
// DeadlineExceeded, ErrQueueFull (which the service reports as
// wire.ErrUnavailable) → Unavailable.
var (
	// ErrInvalid: a bad argument (name, pid, node, wait, lock_delay, index).
	// The message names the field; the table is unchanged. It is the
	// invalid-argument sentinel every domain shares.
	ErrInvalid = wire.ErrInvalid
	// ErrHeld: a fail-fast acquire of a lock another PID holds (or, past
	// Raft, one in lock delay); the message names the holder.
	ErrHeld = errors.New("locks: held")
	// ErrLockDelay: a fail-fast acquire of a lock that was auto-released and is
	// unavailable until its lock_delay ends. It crosses Raft as ErrHeld's code.
	ErrLockDelay = errors.New("locks: in lock delay")
	// ErrNotHolder: a release by a PID that neither holds nor waits for the lock.
	ErrNotHolder = errors.New("locks: not holder")
	// ErrQueueFull: the lock already has MaxWaiters waiters.
	ErrQueueFull = errors.New("locks: queue full")
	// ErrWaitExpired: an acquire with a wait was not granted in time.
	ErrWaitExpired = errors.New("locks: wait expired")
	// ErrLimitMismatch: a semaphore acquire whose limit differs from the
	// semaphore's current one; the message names the current limit. It
	// crosses Raft as ErrNotHolder's code (FailedPrecondition).
	ErrLimitMismatch = errors.New("locks: semaphore limit mismatch")
	// ErrCorrupt: snapshot bytes that do not decode to a valid table.
	ErrCorrupt = errors.New("locks: corrupt snapshot")
)

// The lock table's refusal codes (wire format: wire.Code numbers 4-6 are
// the lock table's, and never change meaning). A refusal's detail is the
// sentence without the sentinel's text; the proposing side turns the code
// back into the sentinel (refusalErr).
const (
	// CodeHeld: a fail-fast acquire of a held lock or one in lock delay.
	CodeHeld wire.Code = 4
	// CodeNotHolder: a release by a PID that neither holds nor waits.
	CodeNotHolder wire.Code = 5
	// CodeQueueFull: the lock's queue is full.
	CodeQueueFull wire.Code = 6
)
