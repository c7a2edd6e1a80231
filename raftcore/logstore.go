package raftcore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
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
	// dir uses, written before the WAL is first opened (bolt, the stable
	// store, is opened first to read what the other store holds).
	logStoreMarker = "log_store"
	// walDirName is the WAL's directory under the data dir, as in Consul.
	walDirName = "wal"
	// defaultWALSegmentSize is Consul's default (raft_logstore.wal.
	// segment_size_mb 64): each segment is preallocated to it, and a
	// sealed segment is deleted as a whole once a snapshot covers it.
	defaultWALSegmentSize = 64 << 20
)

// stores are the log and stable stores of one Core. logs is what Raft
// appends to (behind its LogCache); stable is always the bolt file.
type stores struct {
	logs    raft.LogStore
	stable  *raftboltdb.BoltStore
	wal     *wal.WAL // nil with LogStoreBolt
	logPath string   // what a damaged-store error names: raft.db or wal/
}

// Close closes the WAL (if any, with its meta DB) and the bolt file.
func (s *stores) Close() error {
	var errs []error
	if s.wal != nil {
		errs = append(errs, s.wal.Close())
	}
	errs = append(errs, s.stable.Close())
	return errors.Join(errs...)
}

// openStores opens the bolt stable store and the log store kind names,
// after checking that the data dir holds no log in the other store.
// walSegment is the WAL's segment size in bytes.
func openStores(dir, kind string, walSegment int, hl hclog.Logger) (*stores, error) {
	dbPath := filepath.Join(dir, "raft.db")
	hadBolt := exists(dbPath)
	bolt, err := openBolt(dbPath)
	if err != nil {
		return nil, err
	}
	s := &stores{logs: bolt, stable: bolt, logPath: dbPath}
	kind, err = checkLogStore(dir, kind, hadBolt, bolt, hl)
	if err != nil {
		bolt.Close()
		return nil, err
	}
	if kind == LogStoreWAL {
		walDir := filepath.Join(dir, walDirName)
		w, err := openWAL(walDir, walSegment, hl)
		if err != nil {
			bolt.Close()
			return nil, err
		}
		s.logs, s.wal, s.logPath = w, w, walDir
	}
	return s, nil
}

// openWAL opens (or creates) the WAL in dir. Like openBolt, a panic while
// reading damaged files becomes one clear error naming the dir.
func openWAL(dir string, segment int, hl hclog.Logger) (w *wal.WAL, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("raftcore: wal dir: %w", err)
	}
	// The meta DB is ours until Open succeeds (then WAL.Close closes it):
	// a failed Open would otherwise keep its file lock, and a second open
	// in this process (a restart in tests) would wait on it for ever.
	meta := &metadb.BoltMetaDB{}
	defer func() {
		if r := recover(); r != nil {
			w, err = nil, damaged(dir, fmt.Errorf("%v", r))
		}
		if err != nil {
			_ = meta.Close()
		}
	}()
	// Metrics stay off (raft-wal's no-op collector, its default): raft-wal
	// reports through go-metrics, which conclave does not export.
	w, err = wal.Open(dir, wal.WithSegmentSize(segment), wal.WithLogger(hl.Named("wal")), wal.WithMetaStore(meta))
	if err != nil {
		return nil, damaged(dir, err)
	}
	return w, nil
}

// checkLogStore makes sure that opening kind loses no log entry, and
// returns the store to open. The data dir's marker file names the store it
// uses; a dir without one is told by its files (a wal/ dir, else a raft.db
// that existed before this open). If the marker names another store that
// holds entries, the open is refused: it would start the node with an empty
// log beside a stable store that remembers a term and a vote. A dir with no
// marker and a bolt log with entries was made before log_store existed: it
// keeps its bolt log (said in the log), so an upgrade needs no config
// change. A store that holds no entries (a client's dir, or one never
// joined) loses nothing and the dir takes kind. The marker is written before
// the store is first opened.
func checkLogStore(dir, kind string, hadBolt bool, bolt *raftboltdb.BoltStore, hl hclog.Logger) (string, error) {
	marker := filepath.Join(dir, logStoreMarker)
	have, marked := "", false
	b, err := os.ReadFile(marker)
	switch {
	case err == nil:
		have, marked = strings.TrimSpace(string(b)), true
		if have != LogStoreBolt && have != LogStoreWAL {
			return "", fmt.Errorf("%w: %s names an unknown log store %q; it must hold %s or %s",
				ErrDamagedStore, marker, have, LogStoreBolt, LogStoreWAL)
		}
		if have == kind {
			return kind, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("raftcore: read %s: %w", marker, err)
	case exists(filepath.Join(dir, walDirName)):
		have = LogStoreWAL
	case hadBolt:
		have = LogStoreBolt
	}
	if have != "" && have != kind {
		last, err := lastIndex(dir, have, bolt, hl)
		if err != nil {
			return "", err
		}
		switch {
		case last > 0 && !marked && have == LogStoreBolt:
			hl.Warn("data dir predates log_store: keeping its bolt log; to move it to the configured store, stop the agent, move the dir aside and restart",
				"configured", kind, "dir", dir, "last_index", last)
			kind = LogStoreBolt
		case last > 0:
			return "", mismatch(dir, kind, have, last)
		default:
			hl.Info("log store switched; the previous one held no entries", "from", have, "to", kind, "dir", dir)
		}
	}
	return kind, writeFileSync(dir, logStoreMarker, kind+"\n")
}

// lastIndex is the last log index the store kind holds in dir.
func lastIndex(dir, kind string, bolt *raftboltdb.BoltStore, hl hclog.Logger) (uint64, error) {
	if kind == LogStoreBolt {
		last, err := bolt.LastIndex()
		if err != nil {
			return 0, damaged(filepath.Join(dir, "raft.db"), err)
		}
		return last, nil
	}
	walDir := filepath.Join(dir, walDirName)
	// Only read: the segment size matters to appends alone.
	w, err := openWAL(walDir, defaultWALSegmentSize, hl)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	last, err := w.LastIndex()
	if err != nil {
		return 0, damaged(walDir, err)
	}
	return last, nil
}

func mismatch(dir, want, have string, last uint64) error {
	return fmt.Errorf("%w: cluster.raft.log_store is %q but the data dir %s holds a %s log (entries up to index %d): "+
		"starting on it would begin with an empty log; set cluster.raft.log_store: %s to keep using it, "+
		"or stop the agent, move %s aside and start it: it rejoins empty and catches up from the leader "+
		"(never on the last voter: its log is the only copy)",
		ErrLogStoreMismatch, want, dir, have, last, have, dir)
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
