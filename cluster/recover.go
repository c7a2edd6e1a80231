package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/kv"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
	"github.com/conclave-dev/conclave/raftcore"
	"github.com/conclave-dev/conclave/registry"
)

// RecoverOptions tune Recover.
type RecoverOptions = raftcore.RecoverOptions

// RecoverReport says what Recover saw and did.
type RecoverReport = raftcore.RecoverReport

// ErrQuorumAlive: Recover refused because enough voters answer that a
// restart restores quorum.
var ErrQuorumAlive = raftcore.ErrQuorumAlive

// Recover makes the stopped node of cfg the one voter of its cluster, with
// every entry its log holds: the way back when a majority of the voters is
// lost for good (docs/operations.md). The agent must be stopped: Recover
// takes the data dir's lock. Start the agent afterwards; it leads alone,
// and the reconciler grows the core back as servers join.
func Recover(cfg config.Config, opts RecoverOptions) (RecoverReport, error) {
	if err := cfg.Validate(); err != nil {
		return RecoverReport{}, err
	}
	// Looked at before the lock, which would create the dir.
	if _, err := os.Stat(filepath.Join(cfg.Cluster.DataDir, "_sys", "raft")); err != nil {
		return RecoverReport{}, fmt.Errorf("cluster: %s holds no Raft state (%w): nothing to recover", cfg.Cluster.DataDir, err)
	}
	lock, err := lockDataDir(cfg.Cluster.DataDir)
	if err != nil {
		return RecoverReport{}, err
	}
	rep, err := raftcore.Recover(raftConfig(cfg, false), func() raft.FSM { return recoveryFSM(opts.Log) }, opts)
	return rep, errors.Join(err, lock.release())
}

// recoveryFSM is the FSM with every table and nobody listening to their
// events: what Recover replays the log into.
func recoveryFSM(log zerolog.Logger) raft.FSM {
	f := newFSM(log)
	// The same tables as New's, so registration cannot fail.
	_ = f.registerTables(tables{kv: kv.NewReplicated(), locks: locks.NewReplicated(func([]locks.IndexedEvent) {}),
		names: naming.NewTable(func([]naming.Event) {}), admission: raftcore.NewAdmissions(), acl: acl.NewReplicated(),
		registry: registry.NewTable()})
	return f
}
