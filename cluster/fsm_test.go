package cluster

import (
	"github.com/conclave-dev/conclave/internal/wire"

	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

func putCmd(key, value string) []byte {
	c := wire.Command(tableKV, kvPut)
	c.String(key)
	c.Bytes([]byte(value))
	return c.Data()
}

func applyAt(f testTables, index uint64, data []byte) []byte {
	return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).([]byte)
}

func TestFSMApplyResults(t *testing.T) {
	f := newTestFSM()
	if r := applyAt(f, 1, putCmd("a", "1")); r[0] != resOK {
		t.Fatalf("put: status %d", r[0])
	}
	cas := wire.Command(tableKV, kvCAS)
	cas.String("a")
	cas.Bytes([]byte("2"))
	cas.Uvarint(7) // wrong version
	r := applyAt(f, 2, cas.Data())
	if st := r[0]; st != resMismatch {
		t.Fatalf("cas at wrong version: status %d", st)
	}
	if err := resultErr(r); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("result error %v", err)
	}
}

// Malformed or unknown commands are refused with an error result on every
// node alike, never a panic, and change nothing.
func TestFSMRefusesMalformedCommands(t *testing.T) {
	f := newTestFSM()
	applyAt(f, 1, putCmd("keep", "v"))
	for name, data := range map[string][]byte{
		"empty":          nil,
		"bad version":    {9, tableKV, kvPut},
		"unknown table":  {cmdVersion, 77, 1},
		"unknown op":     {cmdVersion, tableKV, 99},
		"truncated put":  putCmd("a", "b")[:5],
		"trailing bytes": append(putCmd("a", "b"), 1, 2, 3),
	} {
		t.Run(name, func(t *testing.T) {
			if r := applyAt(f, 2, data); r[0] != resInvalid {
				t.Fatalf("status %d, want invalid", r[0])
			}
		})
	}
	if f.kv.Len() != 1 {
		t.Fatalf("refused commands changed state: %d keys", f.kv.Len())
	}
	if f.rejected.Load() != 6 {
		t.Fatalf("rejected count %d, want 6", f.rejected.Load())
	}
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestFSMSnapshotRestoreRoundTrip(t *testing.T) {
	f := newTestFSM()
	for i, k := range []string{"a", "b/1", "b/2", "c"} {
		applyAt(f, uint64(i+1), putCmd(k, "value-"+k))
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	applyAt(f, 10, putCmd("after", "x")) // must not appear in the snapshot
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := newTestFSM()
	applyAt(g, 1, putCmd("stale", "gone")) // restore replaces everything
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if g.kv.Len() != 4 {
		t.Fatalf("restored %d keys, want 4", g.kv.Len())
	}
	e, ok := g.kv.Get("b/2")
	if !ok || string(e.Value) != "value-b/2" || e.Version != 3 || e.CreateIndex != 3 {
		t.Fatalf("restored entry %+v", e)
	}
	if _, ok := g.kv.Get("after"); ok {
		t.Fatal("snapshot contains a write made after it was taken")
	}
}

func TestFSMRestoreRejectsGarbage(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":         nil,
		"wrong magic":   []byte("NOTASNAP\x00"),
		"unknown table": append([]byte(snapMagic), 42),
		"truncated":     append([]byte(snapMagic), tableKV, 5, 3, 'a'),
		"huge record":   append([]byte(snapMagic), tableKV, 1, 0xff, 0xff, 0xff, 0xff, 0x7f),
	} {
		t.Run(name, func(t *testing.T) {
			f := newTestFSM()
			applyAt(f, 1, putCmd("keep", "v"))
			if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err == nil {
				t.Fatal("restore accepted garbage")
			}
			if _, ok := f.kv.Get("keep"); !ok {
				t.Fatal("a failed restore lost the existing state")
			}
		})
	}
}
