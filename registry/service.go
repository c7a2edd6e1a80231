package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Proposer replicates the table's commands through Raft and reads a
// server's replica (cluster hands it the Raft core). Every method may be
// called concurrently; Apply and Query block until the answer or ctx's
// end. The buffers passed in are not retained; the results are the
// caller's. Errors are cluster's own (no quorum, shut down, ctx).
type Proposer interface {
	// Apply proposes cmd (a command's Marshal), forwarding it to the
	// leader from any other node, and returns the table's result
	// (wire.Result or wire.Refusal).
	Apply(ctx context.Context, cmd []byte) ([]byte, error)
	// Query reads the table in mode and returns its result. A node
	// without a replica asks a Raft member.
	Query(ctx context.Context, mode wire.ReadMode, q []byte) ([]byte, error)
	// ApplyTimeout is how long one proposal may take. Must not block.
	ApplyTimeout() time.Duration
	// OutcomeUnknown reports whether an error of Apply means the command
	// may or may not have been applied (the leader was lost after it
	// accepted it). Must not block.
	OutcomeUnknown(err error) bool
}

// Sessions is this node's session table. Called concurrently; must not
// block.
type Sessions interface {
	// Lookup returns the Done channel of the session pid if it is open on
	// this node (closed when the session ends).
	Lookup(pid string) (done <-chan struct{}, ok bool)
}

// Option configures a Service.
type Option func(*options)

type options struct {
	log     zerolog.Logger
	now     func() time.Time
	replica func() bool
	prober  Prober
}

// WithLogger sets the logger; the Service logs with component=registry.
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock (tests). It times the commands (registration
// time, last_seen) and TTL lapses; check intervals run on timers.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithReplica tells the Service whether this node holds a live replica of
// the table (a Raft member). Without one, the Service mirrors a server's
// table (Run polls it every Config.MirrorInterval) and answers from the
// mirror. Default: always a replica.
func WithReplica(isMember func() bool) Option { return func(o *options) { o.replica = isMember } }

// WithProber replaces the checks' prober (tests of the thresholds).
func WithProber(p Prober) Option { return func(o *options) { o.prober = p } }

// Service is one node's service registry: registrations of the sessions
// open on this node, the health checks of their instances, and queries
// and blocking queries over the replicated table. Its methods are safe
// for concurrent use. Run owns its goroutines (the checks, the last_seen
// batcher, the mirror of a node without a replica).
type Service struct {
	cfg      Config
	node     string
	log      zerolog.Logger
	now      func() time.Time
	p        Proposer
	sessions Sessions
	table    *Table
	replica  func() bool
	prober   Prober
	mirror   *mirror

	// kick asks Run for a reconcile now (a registration just applied).
	kick chan struct{}

	recMu sync.Mutex // one reconcile at a time

	mu       sync.Mutex
	runCtx   context.Context // Run's, once it runs
	stopped  bool
	monitors map[instanceKey]*monitor
	orphans  map[instanceKey]time.Time // local instances whose session is not open here, since
	seen     map[instanceKey]seenTime  // last_seen of local instances, for the batcher
	wg       sync.WaitGroup            // the monitors' goroutines
}

type instanceKey struct{ service, id string }

type seenTime struct {
	pid      string
	at, sent time.Time
}

// New returns the registry service of node. Its Table is to be
// registered in the FSM (under TableID) before Raft starts.
func New(cfg Config, node string, p Proposer, sessions Sessions, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := wire.ValidateNode("node", node); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if p == nil || sessions == nil {
		return nil, errors.New("registry: New needs a proposer and sessions")
	}
	o := options{log: zerolog.Nop(), now: time.Now, replica: func() bool { return true }}
	for _, opt := range opts {
		opt(&o)
	}
	if o.prober == nil {
		o.prober = newNetProber()
	}
	return &Service{
		cfg: cfg, node: node, log: o.log.With().Str("component", "registry").Logger(), now: o.now,
		p: p, sessions: sessions, table: NewTable(), replica: o.replica, prober: o.prober, mirror: newMirror(),
		kick: make(chan struct{}, 1), monitors: map[instanceKey]*monitor{}, orphans: map[instanceKey]time.Time{},
		seen: map[instanceKey]seenTime{},
	}, nil
}

// Table is the replicated table, to register in the FSM.
func (s *Service) Table() *Table { return s.table }

// Register registers r for the session pid open on this node: a new
// instance, or the replacement of the one pid already registered under
// r.Service and r.ID (idempotent; it keeps its CreateIndex). An empty ID
// is the PID; an empty protocol "tcp"; a check's zero interval and
// timeout the defaults (WithCheckDefaults). Bad input fails with ErrInvalid
// naming the field; a session not open here with ErrNoSession; an
// instance registered by another session with ErrTaken naming it. Needs a
// Raft quorum.
func (s *Service) Register(ctx context.Context, pid string, r Registration) (Instance, error) {
	r = r.WithCheckDefaults()
	if err := r.Validate(); err != nil {
		return Instance{}, err
	}
	if err := wire.ValidatePID("pid", pid); err != nil {
		return Instance{}, err
	}
	if _, ok := s.sessions.Lookup(pid); !ok || wire.NodeOf(pid) != s.node {
		return Instance{}, fmt.Errorf("%w: %q is not open on node %s", ErrNoSession, pid, s.node)
	}
	r = r.Normalize(pid)
	d, err := s.applyAgain(ctx, Register{PID: pid, Now: s.now(), Reg: r}.Marshal())
	if err != nil {
		return Instance{}, fmt.Errorf("register %q/%q: %w", r.Service, r.ID, err)
	}
	in := decodeInstance(d)
	if err := d.Done(); err != nil {
		return Instance{}, fmt.Errorf("registry: decode registration result: %w", err)
	}
	// The session may have ended while the entry was in flight, its
	// release applied before it: the instance would outlive it.
	if _, ok := s.sessions.Lookup(pid); !ok {
		s.dropOrphan(ctx, in.Service, in.ID, pid)
		return Instance{}, fmt.Errorf("%w: %q ended during the registration of %q/%q", ErrNoSession, pid, in.Service, in.ID)
	}
	s.awaitLocal(ctx, in.ModifyIndex)
	s.poke()
	return *in, nil
}

// awaitLocal waits, at most one ApplyTimeout and until ctx ends, until
// this node's replica (or mirror) has applied the entry at index, so that
// what a session wrote through this node it reads back from it (a query,
// a TTL update right after the registration). A write is applied on the
// leader first; a follower applies it within a heartbeat.
func (s *Service) awaitLocal(ctx context.Context, index uint64) {
	ctx, cancel := context.WithTimeout(ctx, s.p.ApplyTimeout())
	defer cancel()
	for {
		if s.replica() {
			changed := s.table.Changed()
			if s.table.LastChange() >= index {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
			continue
		}
		s.mirror.used.Store(s.now().UnixNano())
		if s.mirror.index() >= index {
			return
		}
		if err := s.refreshMirror(ctx); err != nil {
			s.log.Debug().Err(err).Msg("registry mirror not refreshed")
		}
		if s.mirror.index() >= index {
			return
		}
		t := time.NewTimer(s.cfg.AgainPace)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Deregister removes an instance, whoever owns it (an operator's or an
// application's call; the API's ACL decides who may). ErrNotFound if it
// is not registered.
func (s *Service) Deregister(ctx context.Context, service, id string) error {
	if err := validateTarget(service, id); err != nil {
		return err
	}
	d, err := s.apply(ctx, Deregister{Service: service, ID: id}.Marshal())
	if err != nil {
		return fmt.Errorf("deregister %q/%q: %w", service, id, err)
	}
	s.awaitLocal(ctx, d.Uvarint())
	s.poke()
	return nil
}

// UpdateTTL reports the health of pid's instance for its TTL check (the
// session must be open on this node and own the instance, which must
// have a ttl check): it renews the TTL and sets the check's status. Only
// a change of the instance's health goes through Raft (and needs a
// quorum); a renewal that changes nothing is local.
func (s *Service) UpdateTTL(ctx context.Context, pid, service, id string, h Health, output string) error {
	if err := validateTarget(service, id); err != nil {
		return err
	}
	if err := validHealth("health", h); err != nil {
		return err
	}
	if _, ok := s.sessions.Lookup(pid); !ok || wire.NodeOf(pid) != s.node {
		return fmt.Errorf("%w: %q is not open on node %s", ErrNoSession, pid, s.node)
	}
	in, ok := s.get(ctx, service, id)
	switch {
	case !ok:
		return notFound(service, id)
	case in.PID != pid:
		return taken(service, id, in.PID)
	}
	m, err := s.monitorFor(in)
	if err != nil {
		return err
	}
	if m == nil {
		return wire.Invalidf("checks", "instance %q of service %q has no ttl check", id, service)
	}
	now := s.now()
	if !m.hasTTL() {
		return wire.Invalidf("checks", "instance %q of service %q has no ttl check", id, service)
	}
	// Seen first: the update wakes the monitor, whose report of the new
	// health may beat this one and must carry this last_seen.
	if h != Critical {
		s.sawAlive(in.Service, in.ID, pid, now)
	}
	m.ttlUpdate(now, h, truncate(output, MaxOutput))
	return s.report(ctx, m)
}

// get reads one instance from the replica, or from the mirror, which is
// refreshed first if it does not have it yet (a TTL update right after
// the registration, on a client node).
func (s *Service) get(ctx context.Context, service, id string) (Instance, bool) {
	if s.replica() {
		return s.table.Get(service, id)
	}
	s.useMirror()
	if in, ok := s.mirror.get(service, id); ok {
		return in, true
	}
	if err := s.refreshMirror(ctx); err != nil {
		s.log.Debug().Err(err).Msg("registry mirror not refreshed")
	}
	return s.mirror.get(service, id)
}

// Instances answers f from this node's replica (stale-allowed: a node in
// a minority partition answers with the last state it has), sorted by
// service then ID, with the answer's index (see Wait).
func (s *Service) Instances(f Filter) ([]Instance, uint64) {
	ins, idx, _ := s.read(f)
	return ins, idx
}

// Services summarizes every service from this node's replica, with the
// table's last change index.
func (s *Service) Services() ([]ServiceSummary, uint64) {
	if !s.replica() {
		s.useMirror()
		return s.mirror.services()
	}
	sums, idx := s.table.Services()
	return sums, max(idx, 1)
}

// Wait is a blocking query (Consul's model): it returns f's answer as
// soon as its index is above index, at once if it already is (or if
// index is 0). When ctx ends first it returns the current answer and
// ctx.Err(). The index of an answer is monotonic for a filter and moves
// whenever the answer does (deletions too); it may move when the answer
// does not (another service's change, for a filter without a service). A
// refresh of last_seen alone does not move it. Indexes are Raft indexes,
// the same on every node, so a client may move between agents.
func (s *Service) Wait(ctx context.Context, f Filter, index uint64) ([]Instance, uint64, error) {
	s.mirror.waiters.Add(1) // keeps a mirror's poll going while it waits
	defer s.mirror.waiters.Add(-1)
	for {
		mirrored := !s.replica()
		ins, idx, changed := s.read(f)
		if index == 0 || idx > index {
			return ins, idx, nil
		}
		if err := s.waitChange(ctx, changed, mirrored); err != nil {
			return ins, idx, err
		}
	}
}

// waitChange blocks until changed closes or ctx ends, or until this node
// moved between answering from its replica and from the mirror (checked
// every Config.MirrorInterval): a client node that joins the core answers
// from its replica from then on and its mirror stops changing, and a
// member removed from the core stops applying, so a blocking query must
// look again where the answers now come from.
func (s *Service) waitChange(ctx context.Context, changed <-chan struct{}, mirrored bool) error {
	t := time.NewTicker(s.cfg.MirrorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			return nil
		case <-t.C:
			if s.replica() == mirrored {
				return nil
			}
		}
	}
}

// read answers f from the replica (or the mirror) with the channel that
// closes at its next change, taken before the answer so no change is
// missed. The index is at least 1 (0 means "at once" to Wait; as in
// Consul, a client that passes back an index it was given never spins).
// No command is applied at Raft index 1 (the bootstrap configuration
// entry), so the floor never hides a change.
func (s *Service) read(f Filter) ([]Instance, uint64, <-chan struct{}) {
	if !s.replica() {
		s.useMirror()
		return s.mirror.read(f)
	}
	changed := s.table.Changed()
	ins, idx := s.table.Instances(f)
	return ins, max(idx, 1), changed
}

// changes is the channel closed at the next change of what read answers
// from.
func (s *Service) changes() <-chan struct{} {
	if !s.replica() {
		return s.mirror.changes()
	}
	return s.table.Changed()
}

// poke asks Run for a reconcile without blocking.
func (s *Service) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// apply proposes a registry command and turns a refusal into its error.
func (s *Service) apply(ctx context.Context, cmd []byte) (*wire.Decoder, error) {
	resp, err := s.p.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return nil, refusalErr(refused)
	}
	return d, nil
}

// applyAgain proposes an idempotent command (a registration by its owner:
// a replay leaves the same instance) and proposes it again while an
// attempt's outcome is unknown (the leader was lost after accepting it),
// until ctx ends or one ApplyTimeout has passed.
func (s *Service) applyAgain(ctx context.Context, cmd []byte) (*wire.Decoder, error) {
	until := s.now().Add(s.p.ApplyTimeout())
	for {
		d, err := s.apply(ctx, cmd)
		if err == nil || !s.p.OutcomeUnknown(err) || ctx.Err() != nil || !s.now().Before(until) {
			return d, err
		}
		s.log.Debug().Err(err).Msg("registry command of unknown outcome proposed again (idempotent)")
		t := time.NewTimer(s.cfg.AgainPace)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w; the registration may have been applied: %v", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// dropOrphan deregisters pid's instance with its own short context (the
// caller's may be done); a failure is left to Run's orphan sweep.
func (s *Service) dropOrphan(ctx context.Context, service, id, pid string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.p.ApplyTimeout())
	defer cancel()
	_, err := s.apply(ctx, Deregister{Service: service, ID: id, PID: pid}.Marshal())
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrTaken) {
		s.log.Warn().Err(err).Str("service", service).Str("id", id).Str("pid", pid).Msg("deregistration of an orphaned instance failed; retried by the sweep")
	}
}

// PIDs lists the PIDs of node's sessions that own an instance, read
// through the leader (the session service's sweep of sessions left by an
// earlier node of the same name).
func (s *Service) PIDs(ctx context.Context, node string) ([]string, error) {
	resp, err := s.p.Query(ctx, wire.ReadDefault, instancesQuery(Filter{}))
	if err != nil {
		return nil, err
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return nil, refusalErr(refused)
	}
	ins, _, err := decodeInstances(d)
	if err != nil {
		return nil, fmt.Errorf("registry: decode instances: %w", err)
	}
	var out []string
	for _, in := range ins {
		if in.Node == node {
			out = append(out, in.PID)
		}
	}
	return out, nil
}
