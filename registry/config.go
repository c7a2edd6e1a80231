package registry

import (
	"errors"
	"fmt"
	"time"
)

// Limits of a registration. They are rules of the replicated table (every
// replica refuses a command that breaks them at apply, alike), so they
// are constants, not configuration.
const (
	// MaxTags and MaxGroups bound an instance's tags and groups; each is
	// at most MaxLabelLen bytes and follows the name rules.
	MaxTags     = 32
	MaxGroups   = 32
	MaxLabelLen = 128
	// MaxMetaBytes bounds an instance's metadata: the sum of every key's
	// and value's length (a 10 KB blob is refused, naming "meta").
	MaxMetaBytes = 4 << 10
	// MaxMetaKeyLen bounds one metadata key.
	MaxMetaKeyLen = 128
	// MaxEndpointLen bounds the endpoint (a 253-byte DNS name, a port).
	MaxEndpointLen = 300
	// MaxTypeLen bounds the free-form type.
	MaxTypeLen = 128
	// MaxIDLen bounds an instance ID (a PID fits: empty IDs default to it).
	MaxIDLen = 512
	// MaxChecks bounds the checks of one instance.
	MaxChecks = 8
	// MaxTargetLen bounds a check's target (a URL or host:port).
	MaxTargetLen = 1024
	// MaxOutput is what is kept of a check's output (longer is truncated).
	MaxOutput = 1 << 10
	// MinCheckInterval and MaxCheckInterval bound an active check's
	// interval: faster would load the agent, slower is no health check.
	MinCheckInterval = time.Second
	MaxCheckInterval = 24 * time.Hour
	// MinTTL and MaxTTL bound a TTL check's TTL.
	MinTTL = time.Second
	MaxTTL = 24 * time.Hour
	// MaxThreshold bounds SuccessesBeforePassing and FailuresBeforeCritical.
	MaxThreshold = 10
	// MaxBatch bounds the items of one last-seen batch command; a node
	// with more local instances sends several.
	MaxBatch = 1024
)

// Config tunes the Service. Every duration is wall-clock time on the
// node's injected clock.
type Config struct {
	// LastSeenInterval is how often, at most, the node replicates the
	// last_seen times of its instances, in one batched command for all
	// of them (a health transition carries its instance's at once).
	// Longer costs less Raft traffic and makes last_seen coarser.
	LastSeenInterval time.Duration
	// ReconcileInterval is how often the Service compares the checks it
	// runs with the local instances of the replica (it also does on every
	// change of the table) and removes instances whose session is no
	// longer open here (a registration that raced its session's end).
	ReconcileInterval time.Duration
	// OrphanGrace is how long an instance of this node whose session is
	// not open here is left to its session's pending release before the
	// Service deregisters it itself.
	OrphanGrace time.Duration
	// MirrorInterval is how often a node without a replica (a client
	// node) reads a server's table into its mirror, which its queries
	// and its checks of local instances read.
	MirrorInterval time.Duration
	// MirrorIdle: a node without a replica stops polling once nobody has
	// read its mirror for this long and it holds no instance of this
	// node's sessions (whose checks it runs); the next read refreshes it
	// first. An idle client node then costs the servers nothing.
	MirrorIdle time.Duration
	// AgainPace spaces the proposals of a command of unknown outcome, and
	// the retries of a failed health proposal.
	AgainPace time.Duration
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{
		LastSeenInterval:  30 * time.Second, // one small entry per node per 30 s
		ReconcileInterval: 5 * time.Second,  // a missed change event costs at most this
		OrphanGrace:       30 * time.Second, // well past a session release's retries
		MirrorInterval:    time.Second,
		MirrorIdle:        time.Minute,
		AgainPace:         100 * time.Millisecond,
	}
}

// DefaultLocalConfig returns fast settings for in-process test clusters.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.LastSeenInterval, c.ReconcileInterval, c.OrphanGrace = 2*time.Second, time.Second, 5*time.Second
	// The mirror keeps its production pace: every node polls a server
	// until it is a Raft member, and a dozen in-process nodes forwarding
	// five queries a second each load a small machine.
	c.AgainPace = 50 * time.Millisecond
	return c
}

// Validate checks every field is positive. It changes nothing.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"last_seen_interval", c.LastSeenInterval},
		{"reconcile_interval", c.ReconcileInterval},
		{"orphan_grace", c.OrphanGrace},
		{"mirror_interval", c.MirrorInterval},
		{"mirror_idle", c.MirrorIdle},
		{"again_pace", c.AgainPace},
	} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("registry: config %s: must be positive, got %s", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}
