package raftcore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/types"
)

// Log store kinds, the values of Config.LogStore and cluster.raft.log_store.
const (
	// LogStoreBolt keeps the Raft log in raft.db beside the stable store:
	// raft-boltdb/v2, two syncs per append (pages, then meta).
	LogStoreBolt = "bolt"
	// LogStoreWAL keeps the Raft log in segment files under wal/
	// (hashicorp/raft-wal), one sync per append; raft.db stays the stable
	// store (term, vote).
	LogStoreWAL = "wal"
)

const (
	// logStoreMarker names the file that records which log store a data
	// dir uses, written before the store is first opened.
	logStoreMarker = "log_store"
	// walDirName is the WAL's directory under the data dir, as in Consul.
	walDirName = "wal"
	// walSegmentSize is Consul's default (raft_logstore.wal.segment_size_mb
	// 64): each segment is preallocated to it, and a sealed segment is
	// deleted as a whole once a snapshot covers it.
	walSegmentSize = 64 << 20
)

// stores are the log and stable stores of one Core. logs is what Raft
// appends to (behind its LogCache); stable is always the bolt file.
type stores struct {
	logs    raft.LogStore
	stable  *raftboltdb.BoltStore
	wal     *wal.WAL // nil with LogStoreBolt
	walMeta io.Closer
	logPath string // what a damaged-store error names: raft.db or wal/
}

// Close closes the WAL (if any) and the bolt file.
func (s *stores) Close() error {
	var errs []error
	if s.wal != nil {
		// WAL.Close (v0.4.0) leaves its meta DB open, and with it the
		// file lock a restart in this process would wait on for ever.
		errs = append(errs, s.wal.Close(), s.walMeta.Close())
	}
	errs = append(errs, s.stable.Close())
	return errors.Join(errs...)
}

// openStores checks the data dir's log store marker against kind, then
// opens the bolt stable store and the log store kind names.
func openStores(dir, kind string, hl hclog.Logger) (*stores, error) {
	if err := checkLogStore(dir, kind); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dir, "raft.db")
	bolt, err := openBolt(dbPath)
	if err != nil {
		return nil, err
	}
	s := &stores{logs: bolt, stable: bolt, logPath: dbPath}
	if kind == LogStoreWAL {
		walDir := filepath.Join(dir, walDirName)
		meta := &metadb.BoltMetaDB{}
		w, err := openWAL(walDir, meta, hl)
		if err != nil {
			meta.Close()
			bolt.Close()
			return nil, err
		}
		s.logs, s.wal, s.walMeta, s.logPath = w, w, meta, walDir
	}
	return s, nil
}

// openWAL opens (or creates) the WAL in dir. Like openBolt, a panic while
// reading damaged files becomes one clear error naming the dir.
func openWAL(dir string, meta types.MetaStore, hl hclog.Logger) (w *wal.WAL, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("raftcore: wal dir: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			w, err = nil, damaged(dir, fmt.Errorf("%v", r))
		}
	}()
	// Metrics stay off (raft-wal's no-op collector, its default): raft-wal
	// reports through go-metrics, which conclave does not export.
	w, err = wal.Open(dir, wal.WithSegmentSize(walSegmentSize), wal.WithLogger(hl.Named("wal")),
		wal.WithMetaStore(meta))
	if err != nil {
		return nil, damaged(dir, err)
	}
	return w, nil
}

// checkLogStore refuses a data dir that holds another log store than kind:
// opening it would start the node with an empty log beside a stable store
// that remembers a term and a vote, and a snapshot whose later entries are
// gone. A dir with no marker is told by its files (a wal/ dir, else a
// raft.db, which every data dir made before the marker has); an empty one
// gets kind's marker.
func checkLogStore(dir, kind string) error {
	marker := filepath.Join(dir, logStoreMarker)
	b, err := os.ReadFile(marker)
	switch {
	case err == nil:
		have := strings.TrimSpace(string(b))
		if have != LogStoreBolt && have != LogStoreWAL {
			return fmt.Errorf("%w: %s names an unknown log store %q; it must hold %s or %s",
				ErrDamagedStore, marker, have, LogStoreBolt, LogStoreWAL)
		}
		if have != kind {
			return mismatch(dir, kind, have)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("raftcore: read %s: %w", marker, err)
	}
	have := ""
	if exists(filepath.Join(dir, walDirName)) {
		have = LogStoreWAL
	} else if exists(filepath.Join(dir, "raft.db")) {
		have = LogStoreBolt
	}
	if have != "" && have != kind {
		return mismatch(dir, kind, have)
	}
	return writeFileSync(dir, logStoreMarker, kind+"\n")
}

func mismatch(dir, want, have string) error {
	return fmt.Errorf("%w: cluster.raft.log_store is %q but the data dir %s holds a %s log (see %s): "+
		"starting on it would begin with an empty log; set cluster.raft.log_store: %s again, or stop the agent, "+
		"move %s aside and start it: it rejoins empty and catches up from the leader",
		ErrLogStoreMismatch, want, dir, have, filepath.Join(dir, logStoreMarker), have, dir)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// writeFileSync writes name in dir through a synced temporary file and a
// rename, then syncs dir, so a crash leaves the old file or the new one.
func writeFileSync(dir, name, content string) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("raftcore: write %s: %w", name, err)
	}
	_, werr := f.WriteString(content)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("raftcore: write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("raftcore: write %s: %w", name, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
