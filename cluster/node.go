package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/cluster/health"
	"github.com/conclave-dev/conclave/cluster/session"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internode"
	"github.com/conclave-dev/conclave/kv"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
	"github.com/conclave-dev/conclave/pg"
	"github.com/conclave-dev/conclave/raftcore"
	"github.com/conclave-dev/conclave/registry"
)

// Option configures a Node.
type Option func(*options)

type options struct {
	logger     zerolog.Logger
	registerer prometheus.Registerer
	local      bool
	faults     *Faults
	// hashEvery and hashInterval tune the state-hash cross-check (0: the
	// defaults, local or not).
	hashEvery    uint64
	hashInterval time.Duration
	raftTimeout  time.Duration
}

// WithRaftTimeout sets Raft's heartbeat, election and leader-lease
// timeouts (tests: a dozen in-process nodes under the race detector on two
// cores starve each other past the local timings' second and hold
// elections without end).
func WithRaftTimeout(d time.Duration) Option { return func(o *options) { o.raftTimeout = d } }

// WithStateHash sets how often a member hashes its state (every entries)
// and compares its hashes with the other members' (interval); tests make
// them small.
func WithStateHash(every uint64, interval time.Duration) Option {
	return func(o *options) { o.hashEvery, o.hashInterval = every, interval }
}

// The state-hash cross-check's defaults: a checkpoint every 8192 entries
// (the Raft snapshot threshold: hashing costs about what a snapshot costs),
// compared every 30 s; a local (test) node every 256 entries, every 10 s
// (a test of the check sets its own with WithStateHash; many in-process
// nodes comparing each second load a 2-core machine).
const (
	defaultHashEvery    = 8192
	defaultHashInterval = 30 * time.Second
	localHashEvery      = 256
	localHashInterval   = 10 * time.Second
)

// WithLogger sets the parent logger; the node adds node=<name> to every line.
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRegisterer sets the Prometheus registerer for the node's metrics.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.registerer = r } }

// WithLocalTimings uses every package's DefaultLocalConfig: fast gossip,
// Raft and bootstrap timings for in-process clusters on one machine.
func WithLocalTimings() Option { return func(o *options) { o.local = true } }

// Faults lets a test harness cut links in the transports. Both functions
// are called on hot paths (per gossip packet, per internode dial) and must
// be cheap and safe for concurrent use.
type Faults struct {
	// GossipAllowed reports whether gossip packets to and from the gossip
	// address addr may pass.
	GossipAllowed func(addr string) bool
	// MeshAllowed returns an error if internode traffic to addr is cut.
	MeshAllowed func(addr string) error
	// DropGroupDelta, if set, is asked before every process-group delta
	// is sent to peer; true drops it, as if lost (anti-entropy tests).
	DropGroupDelta func(peer string) bool
	// LogAppend, if set, is asked before every append to the Raft log
	// store; an error fails the append as a full disk would.
	LogAppend func() error
}

// WithFaults installs fault injection in the gossip and internode transports.
func WithFaults(f *Faults) Option { return func(o *options) { o.faults = f } }

// Node is one conclave agent: gossip, the internode mesh, the Raft core and
// the replicated tables, wired together. All methods are safe for concurrent use.
type Node struct {
	cfg  config.Config
	log  zerolog.Logger
	lock *dataDirLock
	mesh *internode.Mesh
	ml   *gossip.Membership
	core *raftcore.Core
	fsm  *fsm
	// The replicated tables, registered in fsm, and the services over them.
	kv        *kv.Service
	kvTable   *kv.Replicated
	lockTable *locks.Replicated
	lockSvc   *locks.Service
	admission *raftcore.Admissions
	aclTable  *acl.Replicated
	acl       *acl.Service
	// groups is the process-group service (package pg), outside Raft.
	groups *pg.Service
	// resolver names the node at an internode address for TLS dials.
	resolver meshResolver
	// impostors counts mesh requests refused because the sender they name
	// is not the connection's verified node.
	impostors atomic.Uint64
	// hints carries lock grant hints to waiters' nodes (grant_hints.go).
	hints *grantHints

	sessions *session.Service
	// names is the name service (package naming); nameGossip carries its
	// eventual scope over gossip.
	names      *naming.Service
	nameGossip *nameGossip
	// ekv is the eventual KV store, gossiped through nameGossip.
	ekv *kv.EventualService
	// registry is the service registry (package registry), Raft-backed.
	registry *registry.Service
	health   *health.Checker
	// clock is the node's time (health checks, Members' LastSeen).
	clock health.Clock

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
	done     chan struct{}
}

// New builds a Node from cfg and starts it: it binds its ports, joins gossip
// and starts Raft (bootstrapping per raft.bootstrap_expect). It returns once
// the node is serving; forming a cluster continues in the background.
func New(cfg config.Config, opts ...Option) (*Node, error) {
	o := options{logger: zerolog.Nop()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := errors.Join(cfg.Validate(), cfg.CheckExposure()); err != nil {
		return nil, err
	}
	key, err := cfg.GossipKey()
	if err != nil {
		return nil, err
	}
	// The data dir is locked before any port is bound: a second agent on it
	// must fail before it gossips under the first one's name.
	lock, err := lockDataDir(cfg.Cluster.DataDir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = lock.release()
		}
	}()
	n := &Node{
		lock:  lock,
		cfg:   cfg,
		log:   o.logger.With().Str("node", cfg.Cluster.Name).Logger(),
		done:  make(chan struct{}),
		clock: health.SystemClock{},
		hints: newGrantHints(),
	}
	if n.sessions, err = n.newSessions(lock.fresh, o.local); err != nil {
		return nil, err
	}
	if n.names, n.nameGossip, err = n.newNames(cfg); err != nil {
		return nil, err
	}
	n.ekv = n.newEventualKV(n.nameGossip)
	// The lock service is built before the core (lockCore reads n.core
	// when called); the table's events reach it from the first entry.
	n.lockTable = locks.NewReplicated(func(ev []locks.IndexedEvent) { n.lockSvc.Deliver(ev) })
	lockCfg := locks.DefaultConfig(cfg.Cluster.Name)
	if o.local {
		lockCfg = locks.DefaultLocalConfig(cfg.Cluster.Name)
	}
	if n.lockSvc, err = locks.NewService(lockCfg, n.lockTable, proposer{n}, lockSessions{n.sessions},
		locks.WithLogger(n.log), locks.WithGrantPush(n.pushGrant)); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.sessions.OnEnd(n.lockSvc.SessionEnded)
	n.admission = raftcore.NewAdmissions()
	n.aclTable = acl.NewReplicated()
	n.acl = acl.NewService(acl.Config{Enabled: cfg.ACL.Enabled, DefaultAllow: cfg.ACL.DefaultPolicy == "allow",
		ResetFile: filepath.Join(cfg.Cluster.DataDir, "acl-bootstrap-reset"),
		// A client holds no replica: it resolves tokens through a server.
		Replica: func() bool { return n.core == nil || n.core.IsMember() }},
		proposer{n}, n.aclTable, n.clock.Now)
	if n.registry, err = n.newRegistry(o.local); err != nil {
		return nil, err
	}
	n.fsm = newFSM(n.log)
	hashEvery, hashInterval := uint64(defaultHashEvery), defaultHashInterval
	if o.local {
		hashEvery, hashInterval = localHashEvery, localHashInterval
	}
	if o.hashEvery > 0 {
		hashEvery, hashInterval = o.hashEvery, o.hashInterval
	}
	n.fsm.hashes = newStateHashes(hashEvery)
	// The tables, one line each; the order is the snapshot's, and release
	// commands reach the session-owned tables in this order.
	n.kvTable = kv.NewReplicated()
	if err := n.fsm.registerTables(tables{kv: n.kvTable, locks: n.lockTable, names: n.names.Table(),
		admission: n.admission, acl: n.aclTable, registry: n.registry.Table()}); err != nil {
		return nil, err
	}
	if o.registerer != nil {
		n.fsm.applyLatency = newApplyLatency()
	}
	// A halted FSM (a checksum mismatch) must not lead: the Core hands
	// leadership off. n.core is set before Raft applies anything.
	n.fsm.onHalt = func(uint64) { n.core.StepDown() }
	n.sessions.OnEnd(n.names.SessionEnded)
	if n.health, err = n.newHealth(o.local); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.health.Add(health.Check{Name: "fsm_integrity", ReadyOnly: true, Check: n.fsm.checkIntegrity})
	n.health.Add(health.Check{Name: "log_store", ReadyOnly: true, Check: n.checkLogStore})
	n.health.Add(health.Check{Name: "state_hash", ReadyOnly: true, Check: n.checkStateHash})

	meshOpts := []internode.Option{internode.WithLogger(n.log)}
	mt, err := meshTLS(cfg, &n.resolver)
	if err != nil {
		return nil, err
	}
	if mt != nil {
		meshOpts = append(meshOpts, internode.WithTLS(*mt))
	}
	gossipOpts := []gossip.Option{gossip.WithLogger(n.log), gossip.WithStateDelegate(n.nameGossip)}
	if o.faults != nil {
		if o.faults.MeshAllowed != nil {
			meshOpts = append(meshOpts, internode.WithDialGate(o.faults.MeshAllowed))
		}
		if o.faults.GossipAllowed != nil {
			gossipOpts = append(gossipOpts, gossip.WithPacketFilter(o.faults.GossipAllowed))
		}
	}
	n.mesh, err = internode.New(meshConfig(cfg, o.local), meshOpts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	rc := raftConfig(cfg, o.local)
	if o.raftTimeout > 0 {
		rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = o.raftTimeout, o.raftTimeout, o.raftTimeout
	}
	n.ml, err = gossip.New(gossipConfig(cfg, key, o.local), gossip.Meta{
		Role:          cfg.Cluster.Raft.Role,
		Eligible:      cfg.Cluster.Raft.Eligible,
		Priority:      cfg.Cluster.Raft.Priority,
		FailureDomain: cfg.Cluster.FailureDomain,
		InternodeAddr: n.mesh.Addr(),
		APIAddr:       cfg.API.GRPCAddr,
		HTTPAddr:      cfg.API.HTTPAddr,
		Expect:        cfg.Cluster.Raft.BootstrapExpect,
	}, gossipOpts...)
	if err != nil {
		n.mesh.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.nameGossip.ml.Store(n.ml)
	n.resolver.ml.Store(n.ml)
	n.core, err = raftcore.New(rc, raftcore.Deps{
		FSM:        n.fsm,
		Querier:    n.fsm,
		Streams:    n.mesh.StreamLayer(internode.ClassRaft),
		View:       view{n.ml},
		Requester:  requester{n.mesh},
		Publisher:  publisher{n.ml},
		Screener:   n.fsm,
		Admissions: n.admission,
	}, raftOptions(n.log, o.faults)...)
	if err != nil {
		n.ml.Shutdown()
		n.mesh.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.resolver.core.Store(n.core)
	n.hints.on.Store(true)
	n.kv = kv.NewService(proposer{n}, kv.WithReplica(n.kvTable, n.core.IsMember))
	n.mesh.Handle(internode.ClassForward, n.core.HandleForward)
	n.mesh.Handle(internode.ClassAck, n.names.HandleAck)
	n.mesh.Handle(internode.ClassKeyring, func(_ context.Context, req []byte) ([]byte, error) { return n.ml.HandleKeyring(req) })
	n.mesh.Handle(internode.ClassHash, n.handleHash)
	n.mesh.Handle(internode.ClassGrant, n.handleGrantHint)
	if err := n.newGroups(cfg, o.local, o.faults); err != nil {
		_ = n.core.Shutdown()
		n.ml.Shutdown()
		n.mesh.Close()
		return nil, err
	}
	if o.registerer != nil {
		if err := n.registerMetrics(o.registerer); err != nil {
			_ = n.core.Shutdown()
			n.ml.Shutdown()
			n.mesh.Close()
			return nil, err
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	events, unsubscribe := n.ml.Subscribe(64)
	n.goRun(func() { _ = n.ml.Run(ctx) })
	n.goRun(func() { _ = n.core.Run(ctx) })
	// Sessions open once the previous incarnation's are released (at once
	// on a brand-new data dir); see session.Config.Fresh.
	n.goRun(func() { _ = n.sessions.Run(ctx) })
	n.goRun(func() { _ = n.lockSvc.Run(ctx) })
	n.goRun(func() { _ = n.names.Run(ctx) })
	n.goRun(func() { _ = n.ekv.Run(ctx) })
	n.goRun(func() { _ = n.registry.Run(ctx) })
	n.goRun(func() { _ = n.health.Run(ctx) })
	n.goRun(func() { n.hashLoop(ctx, hashInterval) })
	n.goRun(func() { n.grantHintLoop(ctx) })
	n.goRun(func() { _ = n.groups.Run(ctx) })
	n.goRun(func() {
		defer unsubscribe()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return // gossip shut down
				}
				n.core.Notify()
				if ev.Kind == gossip.NodeFailed || ev.Kind == gossip.NodeLeft {
					n.names.NodeGone(ev.Member.Name)
				}
				n.groupsOnGossip(ev)
			}
		}
	})
	n.log.Info().Str("gossip", n.ml.LocalAddr()).Str("internode", n.mesh.Addr()).
		Int("bootstrap_expect", cfg.Cluster.Raft.BootstrapExpect).Msg("node started")
	ok = true
	return n, nil
}

func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// raftOptions are the Core's options: the node's logger, and the log
// store's fault when a test injects one.
func raftOptions(log zerolog.Logger, f *Faults) []raftcore.Option {
	opts := []raftcore.Option{raftcore.WithLogger(log)}
	if f != nil && f.LogAppend != nil {
		opts = append(opts, raftcore.WithLogAppendFault(f.LogAppend))
	}
	return opts
}

func raftConfig(cfg config.Config, local bool) raftcore.Config {
	rc := raftcore.DefaultConfig()
	if local {
		rc = raftcore.DefaultLocalConfig()
	}
	rc.NodeID = cfg.Cluster.Name
	rc.Dir = filepath.Join(cfg.Cluster.DataDir, "_sys", "raft")
	rc.BootstrapExpect = cfg.Cluster.Raft.BootstrapExpect
	rc.Eligible = cfg.Cluster.Raft.Eligible && cfg.Cluster.Raft.Role != "client"
	rc.MaxVoters = cfg.Cluster.Raft.MaxVoters
	rc.MaxStandbys = cfg.Cluster.Raft.MaxStandbys
	rc.Stabilization = cfg.Cluster.Raft.Stabilization.Duration()
	rc.ReconcileDebounce = cfg.Cluster.Raft.ReconcileDebounce.Duration()
	rc.ManualAdmission = cfg.Cluster.Raft.Admission == config.AdmissionManual
	rc.LogStore = cfg.Cluster.Raft.LogStore
	// The snapshot settings: a local (test) node keeps its small values
	// unless its config says otherwise.
	r, def := cfg.Cluster.Raft, config.Default().Cluster.Raft
	if !local || r.SnapshotThreshold != def.SnapshotThreshold {
		rc.SnapshotThreshold = uint64(r.SnapshotThreshold)
	}
	if !local || r.SnapshotInterval != def.SnapshotInterval {
		rc.SnapshotInterval = r.SnapshotInterval.Duration()
	}
	if !local || r.TrailingLogs != def.TrailingLogs {
		rc.TrailingLogs = uint64(r.TrailingLogs)
	}
	return rc
}

func meshConfig(cfg config.Config, local bool) internode.Config {
	mc := internode.DefaultConfig()
	if local {
		mc = internode.DefaultLocalConfig()
	}
	in := cfg.Cluster.Internode
	mc.BindAddr = cfg.Cluster.InternodeBindAddr()
	mc.BindPort = in.BindPort
	if in.BindPort == config.EphemeralPort {
		mc.BindPort, mc.PortMin, mc.PortMax = 0, 0, 0
	}
	mc.AdvertiseAddr = in.AdvertiseAddr
	if mc.AdvertiseAddr == "" {
		mc.AdvertiseAddr = cfg.Cluster.Membership.AdvertiseAddr
	}
	return mc
}

func gossipConfig(cfg config.Config, key []byte, local bool) gossip.Config {
	gc := gossip.DefaultConfig()
	if local {
		gc = gossip.DefaultLocalConfig()
	}
	m := cfg.Cluster.Membership
	gc.Name = cfg.Cluster.Name
	gc.BindAddr = m.BindAddr
	gc.BindPort = m.BindPort
	gc.AdvertiseAddr = m.AdvertiseAddr
	gc.AdvertisePort = m.AdvertisePort
	gc.JoinAddrs = append([]string(nil), m.JoinAddrs...)
	gc.DiscoverDNS, gc.DiscoverFile = m.Discover.DNS, m.Discover.File
	gc.DiscoverInterval = m.Discover.Interval.Duration()
	gc.AllowOnlyInventory = m.AllowOnlyInventory
	if key != nil {
		gc.Keys = [][]byte{key}
	}
	// The keyring file wins over the configured key once it exists, so a
	// key rotated with `conclave keyring` survives a restart.
	gc.KeyringFile = filepath.Join(cfg.Cluster.DataDir, "_sys", "gossip.keyring")
	return gc
}

// Name is the node name (memberlist name and Raft server ID).
func (n *Node) Name() string { return n.cfg.Cluster.Name }

// GossipAddr is the advertised gossip address (what join_addrs point at).
func (n *Node) GossipAddr() string { return n.ml.LocalAddr() }

// InternodeAddr is the advertised internode mesh address (the Raft address).
func (n *Node) InternodeAddr() string { return n.mesh.Addr() }

// DropLinks closes every internode session to and from addr: with a Faults
// gate that refuses addr, it cuts the link completely (tests).
func (n *Node) DropLinks(addr string) { n.mesh.ClosePeer(addr) }

// Done is closed once the node has stopped (by Shutdown, Leave or Close).
func (n *Node) Done() <-chan struct{} { return n.done }

// Shutdown stops the node gracefully: hands off leadership if leader, leaves
// gossip, closes Raft and flushes its stores. The node stays in the Raft
// configuration, so a restart on the same data dir rejoins as before.
func (n *Node) Shutdown(ctx context.Context) error {
	return n.stop(ctx, false)
}

// Leave removes this node from the Raft configuration (handing off
// leadership first if it leads), leaves gossip and stops the node.
func (n *Node) Leave(ctx context.Context) error {
	return n.stop(ctx, true)
}

// Close stops the node at once, without leaving gossip or handing off
// leadership: to its peers it looks like a crash. The data dir stays
// consistent (bolt commits are atomic), so a restart recovers.
func (n *Node) Close() error {
	n.stopOnce.Do(func() {
		n.log.Info().Msg("node closing without leave")
		// Gossip first: like a crash, the node tells its peers nothing
		// (not even the tombstones of its sessions' eventual names).
		gerr := n.ml.Shutdown()
		n.sessions.CloseAll()
		n.names.Close()
		n.cancel()
		n.stopErr = errors.Join(n.core.Shutdown(), n.mesh.Close(), gerr)
		n.wg.Wait()
		n.stopErr = errors.Join(n.stopErr, n.lock.release())
		close(n.done)
	})
	return n.stopErr
}

func (n *Node) stop(ctx context.Context, leave bool) error {
	ran := false
	n.stopOnce.Do(func() {
		ran = true
		var errs []error
		// Everything the sessions held goes in one entry, at once, rather
		// than after peers declare this node gone.
		n.sessions.CloseAll()
		n.names.Close()
		rctx, cancel := context.WithTimeout(ctx, n.core.ApplyTimeout())
		if err := n.sessions.ReleaseNode(rctx, n.Name()); err != nil {
			n.log.Warn().Err(err).Msg("release of this node's sessions at stop failed")
		}
		cancel()
		if leave {
			n.log.Info().Msg("leaving the cluster")
			if err := n.core.Leave(ctx); err != nil {
				errs = append(errs, fmt.Errorf("cluster: leave raft: %w", err))
			}
		}
		n.log.Info().Msg("node stopping")
		if err := n.ml.Leave(leaveTimeout(ctx)); err != nil {
			// Peers that are gone or going cannot acknowledge: they will
			// see us fail instead of leave, which is no reason to fail.
			n.log.Warn().Err(err).Msg("gossip leave not confirmed")
		}
		errs = append(errs, n.core.Stop(ctx))
		n.cancel()
		errs = append(errs, n.mesh.Close(), n.ml.Shutdown())
		n.wg.Wait()
		errs = append(errs, n.lock.release())
		n.stopErr = errors.Join(errs...)
		n.log.Info().Msg("node stopped")
		close(n.done)
	})
	if !ran {
		<-n.done
	}
	return n.stopErr
}

func leaveTimeout(ctx context.Context) time.Duration {
	const max = 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl) / 2; d < max {
			return d
		}
	}
	return max
}

// Admit records node as admitted to the Raft core (raft.admission:
// manual); see raftcore.Core.Admit.
func (n *Node) Admit(ctx context.Context, node string) error { return n.core.Admit(ctx, node) }

// AdmittedNodes lists, by name, the servers admitted to the Raft core in
// this node's replica (empty on a client node, which holds none).
func (n *Node) AdmittedNodes() []string { return n.admission.Nodes() }
