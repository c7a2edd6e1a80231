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
}

// DefaultConfig returns production thresholds for node.
func DefaultConfig(node string) Config {
	return Config{
		Node:             node,
		HeartbeatCeiling: 5 * time.Minute,
		MaxGossipScore:   4,
		BootGrace:        60 * time.Second,
		VoterContact:     30 * time.Second,
		StandbyContact:   5 * time.Minute,
		FSMSample:        time.Second,
	}
}

// DefaultLocalConfig returns fast thresholds for in-process test clusters,
// whose gossip and Raft timings are local too.
func DefaultLocalConfig(node string) Config {
	c := DefaultConfig(node)
	c.HeartbeatCeiling = 10 * time.Second
	c.BootGrace = 2 * time.Second
	c.VoterContact = 3 * time.Second
	c.StandbyContact = 10 * time.Second
	c.FSMSample = 200 * time.Millisecond
	return c
}

// Validate checks the config without changing it.
func (c Config) Validate() error {
	if c.Node == "" {
		return errors.New("health: node: must not be empty")
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
