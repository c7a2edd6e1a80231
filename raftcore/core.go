package raftcore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
)

// Option configures a Core.
type Option func(*Core)

// WithLogger sets the logger; raft's own log lines are routed into it too.
func WithLogger(l zerolog.Logger) Option { return func(c *Core) { c.log = l } }

// WithClock injects the clock used by the bootstrap stability window.
func WithClock(now func() time.Time) Option { return func(c *Core) { c.now = now } }

// WithStores runs the Core on the given stores instead of the ones it opens
// under Config.Dir by default (Config.LogStore's log store, the bolt stable
// store and file snapshots); Config.LogStore and WALSegmentSize are then
// unused, and Dir holds only the cluster ID. The caller owns the stores:
// Shutdown does not close them. Tests use raft.NewInmemStore and
// raft.NewInmemSnapshotStore.
func WithStores(s Stores) Option { return func(c *Core) { c.injected = &s } }

// Core is one Raft server: hashicorp/raft over the injected stream layer,
// a bolt stable store, a bolt or WAL log store, file snapshots (or the
// stores given WithStores), bootstrap_expect, leader forwarding and read
// modes. It knows nothing of what the FSM holds.
type Core struct {
	cfg      Config
	deps     Deps
	log      zerolog.Logger
	now      func() time.Time
	injected *Stores // WithStores, nil for the default stores

	raft        raftNode
	closeStores func() error
	transport   *raft.NetworkTransport
	// logWatch records the log store's append failures (log_store check);
	// appendFault, a test hook, fails appends on demand.
	logWatch    *watchedLog
	appendFault func() error
	// early lets the leader replicate its entries while it syncs them
	// (Config.EarlyReplication, early.go); nil when off.
	early    *earlyLog
	observer *raft.Observer
	obsCh    chan raft.Observation

	nonce    string
	hadState bool // Raft state existed on disk at start: never bootstrap

	mu         sync.Mutex
	clusterID  string
	sawFormed  bool          // saw a formed cluster: never bootstrap in this process
	changed    chan struct{} // closed and replaced on every leader or config change
	removed    map[string]time.Time
	readyTerm  atomic.Uint64 // term in which this leader's barrier completed
	member     atomic.Bool   // in the Raft configuration, replica caught up (refreshMember)
	joinCommit atomic.Uint64 // commit index+1 seen when this node found itself added; 0 when not pending
	displaced  atomic.Bool   // its configuration lists it, the leader's does not (displaced.go)
	notifyCh   chan struct{}
	stepDown   atomic.Bool   // StepDown was called: hand off leadership whenever this node leads
	stepDownCh chan struct{} // wakes the leader loop for stepDown
	rec        *reconciler
	stopOnce   sync.Once
	shutdownCh chan struct{}
	// heartbeats gates raft's heartbeat handler, which runs on transport
	// goroutines, so Shutdown can wait for it before closing the stores.
	heartbeats *heartbeatGate
	// rpcs is what raft consumes: the network's RPCs, and the TimeoutNow
	// a follower gives itself when its leader's process is gone.
	rpcs *rpcMux
	// verify coalesces the leadership confirmations of consistent reads.
	verify verifyRounds

	stats struct {
		malformed     atomic.Uint64
		forwarded     atomic.Uint64
		lastForward   atomic.Int64  // time.Now().UnixNano() of the last forwarded request
		screened      atomic.Uint64 // commands the Screener refused
		leaderChanges atomic.Uint64
		leaderLoss    atomic.Uint64
		lastLeader    atomic.Pointer[string]
		earlyAppends  atomic.Uint64
	}
}

const clusterIDFile = "cluster_id"

// New opens the stores under cfg.Dir (or takes those given WithStores) and
// starts Raft on deps.Streams. It does not bootstrap: Run does that (and
// everything else that loops).
func New(cfg Config, deps Deps, opts ...Option) (*Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.FSM == nil || deps.Querier == nil || deps.Streams == nil || deps.View == nil ||
		deps.Requester == nil || deps.Publisher == nil {
		return nil, errors.New("raftcore: every field of Deps but Screener and Admissions must be set")
	}
	if cfg.ManualAdmission && deps.Admissions == nil {
		return nil, errors.New("raftcore: manual admission needs Deps.Admissions")
	}
	c := &Core{
		cfg:        cfg,
		deps:       deps,
		log:        zerolog.Nop(),
		now:        time.Now,
		changed:    make(chan struct{}),
		removed:    make(map[string]time.Time),
		notifyCh:   make(chan struct{}, 1),
		stepDownCh: make(chan struct{}, 1),
		rec:        newReconciler(),
		heartbeats: &heartbeatGate{},
		shutdownCh: make(chan struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.With().Str("component", "raft").Logger()
	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("raftcore: nonce: %w", err)
	}
	c.nonce = hex.EncodeToString(nonce)

	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("raftcore: data dir: %w", err)
	}
	hl := newHclog(c.log)
	st, logPath, closeStores, err := c.openStores(hl)
	if err != nil {
		return nil, err
	}
	c.closeStores = closeStores
	c.logWatch = &watchedLog{LogStore: st.Log, now: c.now, fault: c.appendFault}
	logs, err := raft.NewLogCache(512, c.logWatch)
	if err != nil {
		closeStores()
		return nil, fmt.Errorf("raftcore: log cache: %w", err)
	}
	c.hadState, err = hasState(logPath, logs, st.Stable, st.Snapshots)
	if err != nil {
		closeStores()
		return nil, err
	}
	if c.hadState {
		c.clusterID = readClusterID(cfg.Dir)
	} else {
		// An ID without Raft state is left from an interrupted bootstrap.
		_ = os.Remove(filepath.Join(cfg.Dir, clusterIDFile))
	}

	c.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		// The leader-loss probe (leaderloss.go) dials deps.Streams itself:
		// it wants a refusal at once.
		Stream:  patientStreams{StreamLayer: deps.Streams, wait: time.Second, retry: 50 * time.Millisecond, done: c.shutdownCh},
		MaxPool: transportMaxPool,
		Timeout: 10 * time.Second,
		Logger:  hl.Named("transport"),
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hl
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	// Without this, a node that was removed from the configuration shuts
	// its Raft down; we keep it running so it can be added back.
	rc.ShutdownOnRemove = false

	c.rpcs = newRPCMux(c.transport.Consumer())
	trans := serialTransport{NetworkTransport: c.transport, hb: c.heartbeats, rpcs: c.rpcs}
	raftLogs, fsm := c.wrapEarly(logs, deps.FSM, &trans)
	r, err := raft.NewRaft(rc, fsm, raftLogs, st.Stable, st.Snapshots, trans)
	if err != nil {
		c.rpcs.stop()
		c.transport.Close()
		c.stopEarly()
		closeStores()
		return nil, fmt.Errorf("raftcore: start raft: %w", err)
	}
	c.raft = r
	if c.early != nil {
		c.early.start(r)
	}
	c.obsCh = make(chan raft.Observation, 16)
	c.observer = raft.NewObserver(c.obsCh, false, func(o *raft.Observation) bool {
		switch d := o.Data.(type) {
		case raft.LeaderObservation:
			// Counted here, in raft's goroutine, before the non-blocking
			// send that may drop the observation when obsCh is full.
			c.noteLeader(string(d.LeaderID))
			return true
		case raft.RaftState, raft.PeerObservation,
			raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	c.raft.RegisterObserver(c.observer)
	c.refreshMember()
	return c, nil
}

// noteLeader counts a leader change when raft reports a leader other than
// the last one it reported (after none, or after another).
func (c *Core) noteLeader(id string) {
	prev := c.stats.lastLeader.Swap(&id)
	if id != "" && (prev == nil || *prev != id) {
		c.stats.leaderChanges.Add(1)
	}
}

// Notify tells the Core that the membership view changed. It never blocks;
// a periodic pass repairs anything a dropped notification missed.
func (c *Core) Notify() {
	select {
	case c.notifyCh <- struct{}{}:
	default:
	}
}

// signalChange wakes everyone waiting for a leader or configuration change.
func (c *Core) signalChange() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *Core) changedCh() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// ClusterID returns the cluster ID, "" until bootstrapped or learned.
func (c *Core) ClusterID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clusterID
}

func (c *Core) setClusterID(id string) error {
	c.mu.Lock()
	c.clusterID = id
	c.mu.Unlock()
	return writeClusterID(c.cfg.Dir, id)
}

func readClusterID(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, clusterIDFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func writeClusterID(dir, id string) error {
	tmp := filepath.Join(dir, clusterIDFile+".tmp")
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o640); err != nil {
		return fmt.Errorf("raftcore: write cluster id: %w", err)
	}
	f, err := os.Open(tmp)
	if err == nil {
		_ = f.Sync()
		f.Close()
	}
	if err := os.Rename(tmp, filepath.Join(dir, clusterIDFile)); err != nil {
		return fmt.Errorf("raftcore: write cluster id: %w", err)
	}
	return nil
}

// Server is one entry of the Raft configuration.
type Server struct {
	ID       string
	Address  string
	Suffrage string // voter | nonvoter
}

// Status is this node's view of the Raft core.
type Status struct {
	ID           string
	State        string // leader | follower | candidate | shutdown
	Member       bool   // in the configuration
	Term         uint64
	LeaderID     string
	LeaderAddr   string
	ClusterID    string
	CommitIndex  uint64
	AppliedIndex uint64
	LastIndex    uint64
	LastContact  time.Duration // 0 on the leader, or if never in contact
	Servers      []Server
}

// Status reports the node's Raft state.
func (c *Core) Status() Status {
	addr, id := c.raft.LeaderWithID()
	st := Status{
		ID:           c.cfg.NodeID,
		State:        strings.ToLower(c.raft.State().String()),
		Term:         c.raft.CurrentTerm(),
		LeaderID:     string(id),
		LeaderAddr:   string(addr),
		ClusterID:    c.ClusterID(),
		CommitIndex:  c.raft.CommitIndex(),
		AppliedIndex: c.raft.AppliedIndex(),
		LastIndex:    c.raft.LastIndex(),
	}
	if c.raft.State() != raft.Leader {
		if lc := c.raft.LastContact(); !lc.IsZero() {
			st.LastContact = c.now().Sub(lc)
		}
	}
	for _, s := range c.refreshMember() {
		suf := "voter"
		if s.Suffrage != raft.Voter {
			suf = "nonvoter"
		}
		st.Servers = append(st.Servers, Server{ID: string(s.ID), Address: string(s.Address), Suffrage: suf})
	}
	st.Member = c.member.Load()
	return st
}

// CommitIndex is the highest index this node knows committed; cheap (no
// configuration read), for samplers.
func (c *Core) CommitIndex() uint64 { return c.raft.CommitIndex() }

// ApplyTimeout is the bounded wait of Apply and Query.
func (c *Core) ApplyTimeout() time.Duration { return c.cfg.ApplyTimeout }

// IsLeader reports whether this node is the Raft leader now.
func (c *Core) IsLeader() bool { return c.raft.State() == raft.Leader }

// Stop shuts down gracefully: a leader with other voters hands leadership
// to one of them first, so the cluster does not wait out an election
// timeout. The node stays in the configuration.
//
// It then keeps answering forwarded requests ("not leader", nothing done)
// until none has come for forwardQuiet (at most forwardDrain, or ctx):
// peers still sending to this node while they learn of the new leader get
// an answer they can retry at the new leader, instead of a stream cut by
// the mesh's close after it, whose outcome they could not know.
func (c *Core) Stop(ctx context.Context) error {
	if c.IsLeader() && c.otherVoters() > 0 {
		if err := c.transferLeadership(ctx); err != nil {
			c.log.Warn().Err(err).Msg("leadership transfer before stop failed")
		}
	}
	err := c.Shutdown()
	c.drainForwards(ctx)
	return err
}

// Bounds of the drain of forwarded requests at Stop.
const (
	forwardQuiet = 100 * time.Millisecond
	forwardDrain = time.Second
)

func (c *Core) drainForwards(ctx context.Context) {
	if time.Since(time.Unix(0, c.stats.lastForward.Load())) > forwardQuiet {
		return // quiet already (a follower, usually)
	}
	limit := time.NewTimer(forwardDrain)
	defer limit.Stop()
	tick := time.NewTicker(forwardQuiet)
	defer tick.Stop()
	last := c.stats.forwarded.Load()
	for {
		select {
		case <-ctx.Done():
			return
		case <-limit.C:
			return
		case <-tick.C:
		}
		n := c.stats.forwarded.Load()
		if n == last {
			return
		}
		last = n
	}
}

func (c *Core) otherVoters() int {
	n := 0
	for _, s := range c.refreshMember() {
		if s.Suffrage == raft.Voter && string(s.ID) != c.cfg.NodeID {
			n++
		}
	}
	return n
}

func (c *Core) transferLeadership(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- c.raft.LeadershipTransfer().Error() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("raftcore: leadership transfer: %w", err)
		}
		c.log.Info().Msg("leadership transferred")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("raftcore: leadership transfer: %w", ctx.Err())
	}
}

// StepDown makes this node give up leadership for good: from now on,
// whenever it leads, its leader loop hands leadership to another voter. The
// FSM calls it when it halts (a replica that no longer applies entries
// must not lead). It does not block: safe from raft's FSM goroutine.
func (c *Core) StepDown() {
	c.stepDown.Store(true)
	select {
	case c.stepDownCh <- struct{}{}:
	default:
	}
}

// Shutdown stops Raft at once (no leadership hand-off) and closes the
// stores. Idempotent. Safe to call after Stop.
func (c *Core) Shutdown() error {
	var err error
	c.stopOnce.Do(func() {
		close(c.shutdownCh)
		c.raft.DeregisterObserver(c.observer)
		err = c.raft.Shutdown().Error()
		c.stopEarly()
		// Heartbeats run on the transport's goroutines, which raft's
		// Shutdown does not wait for: wait for them before the stores close.
		c.heartbeats.close()
		c.rpcs.stop()
		if cerr := c.transport.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if cerr := c.closeStores(); cerr != nil && err == nil {
			err = cerr
		}
	})
	return err
}

// Stats counts forwarded and malformed messages and voter churn.
type Stats struct {
	Forwarded uint64
	Malformed uint64
	// Screened counts commands the leader refused before proposing them
	// (the Screener's answer), whichever node they came from.
	Screened uint64
	// ChurnBursts counts bursts of voter changes made by this node as
	// leader: more than 3 within a minute.
	ChurnBursts uint64
	// LeaderChanges counts the times this node learned of a leader after
	// having none or another one: each election it saw settle, whoever
	// won (a re-elected leader counts again).
	LeaderChanges uint64
	// LeaderLossElections counts elections this node started without
	// waiting out Raft's timers (Config.FastFailover, leaderloss.go).
	LeaderLossElections uint64
	// EarlyAppends counts the entry batches this node, as leader, handed
	// to the replicators before its own sync (Config.EarlyReplication).
	EarlyAppends uint64
}

// Stats returns counters.
func (c *Core) Stats() Stats {
	return Stats{Forwarded: c.stats.forwarded.Load(), Malformed: c.stats.malformed.Load(),
		Screened: c.stats.screened.Load(), ChurnBursts: c.rec.burstCount(), LeaderChanges: c.stats.leaderChanges.Load(),
		LeaderLossElections: c.stats.leaderLoss.Load(), EarlyAppends: c.stats.earlyAppends.Load()}
}

var _ hclog.Logger = (*hclogAdapter)(nil)
