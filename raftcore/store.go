package raftcore

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Stores are the log, stable and snapshot stores a Core runs on. The
// default ones (New without WithStores) are Config.LogStore's log store
// (logstore.go), the bolt stable store raft.db and file snapshots, all under
// Config.Dir.
type Stores struct {
	Log       raft.LogStore
	Stable    raft.StableStore
	Snapshots raft.SnapshotStore
}

// injectedStores is what a damaged-store error names for stores given
// WithStores (they have no path of ours).
const injectedStores = "the stores given WithStores"

// openStores returns the Core's stores, what a damaged-store error names,
// and how to close them: the injected ones (which the caller closes), or
// the default ones opened under Config.Dir.
func (c *Core) openStores(hl hclog.Logger) (Stores, string, func() error, error) {
	if s := c.injected; s != nil {
		if s.Log == nil || s.Stable == nil || s.Snapshots == nil {
			return Stores{}, "", nil, errors.New("raftcore: WithStores needs a log, a stable and a snapshot store; one is nil")
		}
		return *s, injectedStores, func() error { return nil }, nil
	}
	st, err := openStores(c.cfg.Dir, c.cfg.LogStore, c.cfg.WALSegmentSize, hl)
	if err != nil {
		return Stores{}, "", nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(c.cfg.Dir, c.cfg.SnapshotsRetained, hl.Named("snapshot"))
	if err != nil {
		st.Close()
		return Stores{}, "", nil, fmt.Errorf("raftcore: snapshot store: %w", err)
	}
	return Stores{Log: st.logs, Stable: st.stable, Snapshots: snaps}, st.logPath, st.Close, nil
}

// boltOpenTimeout bounds the wait for bolt's file lock. The agent locks its
// data dir first (cluster), so a held lock here means something outside
// conclave has the file open.
const boltOpenTimeout = time.Second

// damagedAdvice is what an operator can do about a damaged log store.
const damagedAdvice = "stop the agent, move the data dir's _sys/raft aside and start it again: " +
	"it rejoins empty and catches up from the leader (on the last voter, restore a snapshot instead)"

// openBolt opens the bolt log and stable store. bbolt panics on some damaged
// pages instead of returning an error; the file is input like any other, so
// a panic here becomes one clear error naming the file.
func openBolt(path string) (b *raftboltdb.BoltStore, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, damaged(path, fmt.Errorf("%v", r))
		}
	}()
	b, err = raftboltdb.New(raftboltdb.Options{
		Path:        path,
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("raftcore: %s is locked by another process", path)
	}
	if err != nil {
		return nil, damaged(path, err)
	}
	return b, nil
}

// hasState is raft.HasExistingState, with a damaged file's panic turned into
// an error like openBolt's.
func hasState(path string, logs raft.LogStore, stable raft.StableStore, snaps raft.SnapshotStore) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, damaged(path, fmt.Errorf("%v", r))
		}
	}()
	ok, err = raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return false, damaged(path, err)
	}
	return ok, nil
}

func damaged(path string, cause error) error {
	return fmt.Errorf("%w: %s: %v; %s (%s)", ErrDamagedStore, path, cause, damagedAdvice, filepath.Dir(path))
}
