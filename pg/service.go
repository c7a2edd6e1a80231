package pg

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Peer is another live node as the gossip view has it.
type Peer struct {
	Name string
	Addr string // internode address
}

// View is the gossip view the Service follows. Peers is called by Run's
// goroutine every HeartbeatInterval; it must not block and returns the
// other nodes that are alive (not this one), as a slice the caller owns.
type View interface {
	Peers() []Peer
}

// Transport carries class "groups" messages to a peer's internode address.
// Both methods are called concurrently, from link goroutines, broadcast
// calls and the heartbeat; they block at most until ctx ends. The buffers
// passed in are not retained after return; a reply is the caller's.
type Transport interface {
	// Request sends req and waits for the peer's reply.
	Request(ctx context.Context, addr string, req []byte) ([]byte, error)
	// Send delivers msg one way, best effort: nil means written, not handled.
	Send(ctx context.Context, addr string, msg []byte) error
}

// Sessions is this node's session table: the holders of memberships and
// the receivers of broadcasts. Both methods are called concurrently, from
// request goroutines, mesh handler goroutines and broadcasts, and must not
// block.
type Sessions interface {
	// Lookup returns the Done channel (closed when the session ends) of
	// the session pid if it is open on this node.
	Lookup(pid string) (done <-chan struct{}, ok bool)
	// Deliver hands a broadcast to the session pid if it is open on this
	// node, and reports whether it was. m.Payload is shared by every
	// member it is delivered to and must not be modified.
	Deliver(pid string, m Message) bool
}

// Option configures a Service.
type Option func(*options)

type options struct {
	log       zerolog.Logger
	dropDelta func(peer string) bool
	now       func() time.Time
}

// WithLogger sets the logger; the Service logs with component=pg.
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// WithDeltaFilter installs a test hook called before every delta is sent:
// returning true drops the delta as if the network lost it (it is counted
// in Stats.DeltasDropped). Anti-entropy must then repair the difference.
func WithDeltaFilter(drop func(peer string) bool) Option {
	return func(o *options) { o.dropDelta = drop }
}

// WithClock sets the clock of heartbeat times (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// BroadcastResult says where a broadcast went.
type BroadcastResult struct {
	// Nodes is how many nodes it reached: this one if it had local members,
	// plus every peer the message was written to.
	Nodes int
	// Members is how many members those nodes hosted when it was sent.
	Members int
	// Unreached is how many peers hosting members the send failed for.
	Unreached int
}

// Stats are the Service's counters since it started.
type Stats struct {
	// BroadcastsSent counts broadcast messages written to peers (one per
	// destination node of a broadcast, heartbeats included).
	BroadcastsSent uint64
	// SendFailures counts broadcast sends that failed.
	SendFailures uint64
	// Delivered counts messages handed to local member sessions.
	Delivered uint64
	// Malformed counts messages from peers that did not decode; dropped.
	Malformed uint64
	// SyncsSent counts full sync exchanges this node started.
	SyncsSent uint64
	// Repairs counts full syncs the anti-entropy loop found necessary.
	Repairs uint64
	// DeltasDropped counts deltas the test hook dropped.
	DeltasDropped uint64
}

type counters struct {
	sent, sendFailures, delivered, malformed, syncs, repairs, dropped atomic.Uint64
}

var heartbeatKey = Key{Scope: HeartbeatScope, Group: HeartbeatGroup}

// Service is one node's process groups: the membership State, one
// replication link per live peer, broadcast and monitors.
type Service struct {
	cfg      Config
	log      zerolog.Logger
	warn     zerolog.Logger // sampled, for input from peers
	node     string
	tr       Transport
	view     View
	sessions Sessions
	opts     options
	hbPID    string
	events   chan peerEvent
	beating  atomic.Bool
	st       counters

	mu       sync.Mutex
	state    *State
	links    map[string]*link
	monitors map[Key]map[*Monitor]struct{}
	runCtx   context.Context
	running  bool
	stopped  bool
	lastBeat struct {
		node string
		at   time.Time
	}
	wg sync.WaitGroup // link goroutines and heartbeats
}

type peerEvent struct {
	peer Peer
	up   bool
}

// New returns the Service of node. incarnation must grow with every start
// of the node (the start time in nanoseconds serves). It does nothing until
// Run.
func New(cfg Config, node string, incarnation uint64, tr Transport, view View, sessions Sessions, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if node == "" || tr == nil || view == nil || sessions == nil {
		return nil, errors.New("pg: New needs a node name, a transport, a view and the sessions")
	}
	o := options{log: zerolog.Nop(), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	log := o.log.With().Str("component", "pg").Logger()
	return &Service{
		cfg: cfg, log: log, node: node, tr: tr, view: view, sessions: sessions, opts: o,
		warn:     log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Minute}),
		hbPID:    HeartbeatPID(node),
		events:   make(chan peerEvent, 256),
		state:    NewState(node, incarnation),
		links:    map[string]*link{},
		monitors: map[Key]map[*Monitor]struct{}{},
	}, nil
}

// Run replicates until ctx ends: it joins the heartbeat group, keeps one
// link per live peer (full sync exchange when a peer appears, deltas on
// change), drops the members of peers that go, broadcasts heartbeats and
// runs anti-entropy. It returns nil once ctx ended and every goroutine it
// started has finished; monitors then end with ErrStopped.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running || s.stopped {
		s.mu.Unlock()
		return errors.New("pg: Run called twice")
	}
	s.running = true
	s.runCtx = ctx
	d, changes := s.state.Join(heartbeatKey, s.hbPID)
	s.publishLocked(d, changes)
	s.mu.Unlock()

	s.reconcile()
	hb := time.NewTicker(s.cfg.HeartbeatInterval)
	defer hb.Stop()
	ae := time.NewTicker(s.cfg.AntiEntropyInterval)
	defer ae.Stop()
	for {
		select {
		case <-ctx.Done():
			s.stop()
			return nil
		case ev := <-s.events:
			s.peerEvent(ev)
		case <-hb.C:
			s.reconcile()
			s.heartbeat(ctx)
		case <-ae.C:
			s.antiEntropy()
		}
	}
}

func (s *Service) stop() {
	s.mu.Lock()
	s.stopped = true
	for name, l := range s.links {
		l.cancel()
		delete(s.links, name)
	}
	for k, ms := range s.monitors {
		for m := range ms {
			m.end(ErrStopped)
		}
		delete(s.monitors, k)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// PeerUp tells the Service that a peer is alive (joined, or changed its
// metadata). It never blocks: when events pile up one is dropped, and the
// periodic reconcile with the View repairs that.
func (s *Service) PeerUp(p Peer) { s.notifyPeer(peerEvent{peer: p, up: true}) }

// PeerDown tells the Service that a peer left or failed; its members go.
func (s *Service) PeerDown(name string) { s.notifyPeer(peerEvent{peer: Peer{Name: name}}) }

func (s *Service) notifyPeer(ev peerEvent) {
	select {
	case s.events <- ev:
	default:
	}
}

func (s *Service) peerEvent(ev peerEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.up {
		s.ensureLinkLocked(ev.peer)
		return
	}
	s.dropPeerLocked(ev.peer.Name)
}

// reconcile makes the links match the View: a link for every live peer,
// none (and no members) for anyone else.
func (s *Service) reconcile() {
	peers := s.view.Peers()
	s.mu.Lock()
	defer s.mu.Unlock()
	live := make(map[string]bool, len(peers))
	for _, p := range peers {
		if p.Name == s.state.Local() || p.Addr == "" {
			continue
		}
		live[p.Name] = true
		s.ensureLinkLocked(p)
	}
	for name := range s.links {
		if !live[name] {
			s.dropPeerLocked(name)
		}
	}
	for _, name := range s.state.Nodes() {
		if name != s.state.Local() && !live[name] {
			s.dropPeerLocked(name)
		}
	}
}

func (s *Service) ensureLinkLocked(p Peer) {
	if s.stopped || s.runCtx == nil || p.Name == s.state.Local() || p.Addr == "" {
		return
	}
	if l := s.links[p.Name]; l != nil {
		if l.peer.Addr == p.Addr {
			return
		}
		l.cancel() // the peer came back on a new address
	}
	ctx, cancel := context.WithCancel(s.runCtx)
	l := &link{peer: p, cancel: cancel, wake: make(chan struct{}, 1), needSync: true}
	s.links[p.Name] = l
	s.wg.Add(1)
	go s.runLink(ctx, l)
	l.kick()
	s.log.Debug().Str("peer", p.Name).Str("addr", p.Addr).Msg("group link up")
}

func (s *Service) dropPeerLocked(name string) {
	if l := s.links[name]; l != nil {
		l.cancel()
		delete(s.links, name)
	}
	if changes := s.state.DropNode(name); len(changes) > 0 {
		s.log.Info().Str("peer", name).Int("members", len(changes)).Msg("peer gone; its group members removed")
		s.notifyLocked(changes)
	}
}

// publishLocked tells monitors about local changes and queues the delta
// for every peer.
func (s *Service) publishLocked(d Delta, changes []Change) {
	s.notifyLocked(changes)
	if d.Empty() {
		return
	}
	for _, l := range s.links {
		if len(l.pending) >= s.cfg.MaxPending {
			l.pending = nil
			l.needSync = true
		} else {
			l.pending = append(l.pending, d)
		}
		l.kick()
	}
}

// Counts returns the groups with members anywhere, and the memberships on
// this node and on every node (heartbeat group included).
func (s *Service) Counts() (groups, local, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Counts()
}

// Digest returns every known node's version (tests, debugging).
func (s *Service) Digest() map[string]Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Version{}
	for _, n := range s.state.Nodes() {
		out[n], _ = s.state.Version(n)
	}
	return out
}

// LastBeat returns the peer whose heartbeat arrived last and when; the zero
// time if none has yet.
func (s *Service) LastBeat() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastBeat.node, s.lastBeat.at
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{
		BroadcastsSent: s.st.sent.Load(), SendFailures: s.st.sendFailures.Load(),
		Delivered: s.st.delivered.Load(), Malformed: s.st.malformed.Load(),
		SyncsSent: s.st.syncs.Load(), Repairs: s.st.repairs.Load(), DeltasDropped: s.st.dropped.Load(),
	}
}
