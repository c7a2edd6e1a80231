package cluster

import (
	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/kv"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/registry"

	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
)

// Declared allocation bounds (fuzzcheck adds its slack). Applying a
// command or restoring a snapshot builds tables whose size follows the
// input: a few hundred bytes of maps, b-tree nodes and heap entries per
// input byte at worst, plus a fixed cost (an FSM, the snapshot's 64 KiB
// write buffer, one 64 KiB record chunk). A result decoder holds at most
// one element per minimal encoding of one.
const (
	fsmAllocPerByte    = 512
	fsmAllocFixed      = 512 << 10
	resultAllocPerByte = 64
	resultAllocFixed   = 4 << 10
)

// fuzzT0 is the proposer's clock in the seed commands.
const fuzzT0 = uint64(1_700_000_000_000_000_000)

// command encodes an FSM command as the Node's methods do: the envelope,
// then strings, byte strings and uvarints in order.
func command(table, op byte, fields ...any) []byte {
	e := wire.Command(table, op)
	for _, f := range fields {
		switch v := f.(type) {
		case string:
			e.String(v)
		case []byte:
			e.Bytes(v)
		case uint64:
			e.Uvarint(v)
		case int:
			e.Uvarint(uint64(v))
		default:
			panic("command: unsupported field type")
		}
	}
	return e.Data()
}

// seedCommands is one command of every kind, as the Node sends them.
func seedCommands() [][]byte {
	sec := uint64(time.Second)
	return [][]byte{
		command(tableKV, kvPut, "a", []byte("1")),
		command(tableKV, kvCAS, "a", []byte("2"), 1),
		command(tableKV, kvDelete, "a", 0),
		command(tableLocks, lkAcquire, "job", "n1/s1", 0, 0, fuzzT0),
		command(tableLocks, lkAcquire, "job", "n2/s1", 5*sec, sec, fuzzT0+1),
		command(tableLocks, lkRelease, "job", "n1/s1", fuzzT0+2),
		command(tableLocks, lkReleaseSession, "n2/s1", fuzzT0+3),
		command(tableLocks, lkReleaseNode, "n1", fuzzT0+4),
		command(tableLocks, lkTick, fuzzT0+10*sec),
		command(tableNames, nmRegister, "svc", "n1/s1", []byte("10.0.0.1:80"), fuzzT0),
		command(tableNames, nmReserve, "strong", "n2/s1", []byte("m"), fuzzT0+sec, fuzzT0),
		command(tableNames, nmActivate, "strong", "n2/s1", fuzzT0+1),
		command(tableNames, nmCancel, "strong", "n2/s1"),
		command(tableNames, nmUnregister, "svc", "n1/s1"),
		command(tableAdmission, adAdmit, "n4"),
		registry.Register{PID: "n1/s1", Now: time.Unix(0, int64(fuzzT0)), Reg: registry.Registration{
			Service: "web", ID: "w1", Endpoint: "10.0.0.1:80", Protocol: "http", Tags: []string{"v1"},
			Meta: map[string]string{"k": "v"}, Checks: []registry.Check{{Kind: registry.CheckTTL, TTL: time.Minute}},
		}}.Marshal(),
		registry.SetHealth{Service: "web", ID: "w1", PID: "n1/s1", Health: registry.Passing, Output: "ok", Now: time.Unix(0, int64(fuzzT0+1))}.Marshal(),
		registry.LastSeen{Node: "n1", Now: time.Unix(0, int64(fuzzT0+2)), Items: []registry.Seen{{Service: "web", ID: "w1", PID: "n1/s1", At: time.Unix(0, int64(fuzzT0+2))}}}.Marshal(),
		registry.Deregister{Service: "web", ID: "w1", PID: "n1/s1"}.Marshal(),
	}
}

// seedQueries is one query of every kind.
func seedQueries() [][]byte {
	return [][]byte{
		command(tableKV, kvGet, "a"),
		command(tableKV, kvList, "", 0),
		command(tableLocks, lkGet, "job"),
		command(tableLocks, lkList, ""),
		command(tableNames, nmGet, "svc"),
		command(tableNames, nmList, ""),
		command(tableRegistry, rgInstances, "web", "", "", 0),
		command(tableRegistry, rgServices),
		command(tableRegistry, 3), // the last change index
	}
}

// FuzzFSMApply: any three entries applied in a row, each also asked as a
// query, never panic and stay within the declared allocation bound; every
// result is one the Node's decoders read back exactly; and the state they
// leave survives a snapshot and restore byte for byte.
func FuzzFSMApply(f *testing.F) {
	cmds := seedCommands()
	for i, c := range cmds {
		f.Add(c, cmds[(i+1)%len(cmds)], cmds[(i+4)%len(cmds)])
	}
	qs := seedQueries()
	for i, q := range qs {
		f.Add(cmds[i], q, qs[(i+1)%len(qs)])
	}
	f.Add([]byte{}, []byte{cmdVersion + 1, tableKV, kvPut}, []byte{cmdVersion, 77, 1})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		var m testTables
		entries := [][]byte{a, b, c}
		limit := fuzzcheck.Linear(len(a)+len(b)+len(c), fsmAllocPerByte, fsmAllocFixed)
		fuzzcheck.Bounded(t, "apply", limit, func() {
			m = newTestFSM()
			for i, data := range entries {
				r := applyAt(m, uint64(i+1), data)
				checkApplyResult(t, data, r)
				if resp, err := m.Query(data); err != nil {
					if !errors.Is(err, ErrInvalidArgument) {
						t.Fatalf("query %x: %v is not InvalidArgument", data, err)
					}
				} else {
					checkQueryResult(t, data, resp)
				}
			}
		})
		for _, q := range seedQueries() {
			resp, err := m.Query(q)
			if err != nil {
				t.Fatalf("query %x: %v", q, err)
			}
			checkQueryResult(t, q, resp)
		}
		snap := persist(t, m)
		g := newTestFSM()
		if err := g.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
			t.Fatalf("restoring the FSM's own snapshot: %v", err)
		}
		if again := persist(t, g); !bytes.Equal(again, snap) {
			t.Fatalf("snapshot changed across restore:\n%x\n%x", snap, again)
		}
	})
}

// checkApplyResult decodes an Apply result as the Node does for the
// command that produced it.
func checkApplyResult(t *testing.T, cmd, r []byte) {
	t.Helper()
	d := wire.NewDecoder(r)
	st := d.Byte()
	if d.Err() != nil {
		t.Fatalf("command %x: empty result", cmd)
	}
	switch {
	case st == byte(resTaken):
		_, _, _, _ = d.String(), d.String(), d.Byte(), d.Byte()
	case st == byte(resRegTaken):
		_, _ = d.String(), d.String()
	case st != resOK:
		_ = d.String()
	case cmd[1] == tableRegistry && cmd[2] == rgRegister:
		if _, err := registry.ParseInstanceResult(r); err != nil {
			t.Fatalf("command %x: result %x does not decode: %v", cmd, r, err)
		}
		return
	case cmd[1] == tableRegistry: // the entry's index
		_ = d.Uvarint()
	case cmd[1] == tableKV && cmd[2] == 4: // prefix delete: how many
		_ = d.Uvarint()
	case cmd[1] == tableKV && cmd[2] == 5: // transaction
		if _, err := kv.ParseTxnResult(r); err != nil {
			t.Fatalf("command %x: result %x does not decode: %v", cmd, r, err)
		}
		return
	case cmd[1] == tableKV:
		_, _, _, _ = d.String(), d.Bytes(), d.Uvarint(), d.Uvarint() // kv's entry
	case cmd[1] == tableLocks && cmd[2] == lkAcquire:
		if _, _, err := locks.ParseAcquireResult(r); err != nil {
			t.Fatalf("command %x: result %x does not decode: %v", cmd, r, err)
		}
		return
	case cmd[1] == tableNames && (cmd[2] == nmRegister || cmd[2] == nmActivate):
		skipBinding(d)
	case cmd[1] == tableNames && cmd[2] == nmReserve:
		if d.Byte() == 1 {
			skipBinding(d)
		}
	}
	if err := d.Done(); err != nil {
		t.Fatalf("command %x: result %x (status %d) does not decode: %v", cmd, r, st, err)
	}
}

// skipBinding reads a binding as naming's Service decodes it (name pid
// scope meta index registered_ns).
func skipBinding(d *wire.Decoder) {
	_, _, _, _, _, _ = d.String(), d.String(), d.Byte(), d.Bytes(), d.Uvarint(), d.Uvarint()
}

// checkQueryResult decodes a Query result as the Node does.
func checkQueryResult(t *testing.T, q, r []byte) {
	t.Helper()
	d := wire.NewDecoder(r)
	st := d.Byte()
	if st != resOK {
		if err := resultErr(r); err == nil {
			t.Fatalf("query %x: refusal %x does not decode", q, r)
		}
		return
	}
	var err error
	switch q[1] {
	case tableKV:
		if len(q) > 2 && q[2] == 3 { // a watch's listing: the last write's and last delete's index first
			_, _ = d.Uvarint(), d.Uvarint()
		}
		for n := d.Count(4); n > 0 && d.Err() == nil; n-- {
			_, _, _, _ = d.String(), d.Bytes(), d.Uvarint(), d.Uvarint() // kv's entry
		}
		err = d.Done()
	case tableLocks:
		_, err = locks.ParseInfos(r)
	case tableNames:
		for n := d.Count(6); n > 0 && d.Err() == nil; n-- {
			skipBinding(d)
		}
		err = d.Done()
	case tableRegistry:
		err = registry.ParseQueryResult(q[2], r)
	}
	if err != nil {
		t.Fatalf("query %x: result %x does not decode: %v", q, r, err)
	}
}

func persist(t testing.TB, m testTables) []byte {
	t.Helper()
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatalf("persist: %v", err)
	}
	return sink.Bytes()
}

// seedSnapshots are real snapshots: empty, and one of every table with
// entries (KV, a held lock with a waiter, a lock in delay, a consistent
// binding and a strong reservation).
func seedSnapshots(f *testing.F) [][]byte {
	sec := uint64(time.Second)
	m := newTestFSM()
	empty := persist(f, m)
	for i, c := range [][]byte{
		command(tableKV, kvPut, "a", []byte("1")),
		command(tableKV, kvPut, "b/c", []byte{}),
		command(tableLocks, lkAcquire, "job", "n1/s1", 0, 0, fuzzT0),
		command(tableLocks, lkAcquire, "job", "n2/s1", 5*sec, sec, fuzzT0+1),
		command(tableLocks, lkAcquire, "held", "n3/s1", 0, sec, fuzzT0),
		command(tableLocks, lkReleaseSession, "n3/s1", fuzzT0+2),
		command(tableNames, nmRegister, "svc", "n1/s1", []byte("10.0.0.1:80"), fuzzT0),
		command(tableNames, nmReserve, "strong", "n2/s1", []byte("m"), fuzzT0+sec, fuzzT0),
		command(tableAdmission, adAdmit, "n4"),
		registry.Register{PID: "n1/s1", Now: time.Unix(0, int64(fuzzT0)), Reg: registry.Registration{
			Service: "web", ID: "w1", Endpoint: "10.0.0.1:80", Protocol: "tcp", Groups: []string{"g"}}}.Marshal(),
	} {
		if r := applyAt(m, uint64(i+1), c); r[0] != resOK {
			f.Fatalf("seed command %d: status %d", i, r[0])
		}
	}
	full := persist(f, m)
	return [][]byte{empty, full}
}

// FuzzFSMRestore: a snapshot of arbitrary bytes is restored or refused,
// never a panic, within the declared allocation bound whatever its record
// lengths claim; a refused one changes nothing, and a restored one is
// persisted and restored again to the same bytes.
func FuzzFSMRestore(f *testing.F) {
	snaps := seedSnapshots(f)
	for _, s := range snaps {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Add(append([]byte(snapMagic), tableKV, 1, 0xff, 0xff, 0xff, 0x1f)) // a 64 MiB record, absent
	f.Add(append([]byte(snapMagic), tableLocks, 0xff, 0xff, 0xff, 0x1f))
	f.Add(append([]byte(snapMagic), tableKV, 0xff, 0xff, 0xff, 0xff, 0x0f))             // 2^32 entries, none present
	f.Add(append([]byte(snapMagic), tableAdmission, 6, 0xff, 0xff, 0xff, 0x1f, 1, 'n')) // admitted count far above the record
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newTestFSM()
		applyAt(m, 1, command(tableKV, kvPut, "keep", []byte("v")))
		before := persist(t, m)
		var err error
		fuzzcheck.Bounded(t, "restore", fuzzcheck.Linear(len(data), fsmAllocPerByte, fsmAllocFixed), func() {
			err = newTestFSM().Restore(io.NopCloser(bytes.NewReader(data)))
		})
		if err != nil {
			if rerr := m.Restore(io.NopCloser(bytes.NewReader(data))); rerr == nil {
				t.Fatalf("restore refused %x once (%v), then accepted it", data, err)
			}
			if after := persist(t, m); !bytes.Equal(after, before) {
				t.Fatalf("a refused restore changed the state: %v", err)
			}
			return
		}
		if err := m.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			t.Fatalf("restore accepted %x once, then refused it: %v", data, err)
		}
		s1 := persist(t, m)
		g := newTestFSM()
		if err := g.Restore(io.NopCloser(bytes.NewReader(s1))); err != nil {
			t.Fatalf("restoring a restored FSM's snapshot: %v", err)
		}
		if s2 := persist(t, g); !bytes.Equal(s1, s2) {
			t.Fatalf("snapshot changed across restore:\n%x\n%x", s1, s2)
		}
	})
}

// FuzzResultDecoders: any bytes handed to the Node's result decoders (a
// reply off the forward protocol, a keyring reply) or to the admitted-set
// snapshot section decode or fail with errShort, never panic, and allocate
// no more than the declared bound whatever their counts claim; decoded
// values re-encode to what decodes to the same values. (Name bindings and
// strong-name acks are fuzzed with their decoders, in package naming; the
// admitted set in raftcore.)
func FuzzResultDecoders(f *testing.F) {
	m := newTestFSM()
	for i, c := range seedCommands() {
		r := applyAt(m, uint64(i+1), c)
		f.Add(r[1:])
	}
	for _, q := range seedQueries() {
		if r, err := m.Query(q); err == nil {
			f.Add(r[1:])
		}
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzcheck.Bounded(t, "result decoders", fuzzcheck.Linear(len(data), resultAllocPerByte, resultAllocFixed), func() {
			if _, err := locks.ParseInfos(append([]byte{0}, data...)); err != nil && !errors.Is(err, errShort) {
				t.Fatalf("locks.ParseInfos: %v is not errShort", err)
			}
			_ = resultErr(data)
		})
	})
}

// FuzzPushPullFrame: a peer's push/pull state never panics the frame
// decoder, and a frame that decodes re-encodes to one that decodes to the
// same parts.
func FuzzPushPullFrame(f *testing.F) {
	f.Add(encodePushPull([]byte{2, 0}, []byte{0x12, 0}))
	f.Add([]byte{2, 0})
	f.Add([]byte{pushPullFrame, 5})
	f.Fuzz(func(t *testing.T, buf []byte) {
		names, ekv, err := decodePushPull(buf)
		if err != nil || len(buf) == 0 || buf[0] != pushPullFrame {
			return
		}
		n2, e2, err := decodePushPull(encodePushPull(names, ekv))
		if err != nil || !bytes.Equal(n2, names) || !bytes.Equal(e2, ekv) {
			t.Fatalf("re-encoded frame: %v, parts %x %x, want %x %x", err, n2, e2, names, ekv)
		}
	})
}
