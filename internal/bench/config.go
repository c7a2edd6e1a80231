package bench

import (
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/config"
)

// Config shapes the harness. The benchmarks use DefaultConfig; the
// package's tests use DefaultLocalConfig.
type Config struct {
	// Nodes is the cluster size. DESIGN §16 measures 3 nodes; the failover
	// benchmark needs at least 3 so that a quorum survives a kill.
	Nodes int
	// FloorSamples is how many fsyncs and how many round trips the floor
	// printed beside every cluster benchmark takes: enough for a stable
	// p50 and a rough p99 in well under a second.
	FloorSamples int
	// StartTimeout bounds forming the cluster (leader elected, every node
	// a caught-up voter, every API answering) and settling again after a
	// node restarts. Formation takes about 2 s with local timings.
	StartTimeout time.Duration
	// OpTimeout bounds one SDK call, so a stuck cluster fails the
	// benchmark instead of hanging it until go test's -timeout.
	OpTimeout time.Duration
	// LogStore is every node's cluster.raft.log_store: "bolt", "wal", or
	// "" for the agent's default.
	LogStore string
}

// DefaultConfig is the setup of DESIGN §16.
func DefaultConfig() Config {
	return Config{
		Nodes:        3,
		FloorSamples: 200,
		StartTimeout: 30 * time.Second,
		OpTimeout:    10 * time.Second,
	}
}

// DefaultLocalConfig is for the package's own tests: a small floor sample
// so they stay fast.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.FloorSamples = 10
	c.StartTimeout = 20 * time.Second
	c.OpTimeout = 5 * time.Second
	return c
}

// Validate checks every field and names the one at fault. It never
// mutates c.
func (c Config) Validate() error {
	switch {
	case c.Nodes < 1:
		return fmt.Errorf("%w: nodes: must be >= 1, got %d", ErrInvalidConfig, c.Nodes)
	case c.FloorSamples < 1:
		return fmt.Errorf("%w: floor_samples: must be >= 1, got %d", ErrInvalidConfig, c.FloorSamples)
	case c.StartTimeout <= 0:
		return fmt.Errorf("%w: start_timeout: must be > 0, got %s", ErrInvalidConfig, c.StartTimeout)
	case c.OpTimeout <= 0:
		return fmt.Errorf("%w: op_timeout: must be > 0, got %s", ErrInvalidConfig, c.OpTimeout)
	case c.LogStore != "" && c.LogStore != config.LogStoreBolt && c.LogStore != config.LogStoreWAL:
		return fmt.Errorf("%w: log_store: must be \"\", %s or %s, got %q", ErrInvalidConfig, config.LogStoreBolt, config.LogStoreWAL, c.LogStore)
	}
	return nil
}
