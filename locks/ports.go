package locks

import (
	"context"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Proposer is the Raft core as the Service uses it; cluster implements it
// over raftcore.Core. Every method is called concurrently from request
// goroutines and the node's duty loop.
type Proposer interface {
	// Apply proposes cmd (a whole command, envelope header included),
	// forwarding it to the leader from any other node, and returns the
	// table's result once the entry is applied. It blocks until then or
	// until ctx ends; a failure to commit is an error that wraps
	// wire.ErrUnavailable (no quorum) or the node's own sentinels. The
	// result is the caller's.
	Apply(ctx context.Context, cmd []byte) ([]byte, error)
	// Query answers q (a whole query) from the replica mode asks for
	// (the leader's, unless stale); it blocks for a leader round unless
	// mode is wire.ReadStale. The result is the caller's.
	Query(ctx context.Context, mode wire.ReadMode, q []byte) ([]byte, error)
	// ApplyTimeout bounds one proposal: the Service gives a proposal it
	// makes on its own (cancelling a wait) this long. Must not block.
	ApplyTimeout() time.Duration
	// Status is this node's view of the Raft core; must not block.
	Status() CoreStatus
	// Ping asks the leader for any answer: how a node that is not a Raft
	// member (it has no heartbeat) learns it is in contact. It blocks up
	// to ctx's end.
	Ping(ctx context.Context) error
}

// CoreStatus is what the Service reads of this node's place in the Raft
// core.
type CoreStatus struct {
	// Leader: this node leads.
	Leader bool
	// Member: this node is in the Raft configuration and applies the log
	// (so it learns of grants through Deliver); a client node is not.
	Member bool
	// LeaderKnown: this node knows a leader.
	LeaderKnown bool
	// LastContact is how long ago this node last heard from the leader.
	LastContact time.Duration
}

// Sessions is this node's session table as the Service uses it; cluster
// implements it. Both methods are called concurrently, from request
// goroutines, the FSM goroutine (in Deliver) and the duty loop, and must
// not block.
type Sessions interface {
	// Lookup returns the Done channel (closed when the session ends) of
	// the session pid if it is open on this node.
	Lookup(pid string) (done <-chan struct{}, ok bool)
	// Emit queues n for the session pid, if it is open; it never blocks
	// (a full queue drops its oldest event).
	Emit(pid string, n Notice)
}

// NoticeKind says what happened to one of a session's locks. Its values
// are the session event kinds of the API.
type NoticeKind string

// What a session is told about its locks.
const (
	// NoticeGranted: a lock the session waited for was granted when no
	// acquire of it was waiting (the acquirer had given up).
	NoticeGranted NoticeKind = "lock_granted"
	// NoticeAtRisk: this node has lost contact with the Raft core for
	// longer than Config.AtRiskAfter; the lock may be released by the
	// leader if the node is declared gone.
	NoticeAtRisk NoticeKind = "lock_at_risk"
	// NoticeSafe: contact with the Raft core is back after an at-risk
	// notice, and the leader confirms the grant.
	NoticeSafe NoticeKind = "lock_safe"
	// NoticeLost: the session no longer holds a lock it held (released by
	// a node-gone or session-release entry).
	NoticeLost NoticeKind = "lock_lost"
)

// Notice is one thing a session is told about one of its locks.
type Notice struct {
	Kind   NoticeKind
	Lock   string
	Token  uint64
	Detail string
}

// Clock is the Service's time: the command times it proposes, its waits
// and its contact checks. Safe for concurrent use.
type Clock interface {
	Now() time.Time
	// NewTimer starts a timer that fires once, d from now.
	NewTimer(d time.Duration) Timer
}

// Timer is a Clock's one-shot timer.
type Timer interface {
	// C delivers the time when the timer fires.
	C() <-chan time.Time
	// Stop stops the timer; it reports whether it was still running.
	Stop() bool
	// Reset starts the timer again, d from now; only after it fired and
	// its value was received, or after Stop.
	Reset(d time.Duration)
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time   { return t.t.C }
func (t systemTimer) Stop() bool            { return t.t.Stop() }
func (t systemTimer) Reset(d time.Duration) { t.t.Reset(d) }
