package session

import (
	"context"
	"time"
)

// Proposer is the Raft core as the Service uses it; cluster implements it
// over raftcore.Core. Its methods are called concurrently from request
// goroutines (Close) and the Service's loops.
type Proposer interface {
	// Apply proposes cmd (a whole command, envelope header included),
	// forwarding it to the leader from any other node, and returns the
	// result once the entry is applied. It blocks until then or until ctx
	// ends; a failure to commit is an error (wrapping wire.ErrUnavailable
	// when there is no quorum). The result is the caller's.
	Apply(ctx context.Context, cmd []byte) ([]byte, error)
	// ApplyTimeout bounds one proposal the Service makes on its own.
	// Must not block.
	ApplyTimeout() time.Duration
	// IsLeader reports whether this node leads the Raft core now. Must
	// not block.
	IsLeader() bool
}

// Owners is what the Service needs to know of the tables that hold things
// owned by sessions (locks, names); cluster implements it over their
// services.
type Owners interface {
	// Nodes returns the nodes whose sessions own something in this node's
	// replica of the tables, in any order. Called by the leader's duty
	// loop; must not block.
	Nodes() []string
	// PIDs returns the PIDs of node's sessions that own something (hold,
	// or wait for, an entry), read through the leader, in any order,
	// possibly repeated. It blocks up to ctx's end. An error that wraps
	// ErrCannotList means asking again would fail again.
	PIDs(ctx context.Context, node string) ([]string, error)
}

// Members is the gossip membership as the Service uses it; cluster
// implements it.
type Members interface {
	// Alive reports whether node is alive in gossip. Called by the
	// leader's duty loop; must not block.
	Alive(node string) bool
}

// Clock is the Service's time: session keepalives, the time written into
// release commands, and its loops' intervals. Safe for concurrent use.
type Clock interface {
	Now() time.Time
	// After delivers the time once, d from now.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
