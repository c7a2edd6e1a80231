package naming

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Proposer replicates the table's commands through Raft and reads the
// replica (cluster hands it the Raft core). Every method may be called
// concurrently from request goroutines; Apply and Query block until the
// answer or ctx's end. The buffers passed in are not retained; the results
// are the caller's. Errors are cluster's own (no quorum, shut down, ctx).
type Proposer interface {
	// Apply proposes cmd (a command's Marshal) and returns the table's
	// result (wire.Result or wire.Refusal).
	Apply(ctx context.Context, cmd []byte) ([]byte, error)
	// Query reads the table in mode and returns its result.
	Query(ctx context.Context, mode wire.ReadMode, q []byte) ([]byte, error)
	// ApplyTimeout is how long one proposal may take.
	ApplyTimeout() time.Duration
	// OutcomeUnknown reports whether an error of Apply means the command
	// may or may not have been applied (the leader was lost after it
	// accepted it). It must not block.
	OutcomeUnknown(err error) bool
}

// Peer is another node alive in the gossip view.
type Peer struct {
	Name string
	Addr string // its internode address, where acks are asked
}

// Members is the gossip view. Its methods are called concurrently and
// must not block; Alive is called with the eventual scope's lock held and
// must not call back into the Service.
type Members interface {
	// LivePeers are the other nodes alive now, in a slice the caller owns.
	LivePeers() []Peer
	// Alive reports whether node is alive.
	Alive(node string) bool
	// Left reports whether node left the membership gracefully (or is no
	// longer known at all).
	Left(node string) bool
}

// Acker asks a peer's Service (its HandleAck) about a strong
// registration, over the internode mesh's ack class. Called concurrently,
// one goroutine per peer asked; it blocks at most until ctx ends. req is
// not retained; the reply is the caller's.
type Acker interface {
	Request(ctx context.Context, addr string, req []byte) ([]byte, error)
}

// Sessions is this node's session table. Both methods are called
// concurrently and must not block.
type Sessions interface {
	// Open reports whether pid is a session open on this node.
	Open(pid string) bool
	// Revoked tells the session pid, if it is open, that its eventual
	// name lost to winner's claim (a name_revoked session event).
	Revoked(pid, name, winner string)
}

// Broadcaster carries the eventual scope's deltas by gossip.
type Broadcaster interface {
	// Queue piggybacks msg (at most Config.MaxBroadcast bytes) on gossip
	// packets. Called concurrently; it must not block; msg is retained.
	Queue(msg []byte)
	// SendToAll sends msg to every member over a reliable stream. Called
	// from Run's goroutine only; it may block for a while.
	SendToAll(msg []byte)
}

// Deps are the Service's collaborators; all are required.
type Deps struct {
	Proposer Proposer
	Members  Members
	Acker    Acker
	Sessions Sessions
	Gossip   Broadcaster
}

// Option configures a Service.
type Option func(*options)

type options struct {
	log zerolog.Logger
	now func() time.Time
}

// WithLogger sets the logger; the Service logs with component=names.
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock (tests). It times registrations (the times
// written into commands and claims), strong deadlines and compaction.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Stats are the Service's counters since it started.
type Stats struct {
	// Revocations counts eventual names of this node's sessions revoked
	// because another origin's claim won.
	Revocations uint64
	// Malformed counts eventual-name gossip messages and strong-name ack
	// requests dropped as malformed.
	Malformed uint64
}

// Service is one node's name service: the four scopes (DESIGN §8), strong
// registrations and their acknowledgements, and watches. Its methods are
// safe for concurrent use. Run owns its one goroutine.
type Service struct {
	cfg      Config
	node     string
	log      zerolog.Logger
	now      func() time.Time
	p        Proposer
	members  Members
	acker    Acker
	sessions Sessions
	gossip   Broadcaster

	local    *Local
	eventual *Eventual
	table    *Table
	hub      *hub
	// big carries deltas too large for a gossip packet to Run, which sends
	// them over TCP (Broadcaster.SendToAll).
	big chan []byte

	malformed   atomic.Uint64
	revocations atomic.Uint64
	lastCompact atomic.Int64
}

// New returns the name service of node. Its Table is to be registered in
// the FSM (under TableID) before Raft starts.
func New(cfg Config, node string, deps Deps, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := wire.ValidateNode("node", node); err != nil {
		return nil, fmt.Errorf("naming: %w", err)
	}
	if deps.Proposer == nil || deps.Members == nil || deps.Acker == nil || deps.Sessions == nil || deps.Gossip == nil {
		return nil, errors.New("naming: New needs a proposer, a members view, an acker, sessions and a broadcaster")
	}
	o := options{log: zerolog.Nop(), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Service{
		cfg: cfg, node: node, log: o.log.With().Str("component", "names").Logger(), now: o.now,
		p: deps.Proposer, members: deps.Members, acker: deps.Acker, sessions: deps.Sessions, gossip: deps.Gossip,
		local: NewLocal(), hub: newHub(cfg.WatchBuffer), big: make(chan []byte, cfg.LargeDeltaQueue),
	}
	s.eventual = NewEventual(node, uint64(o.now().UnixNano()), deps.Members.Alive, cfg.TombstoneTTL)
	s.table = NewTable(s.hub.publish)
	return s, nil
}

// Table is the replicated table of consistent and strong names, whose
// events go to this Service's watches.
func (s *Service) Table() *Table { return s.table }

// Register binds name to the session pid open on this node, in scope,
// with optional metadata (at most MaxMetaLen bytes). A name held by
// another session fails with a *Conflict (ErrTaken) naming the owner;
// registering again from the same session is idempotent. Consistent and
// strong registrations need a Raft quorum; strong ones also every live
// node's acknowledgement within Config.StrongDeadline.
func (s *Service) Register(ctx context.Context, pid, name string, scope Scope, meta []byte) (Binding, error) {
	if err := validateName(name); err != nil {
		return Binding{}, err
	}
	if !scope.Valid() {
		return Binding{}, wire.Invalidf("scope", "must be one of local, eventual, consistent, strong")
	}
	if err := ValidateMeta(meta); err != nil {
		return Binding{}, err
	}
	if !s.sessions.Open(pid) {
		return Binding{}, fmt.Errorf("%w: %q is not open on node %s", wire.ErrNoSession, pid, s.node)
	}
	switch scope {
	case ScopeLocal:
		b, evs, err := s.local.Register(s.now(), name, pid, meta)
		s.hub.publish(evs)
		return b, err
	case ScopeEventual:
		b, evs, delta, err := s.eventual.Register(s.now(), name, pid, meta)
		s.publish(delta)
		s.hub.publish(evs)
		return b, err
	case ScopeConsistent:
		now := s.now()
		cmd := Register{Name: name, PID: pid, Meta: meta, Now: now}.Marshal()
		d, err := s.applyAgain(ctx, name, cmd, now.Add(s.p.ApplyTimeout()))
		if err != nil {
			return Binding{}, err
		}
		b := decodeBinding(d)
		return b, d.Done()
	}
	return s.registerStrong(ctx, pid, name, meta)
}

// Unregister removes pid's binding of name, in whichever scope it holds
// it. Local and eventual names can only be unregistered on the node of
// the session; consistent and strong ones from any node.
func (s *Service) Unregister(ctx context.Context, pid, name string) error {
	if err := validateTarget(name, pid); err != nil {
		return err
	}
	if b, ok := s.local.Get(name); ok && b.PID == pid {
		evs, err := s.local.Unregister(name, pid)
		s.hub.publish(evs)
		return err
	}
	if b, ok := s.eventual.Get(name); ok && b.PID == pid && wire.NodeOf(pid) == s.node {
		evs, delta, err := s.eventual.Unregister(s.now(), name, pid)
		s.publish(delta)
		s.hub.publish(evs)
		return err
	}
	_, err := s.apply(ctx, name, Unregister{Name: name, PID: pid}.Marshal())
	return err
}

// Lookup resolves name: consistent and strong names first (read in mode),
// then eventual, then local, so a cluster-wide name shadows a local one.
// ErrNotFound when no scope binds it.
func (s *Service) Lookup(ctx context.Context, name string, mode wire.ReadMode) (Binding, error) {
	if err := validateName(name); err != nil {
		return Binding{}, err
	}
	bs, err := s.query(ctx, mode, getQuery(name))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Binding{}, err
	}
	if len(bs) == 1 {
		return bs[0], nil
	}
	if b, ok := s.eventual.Get(name); ok {
		return b, nil
	}
	if b, ok := s.local.Get(name); ok {
		return b, nil
	}
	return Binding{}, notRegistered(name)
}

// List lists the bindings whose names start with prefix, in scope
// (ScopeUnspecified for every scope), sorted by name; a name bound in
// several scopes is listed once per scope, the one lookup resolves to
// first.
func (s *Service) List(ctx context.Context, prefix string, scope Scope, mode wire.ReadMode) ([]Binding, error) {
	if err := wire.ValidatePrefix("prefix", prefix); err != nil {
		return nil, err
	}
	if scope != ScopeUnspecified && !scope.Valid() {
		return nil, wire.Invalidf("scope", "must be one of local, eventual, consistent, strong")
	}
	var out []Binding
	if scope == ScopeUnspecified || scope == ScopeConsistent || scope == ScopeStrong {
		bs, err := s.query(ctx, mode, listQuery(prefix))
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			if scope == ScopeUnspecified || b.Scope == scope {
				out = append(out, b)
			}
		}
	}
	if scope == ScopeUnspecified || scope == ScopeEventual {
		out = append(out, s.eventual.List(prefix)...)
	}
	if scope == ScopeUnspecified || scope == ScopeLocal {
		out = append(out, s.local.List(prefix)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Scope > out[j].Scope
	})
	return out, nil
}

// Watch starts a watch of the names under prefix.
func (s *Service) Watch(prefix string) (*Watch, error) {
	if err := wire.ValidatePrefix("prefix", prefix); err != nil {
		return nil, err
	}
	return s.hub.add(prefix), nil
}

// Count is how many names this node sees in scope: local and eventual as
// held here, consistent and strong in the local replica.
func (s *Service) Count(scope Scope) int {
	switch scope {
	case ScopeLocal:
		return s.local.Len()
	case ScopeEventual:
		return s.eventual.Len()
	}
	return s.table.Count(scope)
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{Revocations: s.revocations.Load(), Malformed: s.malformed.Load()}
}

// Close ends every watch (the node is stopping). The Service's other
// methods keep working.
func (s *Service) Close() { s.hub.closeAll() }

// apply proposes a name command and turns a refusal into its error.
func (s *Service) apply(ctx context.Context, name string, cmd []byte) (*wire.Decoder, error) {
	resp, err := s.p.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return nil, refusalErr(name, refused)
	}
	return d, nil
}

// query reads bindings from the replicated table.
func (s *Service) query(ctx context.Context, mode wire.ReadMode, q []byte) ([]Binding, error) {
	resp, err := s.p.Query(ctx, mode, q)
	if err != nil {
		return nil, err
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return nil, refusalErr("", refused)
	}
	bs, err := decodeBindings(d)
	if err != nil {
		return nil, fmt.Errorf("naming: decode name query: %w", err)
	}
	return bs, nil
}
