package locks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Config tunes a Service.
type Config struct {
	// Node is this node's name, the first part of its sessions' PIDs.
	Node string
	// AtRiskAfter: without contact with the Raft core this long, sessions
	// holding locks are told their locks are at risk. Well below gossip's
	// failure detection plus the node-gone grace, so the warning comes
	// before the cluster releases anything.
	AtRiskAfter time.Duration
	// PollMember and PollClient back up grant delivery for a waiting
	// acquire on a Raft member (which applies the log and is told of its
	// grant) and on a client node (which applies none and learns of it
	// only by asking). A poll asks the leader, not a replica: a lagging
	// replica may still show an earlier grant to the same session that it
	// has since given up.
	PollMember time.Duration
	PollClient time.Duration
	// DutyInterval is how often Run checks contact and, on the leader,
	// whether a tick is due: the resolution of lock_at_risk and of waits
	// and lock delays running out.
	DutyInterval time.Duration
}

// DefaultConfig returns production timings for node.
func DefaultConfig(node string) Config {
	return Config{Node: node, AtRiskAfter: 2 * time.Second, PollMember: time.Second, PollClient: 100 * time.Millisecond,
		DutyInterval: 200 * time.Millisecond}
}

// DefaultLocalConfig returns fast timings for in-process test clusters.
func DefaultLocalConfig(node string) Config {
	c := DefaultConfig(node)
	c.AtRiskAfter, c.DutyInterval = 500*time.Millisecond, 50*time.Millisecond
	return c
}

// Validate checks the config without changing it.
func (c Config) Validate() error {
	if err := wire.ValidateNode("node", c.Node); err != nil {
		return err
	}
	for field, d := range map[string]time.Duration{"at_risk_after": c.AtRiskAfter, "poll_member": c.PollMember, "poll_client": c.PollClient, "duty_interval": c.DutyInterval} {
		if d <= 0 {
			return wire.Invalidf(field, "must be positive, got %s", d)
		}
	}
	return nil
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the service's clock (default: the wall clock).
func WithClock(c Clock) Option { return func(s *Service) { s.clock = c } }

// WithLogger sets the parent logger; the service adds component=locks.
func WithLogger(l zerolog.Logger) Option { return func(s *Service) { s.log = l } }

// AcquireOptions tune one acquire.
type AcquireOptions struct {
	// Wait > 0 joins the FIFO queue and waits up to Wait for the grant;
	// 0 fails fast with ErrHeld.
	Wait time.Duration
	// LockDelay > 0 keeps the lock unavailable this long after an
	// auto-release (session end, node gone). At most MaxLockDelay.
	LockDelay time.Duration
}

// Service is the lock service of one node: it proposes lock commands for
// the sessions open here, waits for queued grants, tells sessions what
// happens to their locks, and runs the lock duties (the leader's tick,
// every node's contact check). Its methods are safe for concurrent use.
type Service struct {
	cfg      Config
	table    *Replicated
	core     Proposer
	sessions Sessions
	clock    Clock
	log      zerolog.Logger

	mu sync.Mutex
	// bySession holds, for each session open on this node that holds or
	// awaits a lock, what this node knows of it. An entry exists only
	// while Sessions reports the session open (checked under mu), and
	// SessionEnded removes it.
	bySession map[string]*sessionLocks

	contactMu sync.Mutex
	contact   contactState

	// obs are the election observers (elect_service.go).
	obs observers

	// push sends grant hints to other nodes (grant_hint.go); nil: none.
	push GrantPusher
}

// sessionLocks is one session's locks as this node knows them.
type sessionLocks struct {
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

// NewService returns the lock service of this node over the replicated table
// (this node's replica), the Raft core and the session table.
func NewService(cfg Config, table *Replicated, core Proposer, sessions Sessions, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("locks: config: %w", err)
	}
	if table == nil || core == nil || sessions == nil {
		return nil, errors.New("locks: NewService needs a table, a proposer and a session table")
	}
	s := &Service{cfg: cfg, table: table, core: core, sessions: sessions, clock: SystemClock{},
		log: zerolog.Nop(), bySession: map[string]*sessionLocks{}}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With().Str("component", "locks").Logger()
	return s, nil
}

func validateAcquire(name string, opts AcquireOptions) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if opts.Wait < 0 {
		return wire.Invalidf("wait", "must not be negative, got %s", opts.Wait)
	}
	if opts.LockDelay < 0 || opts.LockDelay > MaxLockDelay {
		return wire.Invalidf("lock_delay", "must be between 0 and %s, got %s", MaxLockDelay, opts.LockDelay)
	}
	return nil
}

func (s *Service) noSession(pid string) error {
	return fmt.Errorf("%w: %q is not open on node %s", wire.ErrNoSession, pid, s.cfg.Node)
}

// Acquire acquires the lock name for the open session pid on this node
// and returns its fencing token. Fail-fast by default (ErrHeld naming the
// holder); with opts.Wait it queues (FIFO) and waits for the grant or
// ErrWaitExpired. Acquiring a lock the session already holds returns the
// same token.
func (s *Service) Acquire(ctx context.Context, pid, name string, opts AcquireOptions) (uint64, error) {
	if err := validateAcquire(name, opts); err != nil {
		return 0, err
	}
	// Register for the grant before proposing: the grant may be applied
	// (and its event delivered) before the proposal returns.
	done, wake, ok := s.addWaiter(pid, name)
	if !ok {
		return 0, s.noSession(pid)
	}
	defer s.removeWaiter(pid, name, wake)
	cmd := Acquire{Name: name, PID: pid, Wait: opts.Wait, LockDelay: opts.LockDelay, Now: s.clock.Now()}
	resp, err := s.core.Apply(ctx, cmd.Marshal())
	if err != nil {
		return 0, fmt.Errorf("acquire %q: %w", name, err)
	}
	r, index, err := ParseAcquireResult(resp)
	if err != nil {
		return 0, fmt.Errorf("acquire %q: %w", name, err)
	}
	if r.Granted {
		s.setHeld(pid, name, r.Token)
		return r.Token, nil
	}
	return s.waitGrant(ctx, pid, name, opts.Wait, done, wake, r.Holder, index)
}

// waitGrant waits for a queued acquire (its entry at index): the table's
// grant event (on a Raft member), a poll of the lock (everywhere, as a
// backstop), the wait's end or the caller giving up. A wait that ends
// unanswered is cancelled in the table.
func (s *Service) waitGrant(ctx context.Context, pid, name string, wait time.Duration, done <-chan struct{}, wake chan waitDone, holder string, index uint64) (uint64, error) {
	poll := s.cfg.PollMember
	if !s.core.Status().Member {
		poll = s.cfg.PollClient
	}
	ticker := s.clock.NewTimer(poll)
	defer ticker.Stop()
	timer := s.clock.NewTimer(wait + poll)
	defer timer.Stop()
	giveUp := func(why error) (uint64, error) {
		cctx, cancel := context.WithTimeout(context.Background(), s.core.ApplyTimeout())
		defer cancel()
		// Cancelling also releases a grant that raced with the timeout, so
		// the caller is never left holding a lock it was told it lacks.
		if err := s.release(cctx, pid, name); err != nil && !errors.Is(err, ErrNotHolder) {
			s.log.Warn().Err(err).Str("lock", name).Str("pid", pid).Msg("cancel lock wait")
		}
		return 0, why
	}
	for {
		select {
		case w := <-wake:
			if w.index <= index {
				// An event of an earlier acquire of this session (a grant it
				// gave up, a wait it cancelled), applied late by this
				// node's replica: not this acquire's answer.
				continue
			}
			if w.expired {
				return 0, fmt.Errorf("acquire %q: %w after %s (held by %s)", name, ErrWaitExpired, wait, holder)
			}
			s.setHeld(pid, name, w.token)
			return w.token, nil
		case <-ticker.C():
			ticker.Reset(poll)
			info, err := s.Inspect(ctx, name, wire.ReadDefault)
			if err != nil && !errors.Is(err, wire.ErrNotFound) {
				continue
			}
			if info.Holder == pid {
				s.setHeld(pid, name, info.Token)
				return info.Token, nil
			}
			queued := false
			for _, w := range info.Waiters {
				queued = queued || w.PID == pid
			}
			if !queued && err == nil {
				return 0, fmt.Errorf("acquire %q: %w after %s (held by %s)", name, ErrWaitExpired, wait, info.Holder)
			}
		case <-timer.C():
			return giveUp(fmt.Errorf("acquire %q: %w after %s (held by %s)", name, ErrWaitExpired, wait, holder))
		case <-ctx.Done():
			return giveUp(fmt.Errorf("acquire %q: %w", name, ctx.Err()))
		case <-done:
			return 0, fmt.Errorf("acquire %q: %w: session %s ended", name, wire.ErrNoSession, pid)
		}
	}
}

// Release releases name if pid holds it (ErrNotHolder otherwise); a
// waiting pid gives up its place in the queue.
func (s *Service) Release(ctx context.Context, pid, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if _, ok := s.sessions.Lookup(pid); !ok {
		return s.noSession(pid)
	}
	return s.release(ctx, pid, name)
}

func (s *Service) release(ctx context.Context, pid, name string) error {
	resp, err := s.core.Apply(ctx, Release{Name: name, PID: pid, Now: s.clock.Now()}.Marshal())
	if err == nil {
		err = parseOK(resp)
	}
	if err != nil {
		return fmt.Errorf("release %q: %w", name, err)
	}
	s.dropHeld(pid, name)
	return nil
}

// Inspect returns one lock, read in mode; wire.ErrNotFound if it is free
// with no waiters.
func (s *Service) Inspect(ctx context.Context, name string, mode wire.ReadMode) (Info, error) {
	if err := ValidateName(name); err != nil {
		return Info{}, err
	}
	ls, err := s.query(ctx, mode, Get{Name: name}.Marshal())
	if err != nil {
		return Info{}, fmt.Errorf("inspect %q: %w", name, err)
	}
	if len(ls) != 1 {
		return Info{}, fmt.Errorf("inspect %q: %w", name, wire.ErrNotFound)
	}
	return ls[0], nil
}

// List returns the locks whose names have the prefix, by name, read in
// mode.
func (s *Service) List(ctx context.Context, prefix string, mode wire.ReadMode) ([]Info, error) {
	if err := wire.ValidatePrefix("prefix", prefix); err != nil {
		return nil, err
	}
	return s.query(ctx, mode, List{Prefix: prefix}.Marshal())
}

func (s *Service) query(ctx context.Context, mode wire.ReadMode, q []byte) ([]Info, error) {
	resp, err := s.core.Query(ctx, mode, q)
	if err != nil {
		return nil, err
	}
	return ParseInfos(resp)
}

// TickIfDue proposes a Tick when this replica's table has a wait or a
// lock delay due: the leader's duty, run by its duty loop.
func (s *Service) TickIfDue(ctx context.Context) error {
	now := s.clock.Now()
	due, ok := s.table.NextDeadline()
	if !ok || now.Before(due) {
		return nil
	}
	tctx, cancel := context.WithTimeout(ctx, s.core.ApplyTimeout())
	defer cancel()
	resp, err := s.core.Apply(tctx, Tick{Now: now}.Marshal())
	if err == nil {
		err = parseOK(resp)
	}
	if err != nil {
		return fmt.Errorf("lock tick: %w", err)
	}
	return nil
}
