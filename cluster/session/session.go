package session

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// EventKind says what happened to a session or to something it owns.
type EventKind string

// The events a session is told. The lock kinds have the values of the
// lock service's notices; cluster's adapters translate.
const (
	// EventLockGranted: a lock the session waited for was granted.
	EventLockGranted EventKind = "lock_granted"
	// EventLockAtRisk: this node has lost contact with the Raft core for
	// longer than the at-risk threshold; locks held may be released by the
	// leader if the node is declared gone.
	EventLockAtRisk EventKind = "lock_at_risk"
	// EventLockSafe: contact with the Raft core is back after an at-risk event.
	EventLockSafe EventKind = "lock_safe"
	// EventLockLost: the session no longer holds a lock it held (released
	// by a node-gone or session-release command).
	EventLockLost EventKind = "lock_lost"
	// EventNameRevoked: an eventual name the session registered lost a
	// conflict; Name is the name and Owner the winning PID.
	EventNameRevoked EventKind = "name_revoked"
	// EventGroupMessage: a broadcast to a group the session joined.
	EventGroupMessage EventKind = "group_message"
)

// Event is delivered on a session's event channel.
type Event struct {
	Kind   EventKind
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

// Session bounds.
const (
	// DefaultTTL is how long a session lives without a keepalive.
	DefaultTTL = 10 * time.Second
	// MinTTL and MaxTTL bound what a client may ask for.
	MinTTL = time.Second
	MaxTTL = 24 * time.Hour
	// eventBuffer events wait for the application; beyond that the
	// oldest are dropped and counted (a slow reader must not block the FSM).
	eventBuffer = 64
)

// Session is an application's presence on this node: the holder of locks,
// names and group memberships. It lives until Close, until its keepalive
// TTL lapses, or until the node stops. Its methods are safe for concurrent
// use.
type Session struct {
	pid    string
	ttl    time.Duration
	svc    *Service
	events chan *Event // pointers: an idle session's buffer is eventBuffer words, not eventBuffer events
	done   chan struct{}

	lastSeen atomic.Int64 // unix nanos of the last keepalive
	endOnce  sync.Once
	dropped  atomic.Uint64
}

// PID is the session's process ID, "<node>/<session-id>".
func (s *Session) PID() string { return s.pid }

// TTL is the session's keepalive TTL.
func (s *Session) TTL() time.Duration { return s.ttl }

// Events delivers what happens to the session's locks, names and groups.
// Watch Done for the session's end (Events is never closed, so a late
// event cannot panic).
func (s *Session) Events() <-chan *Event { return s.events }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Keepalive restarts the session's TTL.
func (s *Session) Keepalive() { s.lastSeen.Store(s.svc.clock.Now().UnixNano()) }

// Close ends the session: everything it holds is released by one Raft
// entry. Close returns once that entry is committed, or ctx ends (the node
// then keeps retrying in the background).
func (s *Session) Close(ctx context.Context) error {
	return s.svc.end(ctx, s, "closed")
}

// Held returns the locks this node knows the session holds, with tokens
// (what WithHeld reports).
func (s *Session) Held() map[string]uint64 { return s.svc.held(s.pid) }

// emit queues an event without blocking; when the buffer is full the oldest
// event is dropped and counted.
func (s *Session) emit(ev Event) {
	select {
	case <-s.done:
		return
	default:
	}
	for {
		select {
		case s.events <- &ev:
			return
		default:
		}
		select {
		case <-s.events:
			s.dropped.Add(1)
		default:
		}
	}
}
