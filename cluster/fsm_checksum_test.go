package cluster

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-dev/conclave/internal/wire"
)

// applyExt applies data at index with ext as the entry's Extensions, as
// raft hands a committed entry to the FSM.
func applyExt(f testTables, index uint64, data, ext []byte) any {
	return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data, Extensions: ext})
}

func kvGetQuery(key string) []byte {
	q := wire.Command(tableKV, kvGet)
	q.String(key)
	return q.Data()
}

func TestFSMVerifiesChecksums(t *testing.T) {
	f := newTestFSM()
	var halts []uint64
	f.onHalt = func(i uint64) { halts = append(halts, i) }

	// A valid checksum applies; so does an entry without one (from a
	// leader older than checksums) or with a scheme this node does not know.
	for i, e := range []struct {
		data, ext []byte
	}{
		{putCmd("a", "1"), wire.Checksum(putCmd("a", "1"))},
		{putCmd("b", "1"), nil},
		{putCmd("c", "1"), []byte{'z', 1, 2, 3, 4}},
	} {
		r, ok := applyExt(f, uint64(i+1), e.data, e.ext).([]byte)
		if !ok || r[0] != resOK {
			t.Fatalf("entry %d: result %v, want OK", i+1, r)
		}
	}
	if _, ok := f.halted(); ok {
		t.Fatal("halted after entries that verify")
	}
	if _, err := f.Query(kvGetQuery("a")); err != nil {
		t.Fatalf("query before the halt: %v", err)
	}

	// Data corrupted after the checksum was taken: halts at its index.
	good := putCmd("a", "2")
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 0x01
	r := applyExt(f, 4, bad, wire.Checksum(good))
	err, _ := r.(error)
	if !errors.Is(err, wire.ErrUnavailable) || !strings.Contains(err.Error(), "state machine halted at index 4: checksum mismatch") {
		t.Fatalf("corrupt entry: result %v, want unavailable: state machine halted at index 4", r)
	}
	if at, ok := f.halted(); !ok || at != 4 {
		t.Fatalf("halted() = %d, %v; want 4, true", at, ok)
	}
	if len(halts) != 1 || halts[0] != 4 {
		t.Fatalf("onHalt told %v, want [4]", halts)
	}
	if n := f.checksumFailures.Load(); n != 1 {
		t.Fatalf("checksum failures %d, want 1", n)
	}

	// Every later entry is refused alike, even one that verifies.
	later := putCmd("d", "1")
	r = applyExt(f, 5, later, wire.Checksum(later))
	if err, _ := r.(error); !errors.Is(err, wire.ErrUnavailable) || !strings.Contains(err.Error(), "halted at index 4") {
		t.Fatalf("entry after the halt: result %v, want the halt's refusal", r)
	}
	rs := f.ApplyBatch([]*raft.Log{
		{Index: 6, Type: raft.LogCommand, Data: later},
		{Index: 7, Type: raft.LogCommand, Data: later, Extensions: wire.Checksum(later)},
	})
	for i, r := range rs {
		if err, _ := r.(error); !errors.Is(err, wire.ErrUnavailable) {
			t.Fatalf("batch entry %d after the halt: result %v, want the halt's refusal", i+6, r)
		}
	}
	if len(halts) != 1 {
		t.Fatalf("onHalt told %v, want once", halts)
	}

	// No read, no snapshot; the state is as before the corrupt entry.
	if _, err := f.Query(kvGetQuery("a")); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("query while halted: %v, want unavailable", err)
	}
	if _, err := f.Snapshot(); !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("snapshot while halted: %v, want unavailable", err)
	}
	if got, want := f.checkIntegrityStatus(); got != HealthFail || !strings.Contains(want, "index 4") {
		t.Fatalf("fsm_integrity = %s (%s), want fail naming index 4", got, want)
	}
	e, ok := f.kv.Get("a")
	if !ok || string(e.Value) != "1" {
		t.Fatalf("a = %+v, %v after the halt; want the value before the corrupt entry, 1", e, ok)
	}
	if _, ok := f.kv.Get("d"); ok {
		t.Fatal("an entry after the halt was applied")
	}
}

func TestFSMIntegrityCheckPassesWhenNotHalted(t *testing.T) {
	f := newTestFSM()
	if got, _ := f.checkIntegrityStatus(); got != HealthPass {
		t.Fatalf("fsm_integrity = %s, want pass", got)
	}
}

// checkIntegrityStatus runs the fsm_integrity check.
func (t testTables) checkIntegrityStatus() (string, string) {
	return t.checkIntegrity(time.Time{})
}
