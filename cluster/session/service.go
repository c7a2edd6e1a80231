package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Config tunes a Service.
type Config struct {
	// Node is this node's name, the first part of its sessions' PIDs.
	Node string
	// Fresh: the node runs on a brand-new data dir, so no previous
	// incarnation of it held anything and sessions open at once; Run
	// releases, session by session, what an earlier node of the same name
	// left (a wiped data dir). Otherwise sessions open only once Run has
	// released the previous incarnation's sessions in one release-node
	// entry.
	Fresh bool
	// Interval of the duty loop (TTL reaping, node-gone checks) and of
	// the retry of pending releases. The start-up release retries every
	// 4 Intervals.
	Interval time.Duration
	// NodeGoneGrace: a node dead in gossip this long, whose sessions own
	// something, is declared gone and the leader releases everything its
	// sessions held. The lock service's at-risk threshold is no longer
	// than this, so its warning comes first.
	NodeGoneGrace time.Duration
}

// DefaultConfig returns production timings for node.
func DefaultConfig(node string) Config {
	return Config{Node: node, Interval: 200 * time.Millisecond, NodeGoneGrace: 2 * time.Second}
}

// DefaultLocalConfig returns fast timings for in-process test clusters.
func DefaultLocalConfig(node string) Config {
	c := DefaultConfig(node)
	c.Interval, c.NodeGoneGrace = 50*time.Millisecond, 500*time.Millisecond
	return c
}

// Validate checks the config without changing it.
func (c Config) Validate() error {
	if err := wire.ValidateNode("node", c.Node); err != nil {
		return err
	}
	if c.Interval <= 0 {
		return wire.Invalidf("interval", "must be positive, got %s", c.Interval)
	}
	if c.NodeGoneGrace <= 0 {
		return wire.Invalidf("node_gone_grace", "must be positive, got %s", c.NodeGoneGrace)
	}
	return nil
}

// Deps are the Service's collaborators, all required.
type Deps struct {
	Proposer Proposer
	Owners   Owners
	Members  Members
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the service's clock (default: the wall clock).
func WithClock(c Clock) Option { return func(s *Service) { s.clock = c } }

// WithLogger sets the parent logger; the service adds component=sessions.
func WithLogger(l zerolog.Logger) Option { return func(s *Service) { s.log = l } }

// WithHeld sets what Session.Held reports: the locks (name to token) this
// node knows the session pid holds. Called concurrently; must not block.
func WithHeld(f func(pid string) map[string]uint64) Option {
	return func(s *Service) { s.held = f }
}

// Service is this node's session table: it opens sessions, ends them
// (closed, TTL lapsed, node stopping) with one release entry each, and runs
// the session duties in Run. Its methods are safe for concurrent use.
type Service struct {
	cfg     Config
	core    Proposer
	owners  Owners
	members Members
	clock   Clock
	log     zerolog.Logger
	held    func(pid string) map[string]uint64
	ready   chan struct{} // closed once the previous incarnation's sessions are released

	mu       sync.Mutex
	sessions map[string]*Session
	closed   bool
	// pending holds ended sessions whose release entry is not committed
	// yet (no quorum at the time); the release loop retries them.
	pending map[string]bool
	// onEnd are called with the PID of every session that ends on this
	// node (closed, TTL lapsed, node stopping), once, after it is removed:
	// the planes the node owns (local and eventual names, group
	// memberships, the lock service's bookkeeping) drop what the session
	// held there. Set before the node serves (OnEnd); they must not block.
	onEnd []func(pid string)
}

// New returns the session table of node cfg.Node. With cfg.Fresh sessions
// open at once; otherwise once Run has released the previous incarnation's.
func New(cfg Config, deps Deps, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("session: config: %w", err)
	}
	if deps.Proposer == nil || deps.Owners == nil || deps.Members == nil {
		return nil, errors.New("session: New needs a proposer, an owners view and a members view")
	}
	s := &Service{
		cfg: cfg, core: deps.Proposer, owners: deps.Owners, members: deps.Members,
		clock: SystemClock{}, log: zerolog.Nop(), held: func(string) map[string]uint64 { return nil },
		ready: make(chan struct{}), sessions: map[string]*Session{}, pending: map[string]bool{},
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With().Str("component", "sessions").Logger()
	if cfg.Fresh {
		// A brand-new data dir: no previous incarnation held anything, so
		// sessions open at once (the release of a previous incarnation
		// would wait for a leader).
		close(s.ready)
		s.log.Debug().Msg("new data dir: no previous incarnation; sessions open")
	}
	return s, nil
}

// OnEnd adds a hook run for every session that ends; only before the node
// serves. It must not block.
func (s *Service) OnEnd(f func(pid string)) { s.onEnd = append(s.onEnd, f) }

// Open opens a session with the keepalive ttl (0 = DefaultTTL). It costs
// no Raft traffic, but waits (up to ctx's end) until the previous
// incarnation's sessions are released.
func (s *Service) Open(ctx context.Context, ttl time.Duration) (*Session, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return nil, wire.Invalidf("ttl", "must be between %s and %s, got %s", MinTTL, MaxTTL, ttl)
	}
	if err := s.awaitReady(ctx); err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("session: id: %w", err)
	}
	ss := &Session{
		pid: s.cfg.Node + "/" + hex.EncodeToString(id), ttl: ttl, svc: s,
		events: make(chan *Event, eventBuffer), done: make(chan struct{}),
	}
	ss.Keepalive()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.sessions[ss.pid] = ss
	s.log.Debug().Str("pid", ss.pid).Dur("ttl", ttl).Msg("session opened")
	return ss, nil
}

// awaitReady waits until sessions may open; a node that is ready never
// refuses, even a caller whose ctx has ended.
func (s *Service) awaitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	default:
	}
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: node is still releasing its previous sessions: %w", wire.ErrUnavailable, ctx.Err())
	}
}

// Lookup returns the open session with this PID on this node.
func (s *Service) Lookup(pid string) (*Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[pid]
	return ss, ok
}

// Len is the number of sessions open on this node.
func (s *Service) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Emit queues ev for the session pid if it is open on this node, without
// blocking (a full queue drops its oldest event); it reports whether the
// session is open.
func (s *Service) Emit(pid string, ev Event) bool {
	ss, ok := s.Lookup(pid)
	if ok {
		ss.emit(ev)
	}
	return ok
}

// end removes the session and proposes its release. If the proposal
// fails (no quorum), the release stays pending and the release loop
// retries it until it commits: a session's entries are never left behind.
func (s *Service) end(ctx context.Context, ss *Session, why string) error {
	if !s.markEnded(ss, why) {
		return nil
	}
	if err := s.releaseSession(ctx, ss.pid); err != nil {
		s.mu.Lock()
		s.pending[ss.pid] = true
		s.mu.Unlock()
		return fmt.Errorf("%w (the node keeps retrying the release)", err)
	}
	return nil
}

// markEnded ends the session locally, once; it reports whether this call did.
func (s *Service) markEnded(ss *Session, why string) bool {
	first := false
	ss.endOnce.Do(func() {
		first = true
		s.mu.Lock()
		delete(s.sessions, ss.pid)
		s.mu.Unlock()
		close(ss.done)
		s.log.Debug().Str("pid", ss.pid).Str("reason", why).Msg("session ended")
		s.ended(ss.pid)
	})
	return first
}

func (s *Service) ended(pid string) {
	for _, f := range s.onEnd {
		f(pid)
	}
}

// all returns the open sessions.
func (s *Service) all() []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, ss)
	}
	return out
}

// reap ends the sessions whose TTL lapsed; run by the duty loop. Their
// releases are left pending for the release loop.
func (s *Service) reap() {
	now := s.clock.Now().UnixNano()
	for _, ss := range s.all() {
		if now-ss.lastSeen.Load() > int64(ss.ttl) && s.markEnded(ss, "ttl lapsed") {
			s.mu.Lock()
			s.pending[ss.pid] = true
			s.mu.Unlock()
		}
	}
}

// retryPending proposes pending releases, in PID order, until one fails.
func (s *Service) retryPending(ctx context.Context) {
	s.mu.Lock()
	pids := make([]string, 0, len(s.pending))
	for pid := range s.pending {
		pids = append(pids, pid)
	}
	s.mu.Unlock()
	sort.Strings(pids)
	for _, pid := range pids {
		rctx, cancel := context.WithTimeout(ctx, s.core.ApplyTimeout())
		err := s.releaseSession(rctx, pid)
		cancel()
		if err != nil {
			return
		}
		s.mu.Lock()
		delete(s.pending, pid)
		s.mu.Unlock()
	}
}

// CloseAll ends every session locally (no Raft entry: the caller releases
// the whole node in one, ReleaseNode) and refuses new ones.
func (s *Service) CloseAll() {
	s.mu.Lock()
	s.closed = true
	ss := make([]*Session, 0, len(s.sessions))
	for _, x := range s.sessions {
		ss = append(ss, x)
	}
	s.sessions = map[string]*Session{}
	s.mu.Unlock()
	for _, x := range ss {
		x.endOnce.Do(func() {
			close(x.done)
			s.ended(x.pid)
		})
	}
}

// ReleaseNode proposes the one entry that frees everything node's sessions
// owned, in every table, and waits for it (up to ctx's end).
func (s *Service) ReleaseNode(ctx context.Context, node string) error {
	return s.propose(ctx, ReleaseNode{Node: node, Now: s.clock.Now()})
}

// releaseSession proposes the one entry that frees everything pid owned,
// in every table.
func (s *Service) releaseSession(ctx context.Context, pid string) error {
	return s.propose(ctx, ReleaseSession{PID: pid, Now: s.clock.Now()})
}

func (s *Service) propose(ctx context.Context, cmd Release) error {
	resp, err := s.core.Apply(ctx, cmd.Marshal())
	if err != nil {
		return err
	}
	if _, refused := wire.ParseResult(resp); refused != nil {
		return refused
	}
	return nil
}
