package raftcore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// writeStore makes a bolt store with some log entries and returns its path.
func writeStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raft.db")
	b, err := openBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs []*raft.Log
	for i := uint64(1); i <= 200; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte(strings.Repeat("v", 500))})
	}
	if err := b.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := b.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func open(path string) error {
	b, err := openBolt(path)
	if err != nil {
		return err
	}
	defer b.Close()
	snaps := raft.NewInmemSnapshotStore()
	_, err = hasState(path, b, b, snaps)
	return err
}

func TestDamagedStoreIsAClearError(t *testing.T) {
	tests := map[string]func(t *testing.T, path string){
		"truncated to a page": func(t *testing.T, path string) {
			if err := os.Truncate(path, 4096); err != nil {
				t.Fatal(err)
			}
		},
		"meta pages zeroed": func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 8192), 0); err != nil {
				t.Fatal(err)
			}
		},
		"not a bolt file": func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("garbage ", 2000)), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, damage := range tests {
		t.Run(name, func(t *testing.T) {
			path := writeStore(t)
			damage(t, path)
			err := open(path)
			if !errors.Is(err, ErrDamagedStore) {
				t.Fatalf("open damaged store: %v, want ErrDamagedStore", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move the data dir") {
				t.Fatalf("error does not name the file and the remedy: %v", err)
			}
		})
	}
}

// TestFlippedBytesNeverPanic flips bytes all over a store: opening it may
// succeed (bolt checks only its meta pages) but must never panic.
func TestFlippedBytesNeverPanic(t *testing.T) {
	path := writeStore(t)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(orig); off += 997 {
		b := append([]byte(nil), orig...)
		for i := off; i < off+64 && i < len(b); i++ {
			b[i] ^= 0xa5
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := open(path); err != nil && !errors.Is(err, ErrDamagedStore) {
			t.Fatalf("flip at %d: %v, want nil or ErrDamagedStore", off, err)
		}
	}
}

func TestTransportRefusesPipelining(t *testing.T) {
	var tr raft.Transport = serialTransport{}
	if _, err := tr.AppendEntriesPipeline("n", "a"); err != raft.ErrPipelineReplicationNotSupported {
		t.Fatalf("AppendEntriesPipeline: %v, want ErrPipelineReplicationNotSupported", err)
	}
	if _, ok := tr.(raft.WithPreVote); !ok {
		t.Fatal("the transport lost pre-vote")
	}
	if _, ok := tr.(raft.WithClose); !ok {
		t.Fatal("the transport lost Close")
	}
}
