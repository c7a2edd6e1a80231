package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Lock and session errors. api maps them to gRPC codes (DESIGN §13).
var (
	// ErrLockHeld: the lock is held by another session (fail-fast acquire);
	// the message names the holder. gRPC AlreadyExists.
	ErrLockHeld = errors.New("cluster: lock held")
	// ErrNotHolder: release by a session that does not hold the lock.
	// gRPC FailedPrecondition.
	ErrNotHolder = errors.New("cluster: not the holder")
	// ErrWaitExpired: an acquire with wait was not granted in time.
	// gRPC DeadlineExceeded.
	ErrWaitExpired = errors.New("cluster: wait expired")
	// ErrNoSession: the PID names no open session on this node.
	// gRPC FailedPrecondition.
	ErrNoSession = wire.ErrNoSession
)

// SessionEventKind says what happened to a session or one of its locks.
type SessionEventKind string

const (
	// EventLockGranted: a lock the session waited for was granted.
	EventLockGranted SessionEventKind = "lock_granted"
	// EventLockAtRisk: this node has lost contact with the Raft core for
	// longer than the at-risk threshold; locks held may be released by the
	// leader if the node is declared gone.
	EventLockAtRisk SessionEventKind = "lock_at_risk"
	// EventLockSafe: contact with the Raft core is back after an at-risk event.
	EventLockSafe SessionEventKind = "lock_safe"
	// EventLockLost: the session no longer holds a lock it held (released
	// by a node-gone or session-release command).
	EventLockLost SessionEventKind = "lock_lost"
	// EventNameRevoked: an eventual name the session registered lost a
	// conflict; Name is the name and Owner the winning PID.
	EventNameRevoked SessionEventKind = "name_revoked"
	// EventGroupMessage: a broadcast to a group the session joined.
	EventGroupMessage SessionEventKind = "group_message"
)

// SessionEvent is delivered on a session's event channel.
type SessionEvent struct {
	Kind   SessionEventKind
	Lock   string
	Token  uint64
	Detail string
	// Name events.
	Name  string
	Owner string
	// Group messages.
	Scope   string
	Group   string
	From    string
	Payload []byte
}

// LockWaiter is one queued acquirer.
type LockWaiter struct {
	PID      string
	Deadline time.Time
}

// LockInfo is a lock as the FSM holds it.
type LockInfo struct {
	Name       string
	Holder     string // PID; "" while in lock delay
	Token      uint64 // fencing token of the current grant
	GrantedAt  time.Time
	LockDelay  time.Duration
	DelayUntil time.Time // non-zero while an auto-released lock is held back
	Waiters    []LockWaiter
}

// AcquireOptions tune one acquire.
type AcquireOptions struct {
	// Wait > 0 joins the FIFO queue and waits up to Wait for the grant;
	// 0 fails fast with ErrLockHeld.
	Wait time.Duration
	// LockDelay > 0 keeps the lock unavailable this long after an
	// auto-release (session end, node gone). At most 60 s.
	LockDelay time.Duration
}

// Session is an application's presence on this node: the holder of locks
// (and later names and group memberships). It lives until Close, until its
// keepalive TTL lapses, or until the node stops.
type Session = session

// OpenSession opens a session on this node with the keepalive ttl
// (0 = DefaultSessionTTL). It costs no Raft traffic.
func (n *Node) OpenSession(ctx context.Context, ttl time.Duration) (*Session, error) {
	return n.sessions.open(ctx, ttl)
}

// LookupSession returns the open session with this PID on this node.
func (n *Node) LookupSession(pid string) (*Session, bool) { return n.sessions.get(pid) }
