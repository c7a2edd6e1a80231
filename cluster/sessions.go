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

	"github.com/conclave-dev/conclave/locks"
)

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

	mu      sync.Mutex
	held    map[string]uint64        // lock name -> token, as this node last learned it
	waiters map[string]chan waitDone // lock name -> the pending acquire's wake-up
}

// waitDone ends a queued acquire: granted with a token, or expired. index
// is the entry that did it.
type waitDone struct {
	token   uint64
	expired bool
	index   uint64
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
func (s *session) Held() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.held))
	for k, v := range s.held {
		out[k] = v
	}
	return out
}

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
		held: map[string]uint64{}, waiters: map[string]chan waitDone{},
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

func (s *session) addWaiter(name string) chan waitDone {
	ch := make(chan waitDone, 1)
	s.mu.Lock()
	s.waiters[name] = ch
	s.mu.Unlock()
	return ch
}

func (s *session) removeWaiter(name string, ch chan waitDone) {
	s.mu.Lock()
	if s.waiters[name] == ch {
		delete(s.waiters, name)
	}
	s.mu.Unlock()
}

func (s *session) setHeld(name string, token uint64) {
	s.mu.Lock()
	s.held[name] = token
	s.mu.Unlock()
}

func (s *session) dropHeld(name string) {
	s.mu.Lock()
	delete(s.held, name)
	s.mu.Unlock()
}

// dropHeldToken forgets the grant of name with token, if that is still the
// grant this node knows of, and reports whether it did.
func (s *session) dropHeldToken(name string, token uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.held[name]; !ok || t != token {
		return false
	}
	delete(s.held, name)
	return true
}

// deliver routes the FSM's lock events to this node's sessions. Called
// after every applied batch, on the FSM goroutine: it never blocks.
func (t *sessionTable) deliver(events []lockEvent) {
	for _, ev := range events {
		if locks.NodeOf(ev.PID) != t.node {
			continue
		}
		s, ok := t.get(ev.PID)
		if !ok {
			continue
		}
		s.mu.Lock()
		wake := s.waiters[ev.Name]
		known := false // the acquirer already returned this grant
		switch ev.Kind {
		case locks.Granted:
			prior, had := s.held[ev.Name]
			known = had && prior == ev.Token
			s.held[ev.Name] = ev.Token
		case locks.Released, locks.AutoReleased:
			_, had := s.held[ev.Name]
			delete(s.held, ev.Name)
			if ev.Kind == locks.AutoReleased && had {
				defer s.emit(SessionEvent{Kind: EventLockLost, Lock: ev.Name, Token: ev.Token,
					Detail: "released by the cluster (session or node declared gone)"})
			}
		}
		s.mu.Unlock()
		switch ev.Kind {
		case locks.Granted:
			if wake != nil {
				wakeLatest(wake, waitDone{token: ev.Token, index: ev.Index})
			} else if !known {
				s.emit(SessionEvent{Kind: EventLockGranted, Lock: ev.Name, Token: ev.Token})
			}
		case locks.WaitExpired, locks.WaitCancelled:
			if wake != nil {
				wakeLatest(wake, waitDone{expired: true, index: ev.Index})
			}
		}
	}
}

// wakeLatest puts w in the one-slot channel, replacing an unread earlier
// event (which the waiter would ignore as older than its acquire). Only the
// FSM goroutine sends, so the send after the drain cannot block.
func wakeLatest(ch chan waitDone, w waitDone) {
	select {
	case <-ch:
	default:
	}
	ch <- w
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

// emitTo delivers ev to the session pid if it is open on this node.
func (n *Node) emitTo(pid string, ev SessionEvent) {
	if s, ok := n.sessions.get(pid); ok {
		s.emit(ev)
	}
}
