package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/locks"
)

// SessionEventKind says what happened to a session or one of its locks.
type SessionEventKind string

const (
	// EventLockGranted: a lock the session waited for was granted.
	EventLockGranted = SessionEventKind(locks.NoticeGranted)
	// EventLockAtRisk: this node has lost contact with the Raft core for
	// longer than the at-risk threshold; locks held may be released by the
	// leader if the node is declared gone.
	EventLockAtRisk = SessionEventKind(locks.NoticeAtRisk)
	// EventLockSafe: contact with the Raft core is back after an at-risk event.
	EventLockSafe = SessionEventKind(locks.NoticeSafe)
	// EventLockLost: the session no longer holds a lock it held (released
	// by a node-gone or session-release command).
	EventLockLost = SessionEventKind(locks.NoticeLost)
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

// Session defaults.
const (
	// DefaultSessionTTL is how long a session lives without a keepalive.
	DefaultSessionTTL = 10 * time.Second
	// MinSessionTTL and MaxSessionTTL bound what a client may ask for.
	MinSessionTTL = time.Second
	MaxSessionTTL = 24 * time.Hour
	// sessionEventBuffer events wait for the application; beyond that the
	// oldest are dropped and counted (a slow reader must not block the FSM).
	sessionEventBuffer = 64
)

// session is one open session (exported as Session). Its methods are safe
// for concurrent use.
type session struct {
	pid    string
	ttl    time.Duration
	table  *sessionTable
	events chan SessionEvent
	done   chan struct{}

	lastSeen atomic.Int64 // unix nanos of the last keepalive
	endOnce  sync.Once
	dropped  atomic.Uint64
}

// PID is the session's process ID, "<node>/<session-id>".
func (s *session) PID() string { return s.pid }

// TTL is the session's keepalive TTL.
func (s *session) TTL() time.Duration { return s.ttl }

// Events delivers what happens to the session's locks. Watch Done for the
// session's end (Events is never closed, so a late event cannot panic).
func (s *session) Events() <-chan SessionEvent { return s.events }

// Done is closed when the session has ended.
func (s *session) Done() <-chan struct{} { return s.done }

// Keepalive restarts the session's TTL.
func (s *session) Keepalive() { s.lastSeen.Store(s.table.now().UnixNano()) }

// Close ends the session: everything it holds is released by one Raft
// entry. Close returns once that entry is committed, or ctx ends (the node
// then keeps retrying in the background).
func (s *session) Close(ctx context.Context) error {
	return s.table.end(ctx, s, "closed")
}

// Held returns the locks this node knows the session holds, with tokens.
func (s *session) Held() map[string]uint64 { return s.table.held(s.pid) }

// emit queues an event without blocking; when the buffer is full the oldest
// event is dropped and counted.
func (s *session) emit(ev SessionEvent) {
	select {
	case <-s.done:
		return
	default:
	}
	for {
		select {
		case s.events <- ev:
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

// sessionTable holds the node's open sessions. A reaper ends sessions
// whose TTL lapsed.
type sessionTable struct {
	node    string
	log     zerolog.Logger
	now     func() time.Time
	release func(ctx context.Context, pid string) error // proposes release-session
	ready   chan struct{}                               // closed once the previous incarnation's sessions are released
	// held reports the locks a session holds (the lock service's
	// bookkeeping); set before the node serves.
	held func(pid string) map[string]uint64

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	// pending holds ended sessions whose release entry is not committed
	// yet (no quorum at the time); the duty loop retries them.
	pending map[string]bool
	// onEnd are called with the PID of every session that ends on this
	// node (closed, TTL lapsed, node stopping), once, after it is removed:
	// the planes the node owns (local and eventual names, group
	// memberships) drop what the session held there. Set before the node
	// serves (onSessionEnd); they must not block.
	onEnd []func(pid string)
}

// onSessionEnd adds a hook run for every session that ends; only before
// the node serves.
func (t *sessionTable) onSessionEnd(f func(pid string)) { t.onEnd = append(t.onEnd, f) }

func (t *sessionTable) ended(pid string) {
	for _, f := range t.onEnd {
		f(pid)
	}
}

func newSessionTable(node string, log zerolog.Logger, release func(context.Context, string) error) *sessionTable {
	return &sessionTable{
		node: node, log: log.With().Str("component", "sessions").Logger(), now: time.Now,
		release: release, ready: make(chan struct{}), sessions: map[string]*session{},
		held:    func(string) map[string]uint64 { return nil },
		pending: map[string]bool{},
	}
}

func (t *sessionTable) open(ctx context.Context, ttl time.Duration) (*session, error) {
	if ttl == 0 {
		ttl = DefaultSessionTTL
	}
	if ttl < MinSessionTTL || ttl > MaxSessionTTL {
		return nil, fmt.Errorf("%w: ttl: must be between %s and %s, got %s", ErrInvalidArgument, MinSessionTTL, MaxSessionTTL, ttl)
	}
	select {
	case <-t.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: node is still releasing its previous sessions: %w", ErrUnavailable, ctx.Err())
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("cluster: session id: %w", err)
	}
	s := &session{
		pid: t.node + "/" + hex.EncodeToString(id), ttl: ttl, table: t,
		events: make(chan SessionEvent, sessionEventBuffer), done: make(chan struct{}),
	}
	s.Keepalive()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrShutdown
	}
	t.sessions[s.pid] = s
	t.log.Debug().Str("pid", s.pid).Dur("ttl", ttl).Msg("session opened")
	return s, nil
}

func (t *sessionTable) get(pid string) (*session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.sessions[pid]
	return s, ok
}

// end removes the session and proposes its release. If the proposal
// fails (no quorum), the release stays pending and the duty loop retries it
// until it commits: a session's locks are never left behind.
func (t *sessionTable) end(ctx context.Context, s *session, why string) error {
	if !t.markEnded(s, why) {
		return nil
	}
	if err := t.release(ctx, s.pid); err != nil {
		t.mu.Lock()
		t.pending[s.pid] = true
		t.mu.Unlock()
		return fmt.Errorf("%w (the node keeps retrying the release)", err)
	}
	return nil
}

// markEnded ends the session locally, once; it reports whether this call did.
func (t *sessionTable) markEnded(s *session, why string) bool {
	first := false
	s.endOnce.Do(func() {
		first = true
		t.mu.Lock()
		delete(t.sessions, s.pid)
		t.mu.Unlock()
		close(s.done)
		t.log.Debug().Str("pid", s.pid).Str("reason", why).Msg("session ended")
		t.ended(s.pid)
	})
	return first
}

// retryPending proposes pending releases, oldest first, until one fails.
func (t *sessionTable) retryPending(ctx context.Context, timeout time.Duration) {
	t.mu.Lock()
	pids := make([]string, 0, len(t.pending))
	for pid := range t.pending {
		pids = append(pids, pid)
	}
	t.mu.Unlock()
	sort.Strings(pids)
	for _, pid := range pids {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		err := t.release(rctx, pid)
		cancel()
		if err != nil {
			return
		}
		t.mu.Lock()
		delete(t.pending, pid)
		t.mu.Unlock()
	}
}

// all returns the open sessions.
func (t *sessionTable) all() []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*session, 0, len(t.sessions))
	for _, s := range t.sessions {
		out = append(out, s)
	}
	return out
}

// reap ends the sessions whose TTL lapsed; run by the node's duty loop,
// which then proposes their release (retryPending).
func (t *sessionTable) reap() {
	now := t.now().UnixNano()
	for _, s := range t.all() {
		if now-s.lastSeen.Load() > int64(s.ttl) && t.markEnded(s, "ttl lapsed") {
			t.mu.Lock()
			t.pending[s.pid] = true
			t.mu.Unlock()
		}
	}
}

// closeAll ends every session locally (no Raft entry: the caller releases
// the whole node in one) and refuses new ones.
func (t *sessionTable) closeAll() {
	t.mu.Lock()
	t.closed = true
	ss := make([]*session, 0, len(t.sessions))
	for _, s := range t.sessions {
		ss = append(ss, s)
	}
	t.sessions = map[string]*session{}
	t.mu.Unlock()
	for _, s := range ss {
		s.endOnce.Do(func() {
			close(s.done)
			t.ended(s.pid)
		})
	}
}

// releaseSession proposes the one entry that frees everything pid owned,
// in every table.
func (n *Node) releaseSession(ctx context.Context, pid string) error {
	return n.proposeRelease(ctx, releaseCommand(opReleaseSession, pid, time.Now()))
}

// releaseNode proposes the one entry that frees everything node's sessions
// owned, in every table.
func (n *Node) releaseNode(ctx context.Context, node string) error {
	return n.proposeRelease(ctx, releaseCommand(opReleaseNode, node, time.Now()))
}

func (n *Node) proposeRelease(ctx context.Context, cmd []byte) error {
	resp, err := proposer{n}.Apply(ctx, cmd)
	if err != nil {
		return err
	}
	if _, refused := wire.ParseResult(resp); refused != nil {
		return refused
	}
	return nil
}

// emitTo delivers ev to the session pid if it is open on this node.
func (n *Node) emitTo(pid string, ev SessionEvent) {
	if s, ok := n.sessions.get(pid); ok {
		s.emit(ev)
	}
}
