package raftcore

import (
	"errors"
	"fmt"
	"time"
)

// Config holds everything raftcore needs to run one Raft server.
type Config struct {
	// NodeID is the Raft server ID: the node name, unique in the cluster.
	NodeID string
	// Dir holds the stable store (raft.db), the log (in raft.db or under
	// wal/, see LogStore), snapshots and the cluster ID. cluster passes
	// <data_dir>/_sys/raft.
	Dir string
	// LogStore is where the Raft log lives: LogStoreBolt (raft.db) or
	// LogStoreWAL (wal/). A data dir keeps the store it was made with;
	// New refuses another one (ErrLogStoreMismatch).
	LogStore string
	// WALSegmentSize is the size in bytes of each WAL segment file
	// (LogStoreWAL only), preallocated when the segment is created.
	WALSegmentSize int
	// BootstrapExpect: 0 never self-bootstrap; 1 bootstrap at once as the
	// only voter; N wait for exactly N pre-bootstrap peers (DESIGN §5).
	BootstrapExpect int
	// Eligible nodes may be voters. A node that is not eligible still runs
	// Raft so that it can forward, but is never added to the configuration.
	Eligible bool
	// MaxVoters bounds the voters the reconciler keeps. Odd.
	MaxVoters int
	// MaxStandbys bounds the non-voting, fully replicated members.
	MaxStandbys int
	// MinQuorum: removing dead voters never takes the voter count below it.
	MinQuorum int
	// Stabilization is how long a node must be alive in gossip before it
	// joins the core as a standby, and alive and caught up with the
	// leader's log before a standby is promoted to voter, whatever the
	// size of the core (a new cluster's voters come from bootstrap).
	Stabilization time.Duration
	// CatchUpLag: a standby is caught up when its last log index is within
	// this many entries of the leader's commit index (in the same term).
	// 250, hashicorp/raft-autopilot's MaxTrailingLogs.
	CatchUpLag uint64
	// ManualAdmission: a server that is not in the configuration joins the
	// core only once an operator admitted it (Deps.Admissions); until then
	// it is a client. Members of the configuration stay.
	ManualAdmission bool
	// ReconcileDebounce delays a reconcile after a membership event so a
	// burst of events (a rack powering up) costs one pass.
	ReconcileDebounce time.Duration
	// SilentAfter: a member whose heartbeats from the leader have failed
	// for this long is heartbeat-silent (one of the two conditions, with
	// dead in gossip, for evicting a voter).
	SilentAfter time.Duration

	// BootstrapWindow is how long the same N pre-bootstrap peers must be
	// seen, continuously, before bootstrapping: long enough that every node
	// sees the same set. 3 s (DESIGN §14).
	BootstrapWindow time.Duration
	// BootstrapPoll is how often the bootstrap condition is checked. 1 s.
	BootstrapPoll time.Duration
	// RefusalLogInterval spaces out the "not bootstrapping because" lines. 5 s.
	RefusalLogInterval time.Duration
	// ReconcileInterval is the leader's periodic safety pass over the
	// membership view, repairing anything a dropped event missed. 10 s.
	ReconcileInterval time.Duration
	// ApplyTimeout bounds how long a write (or a read that needs the leader)
	// waits for a leader and quorum before failing Unavailable. 5 s.
	ApplyTimeout time.Duration

	// Raft timings, passed to hashicorp/raft. The defaults are raft's own
	// (1 s heartbeat and election timeouts, 500 ms lease): a follower that
	// hears nothing for 1-2 s starts an election.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one; SnapshotInterval how often that is checked.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// TrailingLogs entries are kept after a snapshot so slow followers can
	// catch up from the log instead of a snapshot.
	TrailingLogs uint64
	// SnapshotsRetained is how many snapshot files are kept on disk.
	SnapshotsRetained int
	// MaxAppendEntries bounds entries per AppendEntries RPC and per batch.
	MaxAppendEntries int
	// FastFailover: a voter starts an election without waiting out Raft's
	// randomised timers when its silent leader's mesh port refuses
	// connections (the process is gone), or when a quorum of voters has
	// not heard from the leader for a heartbeat timeout (leaderloss.go).
	FastFailover bool
	// EarlyReplication: the leader replicates new entries while it syncs
	// them to its own log, instead of after (early.go), so a commit waits
	// for the slower of its sync and a follower's round trip rather than
	// their sum. No entry is applied or acknowledged before a majority,
	// the leader included, has synced it.
	EarlyReplication bool
}

// DefaultConfig returns production settings. NodeID and Dir must be set.
func DefaultConfig() Config {
	return Config{
		Eligible:           true,
		LogStore:           LogStoreWAL,
		WALSegmentSize:     defaultWALSegmentSize,
		MaxVoters:          5,
		MaxStandbys:        4,
		MinQuorum:          1,
		Stabilization:      10 * time.Second,
		CatchUpLag:         250,
		ReconcileDebounce:  2 * time.Second,
		SilentAfter:        3 * time.Second,
		BootstrapWindow:    3 * time.Second,
		BootstrapPoll:      time.Second,
		RefusalLogInterval: 5 * time.Second,
		ReconcileInterval:  10 * time.Second,
		ApplyTimeout:       5 * time.Second,
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		TrailingLogs:       10240,
		SnapshotsRetained:  2,
		MaxAppendEntries:   64,
		FastFailover:       true,
		EarlyReplication:   true,
	}
}

// DefaultLocalConfig returns fast timings for in-process clusters on one
// machine (tests). They still leave room for the race detector on 2 cores.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.BootstrapWindow = 600 * time.Millisecond
	c.BootstrapPoll = 100 * time.Millisecond
	c.RefusalLogInterval = time.Second
	c.ReconcileInterval = 500 * time.Millisecond
	c.Stabilization = time.Second
	c.ReconcileDebounce = 100 * time.Millisecond
	c.SilentAfter = 2 * time.Second
	c.ApplyTimeout = 3 * time.Second
	// A second, as in production: tests run under the race detector on 2
	// cores, often beside another test run, and at 400 ms a node starved
	// for a moment started elections and a leader gave up its lease in the
	// middle of a test (seen with two `make test` at once).
	c.HeartbeatTimeout = time.Second
	c.ElectionTimeout = time.Second
	c.LeaderLeaseTimeout = time.Second // = heartbeat: a leader starved for a moment keeps its lease
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotThreshold = 1024
	c.SnapshotInterval = 5 * time.Second
	c.TrailingLogs = 1024
	c.WALSegmentSize = 4 << 20 // tests start many nodes: 4 MiB each, not 64
	return c
}

// Validate checks ranges and cross-field rules. It never mutates c.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("raftcore: %s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalidConfig))
	}
	if c.NodeID == "" {
		bad("node_id", "must not be empty")
	}
	if c.Dir == "" {
		bad("dir", "must not be empty")
	}
	if c.LogStore != LogStoreBolt && c.LogStore != LogStoreWAL {
		bad("log_store", "must be one of %s, %s; got %q", LogStoreBolt, LogStoreWAL, c.LogStore)
	}
	if c.WALSegmentSize < 1<<20 || c.WALSegmentSize > 1<<30 {
		bad("wal_segment_size", "must be 1 MiB..1 GiB, got %d", c.WALSegmentSize)
	}
	if c.MaxVoters < 1 || c.MaxVoters%2 == 0 {
		bad("max_voters", "must be odd and >= 1, got %d", c.MaxVoters)
	}
	if c.MaxStandbys < 0 {
		bad("max_standbys", "must not be negative, got %d", c.MaxStandbys)
	}
	if c.MinQuorum < 0 || c.MinQuorum > c.MaxVoters {
		bad("min_quorum", "must be between 0 and max_voters (%d), got %d", c.MaxVoters, c.MinQuorum)
	}
	if c.BootstrapExpect < 0 || c.BootstrapExpect > c.MaxVoters {
		bad("bootstrap_expect", "must be between 0 and max_voters (%d), got %d", c.MaxVoters, c.BootstrapExpect)
	}
	for name, d := range map[string]time.Duration{
		"bootstrap_window": c.BootstrapWindow, "bootstrap_poll": c.BootstrapPoll,
		"refusal_log_interval": c.RefusalLogInterval, "reconcile_interval": c.ReconcileInterval,
		"apply_timeout": c.ApplyTimeout, "heartbeat_timeout": c.HeartbeatTimeout,
		"reconcile_debounce": c.ReconcileDebounce, "silent_after": c.SilentAfter,
		"election_timeout": c.ElectionTimeout, "leader_lease_timeout": c.LeaderLeaseTimeout,
		"commit_timeout": c.CommitTimeout, "snapshot_interval": c.SnapshotInterval,
	} {
		if d <= 0 {
			bad(name, "must be positive, got %s", d)
		}
	}
	if c.Stabilization < 0 {
		bad("stabilization", "must not be negative, got %s", c.Stabilization)
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		bad("leader_lease_timeout", "must not exceed heartbeat_timeout (%s), got %s", c.HeartbeatTimeout, c.LeaderLeaseTimeout)
	}
	if c.SnapshotsRetained < 1 {
		bad("snapshots_retained", "must be >= 1, got %d", c.SnapshotsRetained)
	}
	if c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024 {
		bad("max_append_entries", "must be 1..1024, got %d", c.MaxAppendEntries)
	}
	return errors.Join(errs...)
}
