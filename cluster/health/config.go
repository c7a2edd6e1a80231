package health

import (
	"errors"
	"fmt"
	"time"
)

// Config holds the thresholds of the built-in checks (DESIGN §14).
type Config struct {
	// Node is this node's name as the Raft configuration spells it: it
	// tells a voter from a standby.
	Node string
	// HeartbeatCeiling: with peers alive in gossip, no process-group
	// heartbeat from any of them for this long fails the groups check:
	// the node cannot exchange group traffic (DESIGN §14: 5 min).
	HeartbeatCeiling time.Duration
	// MaxGossipScore: memberlist's health (awareness) score above this
	// fails the gossip check: the node misses its own probe deadlines, so
	// its view of who is alive is not to be trusted.
	MaxGossipScore int
	// BootGrace: after start, a high gossip score only warns (the node is
	// still joining) and a Raft member that has never heard from a leader
	// is not failed for it.
	BootGrace time.Duration
	// VoterContact: a voting follower without contact from the leader this
	// long fails raft_contact: it cannot take part in elections usefully.
	VoterContact time.Duration
	// StandbyContact: the same for a standby, which only replicates and
	// tolerates longer gaps.
	StandbyContact time.Duration
	// FSMSample is the interval of the FSM catch-up sampler: readiness
	// needs every entry known committed one to two samples ago applied.
	FSMSample time.Duration
	// MaxLagEntries: a Raft follower whose applied index trails the
	// commit index it knows by more than this fails raft_lag.
	MaxLagEntries uint64
	// MaxLagTime: a Raft follower without contact from the leader for
	// more than this fails raft_lag (readiness only; raft_contact fails
	// liveness after the longer VoterContact or StandbyContact).
	MaxLagTime time.Duration
	// DataDir is the node's data directory: disk_free reads the free space
	// of the filesystem holding it.
	DataDir string
	// MinDiskFree: less than this many bytes free fails disk_free, less
	// than twice this warns. 0 turns the check off (it always passes).
	MinDiskFree uint64
}

// DefaultMinDiskFree is the default of Config.MinDiskFree: 64 MiB. It is
// meant to catch a full disk before Raft's log and snapshot writes fail,
// not to plan capacity; low enough that a test machine with little free
// disk does not make every test node unready.
const DefaultMinDiskFree = 64 << 20

// DefaultConfig returns production thresholds for node, whose data dir is
// dataDir.
func DefaultConfig(node, dataDir string) Config {
	return Config{
		Node:             node,
		HeartbeatCeiling: 5 * time.Minute,
		MaxGossipScore:   4,
		BootGrace:        60 * time.Second,
		VoterContact:     30 * time.Second,
		StandbyContact:   5 * time.Minute,
		FSMSample:        time.Second,
		MaxLagEntries:    5000,
		MaxLagTime:       10 * time.Second,
		DataDir:          dataDir,
		MinDiskFree:      DefaultMinDiskFree,
	}
}

// DefaultLocalConfig returns fast thresholds for in-process test clusters,
// whose gossip and Raft timings are local too.
func DefaultLocalConfig(node, dataDir string) Config {
	c := DefaultConfig(node, dataDir)
	c.HeartbeatCeiling = 10 * time.Second
	c.BootGrace = 2 * time.Second
	c.VoterContact = 3 * time.Second
	c.StandbyContact = 10 * time.Second
	c.FSMSample = 200 * time.Millisecond
	c.MaxLagTime = 3 * time.Second
	return c
}

// Validate checks the config without changing it.
func (c Config) Validate() error {
	if c.Node == "" {
		return errors.New("health: node: must not be empty")
	}
	if c.DataDir == "" {
		return errors.New("health: data_dir: must not be empty")
	}
	if c.MaxLagEntries == 0 {
		return errors.New("health: max_lag_entries: must be positive, got 0")
	}
	if c.MaxGossipScore < 0 {
		return fmt.Errorf("health: max_gossip_score: must not be negative, got %d", c.MaxGossipScore)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"heartbeat_ceiling", c.HeartbeatCeiling},
		{"boot_grace", c.BootGrace},
		{"voter_contact", c.VoterContact},
		{"standby_contact", c.StandbyContact},
		{"fsm_sample", c.FSMSample},
		{"max_lag_time", c.MaxLagTime},
	} {
		if d.v <= 0 {
			return fmt.Errorf("health: %s: must be positive, got %s", d.name, d.v)
		}
	}
	if c.StandbyContact < c.VoterContact {
		return fmt.Errorf("health: standby_contact: must be at least voter_contact (%s), got %s", c.VoterContact, c.StandbyContact)
	}
	return nil
}
