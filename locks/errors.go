package locks

import "errors"

// Sentinel errors. Callers test them with errors.Is; the returned errors wrap
// them with the detail (the lock, the holder, the field). The api package maps
// them to gRPC codes: ErrInvalid → InvalidArgument, ErrHeld and ErrLockDelay →
// FailedPrecondition (or AlreadyExists), ErrNotHolder → FailedPrecondition,
// ErrQueueFull → ResourceExhausted.
var (
	// ErrInvalid: a bad argument (name, pid, node, wait, lock_delay, index).
	// The message names the field; the table is unchanged.
	ErrInvalid = errors.New("locks: invalid argument")
	// ErrHeld: a fail-fast acquire of a lock another PID holds.
	ErrHeld = errors.New("locks: held")
	// ErrLockDelay: a fail-fast acquire of a lock that was auto-released and is
	// unavailable until its lock_delay ends.
	ErrLockDelay = errors.New("locks: in lock delay")
	// ErrNotHolder: a release by a PID that neither holds nor waits for the lock.
	ErrNotHolder = errors.New("locks: not holder")
	// ErrQueueFull: the lock already has MaxWaiters waiters.
	ErrQueueFull = errors.New("locks: queue full")
	// ErrCorrupt: snapshot bytes that do not decode to a valid table.
	ErrCorrupt = errors.New("locks: corrupt snapshot")
)
