package raftcore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/conclave-dev/conclave/internal/wire"
)

// testSegment keeps the test WALs small; 300 entries still span segments.
const testSegment = 1 << 20

// fillStores opens kind's stores in dir, appends n entries and a term, and
// closes them.
func fillStores(t *testing.T, dir, kind string, n uint64) {
	t.Helper()
	s, err := openStores(dir, kind, testSegment, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("open %s stores: %v", kind, err)
	}
	var logs []*raft.Log
	for i := uint64(1); i <= n; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte(strings.Repeat("v", 100))})
	}
	if n > 0 {
		if err := s.logs.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.stable.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLogStoreKeepsEntriesAcrossReopen(t *testing.T) {
	for _, kind := range []string{LogStoreBolt, LogStoreWAL} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			fillStores(t, dir, kind, 300)
			marker, err := os.ReadFile(filepath.Join(dir, logStoreMarker))
			if err != nil || string(marker) != kind+"\n" {
				t.Fatalf("marker = %q, %v; want %q", marker, err, kind+"\n")
			}
			s, err := openStores(dir, kind, testSegment, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			first, _ := s.logs.FirstIndex()
			last, _ := s.logs.LastIndex()
			if first != 1 || last != 300 {
				t.Fatalf("reopened log holds %d..%d, want 1..300", first, last)
			}
			var l raft.Log
			if err := s.logs.GetLog(300, &l); err != nil || len(l.Data) != 100 {
				t.Fatalf("entry 300: %v, %d bytes", err, len(l.Data))
			}
			// The stable store is raft.db whatever holds the log.
			if term, err := s.stable.GetUint64([]byte("CurrentTerm")); err != nil || term != 1 {
				t.Fatalf("term = %d, %v; want 1", term, err)
			}
			if kind == LogStoreWAL {
				if bl, _ := s.stable.LastIndex(); bl != 0 {
					t.Fatalf("raft.db holds log entries up to %d with the wal store", bl)
				}
				if _, err := os.Stat(filepath.Join(dir, walDirName, "wal-meta.db")); err != nil {
					t.Fatalf("no wal under the data dir: %v", err)
				}
			}
		})
	}
}

func TestSwitchingLogStoreIsRefused(t *testing.T) {
	tests := map[string]struct {
		made, want string
		legacy     bool // remove the marker, as in a data dir made before it
	}{
		"bolt dir opened as wal": {made: LogStoreBolt, want: LogStoreWAL},
		"wal dir opened as bolt": {made: LogStoreWAL, want: LogStoreBolt},
		"unmarked wal dir, bolt": {made: LogStoreWAL, want: LogStoreBolt, legacy: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fillStores(t, dir, tc.made, 10)
			if tc.legacy {
				if err := os.Remove(filepath.Join(dir, logStoreMarker)); err != nil {
					t.Fatal(err)
				}
			}
			before := listDir(t, dir)
			s, err := openStores(dir, tc.want, testSegment, hclog.NewNullLogger())
			if err == nil {
				s.Close()
				t.Fatal("opened a data dir made with another log store")
			}
			if !errors.Is(err, ErrLogStoreMismatch) {
				t.Fatalf("err = %v, want ErrLogStoreMismatch", err)
			}
			for _, want := range []string{"cluster.raft.log_store", dir, `"` + tc.want + `"`, "a " + tc.made + " log", "index 10"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not name %q: %v", want, err)
				}
			}
			if after := listDir(t, dir); after != before {
				t.Fatalf("a refused open changed the data dir:\nbefore %s\nafter  %s", before, after)
			}
			// The store it was made with still opens, with its entries.
			s, err = openStores(dir, tc.made, testSegment, hclog.NewNullLogger())
			if err != nil {
				t.Fatalf("reopen as %s: %v", tc.made, err)
			}
			defer s.Close()
			if last, _ := s.logs.LastIndex(); last != 10 {
				t.Fatalf("last index %d, want 10", last)
			}
		})
	}
}

// TestUnmarkedBoltDirKeepsItsLog: a data dir made before log_store existed
// (a bolt log with entries and no marker) keeps its bolt log whatever the
// configured store, so upgrading needs no config change; from then on the
// marker says bolt and an explicit switch is refused like any other.
func TestUnmarkedBoltDirKeepsItsLog(t *testing.T) {
	dir := t.TempDir()
	fillStores(t, dir, LogStoreBolt, 10)
	if err := os.Remove(filepath.Join(dir, logStoreMarker)); err != nil {
		t.Fatal(err)
	}
	s, err := openStores(dir, LogStoreWAL, testSegment, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("open an unmarked bolt dir with wal configured: %v", err)
	}
	last, _ := s.logs.LastIndex()
	kept := s.wal == nil
	s.Close()
	if !kept || last != 10 {
		t.Fatalf("kept bolt %v, last index %d; want the bolt log with 10 entries", kept, last)
	}
	if b, err := os.ReadFile(filepath.Join(dir, logStoreMarker)); err != nil || string(b) != LogStoreBolt+"\n" {
		t.Fatalf("marker = %q, %v; want bolt", b, err)
	}
	if _, err := openStores(dir, LogStoreWAL, testSegment, hclog.NewNullLogger()); !errors.Is(err, ErrLogStoreMismatch) {
		t.Fatalf("second open with wal: %v, want ErrLogStoreMismatch now that the marker says bolt", err)
	}
}

// TestSwitchingAnEmptyLogStore: a dir whose log holds no entry (a client's,
// or one that never joined) loses nothing by a switch, so it takes the new
// store and keeps its term.
func TestSwitchingAnEmptyLogStore(t *testing.T) {
	for _, tc := range []struct{ made, want string }{{LogStoreBolt, LogStoreWAL}, {LogStoreWAL, LogStoreBolt}} {
		for _, legacy := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s to %s, unmarked %v", tc.made, tc.want, legacy), func(t *testing.T) {
				dir := t.TempDir()
				fillStores(t, dir, tc.made, 0)
				if legacy {
					if err := os.Remove(filepath.Join(dir, logStoreMarker)); err != nil {
						t.Fatal(err)
					}
				}
				fillStores(t, dir, tc.want, 5)
				if b, err := os.ReadFile(filepath.Join(dir, logStoreMarker)); err != nil || string(b) != tc.want+"\n" {
					t.Fatalf("marker = %q, %v; want %s", b, err, tc.want)
				}
				// Now the new store holds entries: going back is refused.
				if _, err := openStores(dir, tc.made, testSegment, hclog.NewNullLogger()); !errors.Is(err, ErrLogStoreMismatch) {
					t.Fatalf("switching back over 5 entries: %v, want ErrLogStoreMismatch", err)
				}
			})
		}
	}
}

func TestLogStoreMarker(t *testing.T) {
	t.Run("unmarked bolt dir gets a bolt marker", func(t *testing.T) {
		dir := t.TempDir()
		fillStores(t, dir, LogStoreBolt, 1)
		if err := os.Remove(filepath.Join(dir, logStoreMarker)); err != nil {
			t.Fatal(err)
		}
		fillStores(t, dir, LogStoreBolt, 1)
		if b, err := os.ReadFile(filepath.Join(dir, logStoreMarker)); err != nil || string(b) != "bolt\n" {
			t.Fatalf("marker = %q, %v", b, err)
		}
	})
	t.Run("unknown marker is a clear error", func(t *testing.T) {
		dir := t.TempDir()
		marker := filepath.Join(dir, logStoreMarker)
		if err := os.WriteFile(marker, []byte("rocksdb\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := openStores(dir, LogStoreBolt, testSegment, hclog.NewNullLogger())
		if !errors.Is(err, ErrDamagedStore) || !strings.Contains(err.Error(), marker) || !strings.Contains(err.Error(), `"rocksdb"`) {
			t.Fatalf("err = %v, want ErrDamagedStore naming %s and the value", err, marker)
		}
	})
	t.Run("damaged wal meta is a clear error", func(t *testing.T) {
		dir := t.TempDir()
		fillStores(t, dir, LogStoreWAL, 5)
		meta := filepath.Join(dir, walDirName, "wal-meta.db")
		if err := os.WriteFile(meta, []byte(strings.Repeat("garbage ", 2000)), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := openStores(dir, LogStoreWAL, testSegment, hclog.NewNullLogger())
		if !errors.Is(err, ErrDamagedStore) || !strings.Contains(err.Error(), filepath.Join(dir, walDirName)) {
			t.Fatalf("err = %v, want ErrDamagedStore naming the wal dir", err)
		}
	})
}

// listDir names the entries under dir with their sizes and times, to
// compare. raft.db's time is left out: bbolt's open commits a transaction
// even when it changes nothing, and raft.db is the stable store either way.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		b.WriteString(rel)
		if !info.IsDir() {
			fmt.Fprintf(&b, "=%d", info.Size())
			if rel != "raft.db" { // the stable store, opened either way
				fmt.Fprintf(&b, "@%s", info.ModTime())
			}
		}
		b.WriteString(" ")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestLogTailTruncationSurvivesReopen: Raft truncates the tail of a
// follower's log when a new leader overwrites entries it never committed.
// raft-wal v0.4.0 marked the tail segment sealed without writing its index,
// and the next open panicked reading it (hashicorp/raft-wal#31, fixed in
// v0.4.1).
func TestLogTailTruncationSurvivesReopen(t *testing.T) {
	for _, kind := range []string{LogStoreBolt, LogStoreWAL} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			fillStores(t, dir, kind, 20)
			s, err := openStores(dir, kind, testSegment, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.logs.DeleteRange(16, 20); err != nil {
				t.Fatal(err)
			}
			if err := s.logs.StoreLog(&raft.Log{Index: 16, Term: 2, Type: raft.LogCommand, Data: []byte("new")}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = openStores(dir, kind, testSegment, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if last, _ := s.logs.LastIndex(); last != 16 {
				t.Fatalf("last index %d after truncation and one append, want 16", last)
			}
			var l raft.Log
			for i := uint64(1); i <= 16; i++ {
				if err := s.logs.GetLog(i, &l); err != nil {
					t.Fatalf("entry %d after reopen: %v", i, err)
				}
			}
			if l.Term != 2 || string(l.Data) != "new" {
				t.Fatalf("entry 16 = term %d %q, want the overwrite (term 2, \"new\")", l.Term, l.Data)
			}
		})
	}
}

// Both log stores keep an entry's Extensions (the command's checksum,
// which the FSM verifies) across a reopen.
func TestLogStoreKeepsExtensions(t *testing.T) {
	for _, kind := range []string{LogStoreBolt, LogStoreWAL} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			s, err := openStores(dir, kind, testSegment, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			data := []byte("command")
			if err := s.logs.StoreLog(&raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: data, Extensions: wire.Checksum(data)}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = openStores(dir, kind, testSegment, hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var l raft.Log
			if err := s.logs.GetLog(1, &l); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(l.Extensions, wire.Checksum(data)) {
				t.Fatalf("entry 1 extensions %x after reopen, want %x", l.Extensions, wire.Checksum(data))
			}
		})
	}
}
