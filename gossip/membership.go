package gossip

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// logWindow is how often one peer may repeat the same warning in the log.
const logWindow = 10 * time.Second

// Membership is this node's gossip membership: a running memberlist, the view
// built from its events, and our own meta.
type Membership struct {
	cfg      Config
	log      zerolog.Logger
	ml       *memberlist.Memberlist // owns the transport and shuts it down
	view     *view
	counters counters
	limiter  *rateLimiter
	state    StateDelegate // optional
	local    string        // advertised gossip host:port
	// self is local for the delegates, which memberlist may call before
	// New has set local.
	self atomic.Pointer[string]
	// inv is the discovered inventory, nil without Config.DiscoverDNS or
	// DiscoverFile; resolver looks its names up.
	inv      *inventory
	resolver Resolver
	// bindPort is the bound gossip port: an inventory entry without a
	// port means this one (as a join address without one does).
	bindPort uint16
	// retransmitMult is memberlist's RetransmitMult, for
	// DisseminationWindow.
	retransmitMult int

	metaMu    sync.RWMutex // guards meta and metaBytes; read under memberlist's node lock
	meta      Meta
	metaBytes []byte
	updateMu  sync.Mutex // serialises meta updates so broadcasts go out in order

	// keyring is memberlist's keyring, nil when gossip runs in clear. keyMu
	// serialises its changes with the writes of Config.KeyringFile.
	keyring *memberlist.Keyring
	keyMu   sync.Mutex
	// keyringMalformed counts peers' keyring requests that did not decode.
	keyringMalformed atomic.Uint64

	// lifeMu makes shutdown exclusive with the calls memberlist forbids after
	// it (Leave panics) and with starting Run.
	lifeMu sync.RWMutex
	shut   bool
	done   chan struct{} // closed by Shutdown: Run returns
	// staleSelf is signalled when a peer gossips this node's name at
	// another address (this node came back on a new one): Run announces
	// the new address again until the peers take it.
	staleSelf chan struct{}
	runWG     sync.WaitGroup
	left      atomic.Bool
	once      sync.Once
	err       error // Shutdown's result
}

// Option configures optional collaborators of New.
type Option func(*options)

type options struct {
	log      zerolog.Logger
	filter   func(string) bool
	state    StateDelegate
	resolver Resolver
}

// WithLogger sets the parent logger; the Membership logs with
// component=gossip and node=<name>. Default: zerolog.Nop().
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// WithPacketFilter installs a fault-injection filter for tests: when
// allow(remoteAddr) is false, packets to remoteAddr are dropped, stream dials
// to it fail and packets from it are dropped. remoteAddr is a gossip
// host:port as in Member.Addr. allow is called for every packet from several
// goroutines: keep it cheap and concurrency-safe.
func WithPacketFilter(allow func(remoteAddr string) bool) Option {
	return func(o *options) { o.filter = allow }
}

// WithResolver sets the resolver inventory discovery asks (default:
// net.DefaultResolver); tests point it at their own DNS server.
func WithResolver(r Resolver) Option { return func(o *options) { o.resolver = r } }

// WithStateDelegate plugs replicated eventually-consistent state into
// gossip broadcasts and push/pull (see StateDelegate).
func WithStateDelegate(d StateDelegate) Option { return func(o *options) { o.state = d } }

// New validates cfg, binds the gossip listeners and starts memberlist with
// meta as this node's metadata. It contacts no one: Run joins.
func New(cfg Config, meta Meta, opts ...Option) (*Membership, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{log: zerolog.Nop(), resolver: net.DefaultResolver}
	for _, opt := range opts {
		opt(&o)
	}
	metaBytes, err := meta.Encode()
	if err != nil {
		return nil, fmt.Errorf("gossip: local meta: %w", err)
	}
	m := &Membership{
		cfg:       cfg,
		log:       o.log.With().Str("component", "gossip").Logger(),
		limiter:   newRateLimiter(logWindow),
		state:     o.state,
		meta:      meta,
		metaBytes: metaBytes,
		done:      make(chan struct{}),
		staleSelf: make(chan struct{}, 1),
		resolver:  o.resolver,
	}
	if cfg.DiscoverDNS != "" || cfg.DiscoverFile != "" {
		m.inv = &inventory{}
	}
	m.view = newView(cfg.ForgetDeadAfter, &m.counters)
	mlLog := log.New(logWriter{log: m.log, c: &m.counters}, "", 0)

	tr, err := newTransport(cfg.BindAddr, cfg.BindPort, mlLog, o.filter, &m.counters)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	mc := cfg.memberlistConfig()
	mc.Transport = tr
	mc.Logger = mlLog
	// memberlist uses BindPort as the default port of join addresses and
	// AdvertisePort when AdvertiseAddr is set: both must be the real port.
	mc.BindPort = tr.boundPort()
	m.bindPort = uint16(mc.BindPort)
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = mc.BindPort
	}
	keys, err := m.startKeys()
	if err != nil {
		_ = tr.Shutdown()
		return nil, err
	}
	if len(keys) > 0 {
		kr, err := memberlist.NewKeyring(keys, keys[0])
		if err != nil {
			_ = tr.Shutdown()
			return nil, fmt.Errorf("gossip: keyring: %w", err)
		}
		mc.Keyring = kr
		m.keyring = kr
	}
	d := delegates{m: m}
	mc.Delegate = d
	mc.Events = d
	mc.Alive = d
	mc.Merge = d
	mc.Conflict = d
	mc.Ping = d

	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = tr.Shutdown() // memberlist shuts its transport down only on some paths
		return nil, fmt.Errorf("gossip: start memberlist: %w", err)
	}
	m.ml = ml
	m.retransmitMult = mc.RetransmitMult
	m.local = ml.LocalNode().Address()
	m.self.Store(&m.local)
	m.log.Info().Str("addr", m.local).Bool("encrypted", m.keyring != nil).Msg("gossip started")
	return m, nil
}

// LocalName is this node's name.
func (m *Membership) LocalName() string { return m.cfg.Name }

// LocalAddr is the advertised gossip host:port.
func (m *Membership) LocalAddr() string { return m.local }

// Members returns a snapshot of the view sorted by name, this node included,
// dead and left members included until Config.ForgetDeadAfter.
func (m *Membership) Members() []Member { return m.view.list(time.Now()) }

// Member returns one member of the view.
func (m *Membership) Member(name string) (Member, bool) { return m.view.get(name, time.Now()) }

// NumAlive counts live members, this node included.
func (m *Membership) NumAlive() int { return m.view.numAlive() }

// LocalMeta returns this node's current meta.
func (m *Membership) LocalMeta() Meta {
	m.metaMu.RLock()
	defer m.metaMu.RUnlock()
	return m.meta
}

// HealthScore is memberlist's awareness score: 0 is healthy, higher means
// this node is missing its own probe deadlines (DESIGN §12 fails readiness
// above 4).
func (m *Membership) HealthScore() int { return m.ml.GetHealthScore() }

// DisseminationWindow is how long a broadcast from this node keeps being
// gossiped at the current cluster size: memberlist sends every broadcast
// RetransmitMult * ceil(log10(N+1)) times, to GossipNodes random peers per
// GossipInterval round. Within that window an update reaches every live
// member with high probability (epidemic spread doubles its reach per
// round); a member it missed learns it only at the next push/pull
// (PushPullInterval). It is an estimate from the configuration and N, not a
// measurement: it grows with log N, which is what an operator watching a
// growing cluster wants to see.
func (m *Membership) DisseminationWindow() time.Duration {
	n := m.NumAlive()
	if n < 1 {
		n = 1
	}
	rounds := m.retransmitMult * int(math.Ceil(math.Log10(float64(n+1))))
	return time.Duration(rounds) * m.cfg.GossipInterval
}

// Stats returns the counters.
func (m *Membership) Stats() Stats { return m.counters.snapshot() }

// Subscribe returns a channel of membership events and a function that ends
// the subscription and closes the channel. Sends never block: when the
// buffer (at least 1) is full the event is dropped and counted in
// Stats.DroppedEvents, so a subscriber must reconcile from Members now and
// then. Shutdown closes every subscription.
func (m *Membership) Subscribe(buffer int) (<-chan Event, func()) {
	return m.view.subscribe(buffer)
}

// UpdateMeta applies f to a copy of this node's meta and gossips the result.
// If the result does not encode (too large) nothing changes and the error
// wraps ErrMetaTooLarge. Otherwise the new meta is in effect locally at once;
// UpdateMeta then waits for the broadcast to go out, until ctx's deadline
// (Config.TCPTimeout without one), and returns an error wrapping
// ErrBroadcastTimeout if it did not (gossip still spreads it later).
func (m *Membership) UpdateMeta(ctx context.Context, f func(*Meta)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.lifeMu.RLock()
	defer m.lifeMu.RUnlock()
	if m.shut {
		return ErrShutdown
	}
	m.updateMu.Lock()
	defer m.updateMu.Unlock()
	return m.updateMetaLocked(ctx, f)
}

func (m *Membership) updateMetaLocked(ctx context.Context, f func(*Meta)) error {
	next := m.LocalMeta()
	f(&next)
	b, err := next.Encode()
	if err != nil {
		return fmt.Errorf("update meta: %w", err)
	}
	m.metaMu.Lock()
	m.meta, m.metaBytes = next, b
	m.metaMu.Unlock()
	if m.left.Load() && !next.Leaving {
		// After Leave a broadcast would announce us alive again, and it
		// would wait for peers that no longer listen: keep it local.
		return nil
	}

	timeout := m.cfg.TCPTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return fmt.Errorf("update meta: %w: %w", ErrBroadcastTimeout, context.DeadlineExceeded)
		}
	}
	if err := m.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("update meta: %w: %v", ErrBroadcastTimeout, err)
	}
	return nil
}

// SetClusterID records the cluster ID in this node's meta and gossips it.
// From then on the cluster-ID guard refuses peers of any other ID. A
// broadcast that is slow to go out is logged, not returned: the ID is in
// effect locally either way.
func (m *Membership) SetClusterID(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.TCPTimeout)
	defer cancel()
	if err := m.UpdateMeta(ctx, func(meta *Meta) { meta.ClusterID = id }); err != nil {
		m.log.Warn().Err(err).Str("cluster_id", id).Msg("set cluster id")
	}
}

// Leave announces a graceful departure and waits up to timeout for it to go
// out: first a meta update with Leaving set (peers then report NodeLeft
// rather than NodeFailed, see the package comment), then memberlist's leave
// broadcast. The node keeps answering gossip until Shutdown, but Run stops
// rejoining. Calling it again is harmless.
func (m *Membership) Leave(timeout time.Duration) error {
	m.lifeMu.RLock()
	defer m.lifeMu.RUnlock()
	if m.shut {
		return ErrShutdown
	}
	m.updateMu.Lock()
	defer m.updateMu.Unlock()
	m.left.Store(true)
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var errs []error
	if !m.LocalMeta().Leaving {
		if err := m.updateMetaLocked(ctx, func(meta *Meta) { meta.Leaving = true }); err != nil {
			errs = append(errs, err) // still leave: the dead message matters more
		}
	}
	remaining := time.Until(deadline)
	if remaining <= 0 {
		remaining = time.Millisecond // 0 would make memberlist wait forever
	}
	if err := m.ml.Leave(remaining); err != nil {
		errs = append(errs, fmt.Errorf("leave: %w: %v", ErrBroadcastTimeout, err))
	}
	m.log.Info().Msg("left the cluster")
	return errors.Join(errs...)
}

// Shutdown stops memberlist without a leave broadcast (peers will declare
// this node failed; call Leave first for a graceful exit), waits for Run and
// the transport's goroutines to return, and closes all subscriptions. It is
// idempotent.
func (m *Membership) Shutdown() error {
	m.once.Do(func() {
		m.lifeMu.Lock()
		m.shut = true
		close(m.done)
		m.lifeMu.Unlock()
		// memberlist shuts our transport down first, which cancels in-flight
		// dials so a Run stuck in a join returns quickly.
		if err := m.ml.Shutdown(); err != nil {
			m.err = fmt.Errorf("gossip: shutdown: %w", err)
		}
		m.runWG.Wait()
		m.view.close()
		m.log.Info().Msg("gossip stopped")
	})
	return m.err
}
