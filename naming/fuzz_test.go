package naming

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
	"github.com/conclave-dev/conclave/internal/wire"
)

// Declared allocation bounds (fuzzcheck adds its slack): a decoded binding,
// reservation or claim with its map and index entries costs a few hundred
// bytes and takes at least six input bytes, so allocations follow the
// input; the fixed part is the tables and maps of an empty table or
// Eventual.
const (
	namingAllocPerByte = 256
	namingAllocFixed   = 64 << 10
)

// FuzzTableUnmarshal: a name table snapshot of arbitrary bytes is restored
// or refused, never a panic, within the declared allocation bound; a
// refused one leaves the table as it was, and a restored one re-encodes to
// a snapshot that restores to the same bytes, and serves reads and
// releases without panicking.
func FuzzTableUnmarshal(f *testing.F) {
	empty, _ := NewState().MarshalBinary()
	f.Add(empty)
	full := sampleNameTable()
	snap, _ := full.MarshalBinary()
	f.Add(snap)
	f.Add(snap[:len(snap)-3])
	f.Add([]byte{snapVersion, 0xff, 0xff, 0xff, 0xff, 0x0f}) // a count far above the input
	f.Add([]byte{snapVersion + 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tb := sampleNameTable()
		before, _ := tb.MarshalBinary()
		var err error
		fuzzcheck.Bounded(t, "UnmarshalBinary", fuzzcheck.Linear(len(data), namingAllocPerByte, namingAllocFixed), func() {
			err = NewState().UnmarshalBinary(data)
		})
		if err != nil {
			if tb.UnmarshalBinary(data) == nil {
				t.Fatalf("snapshot %x refused once (%v), then accepted", data, err)
			}
			if after, _ := tb.MarshalBinary(); !bytes.Equal(after, before) {
				t.Fatalf("a refused snapshot changed the table: %v", err)
			}
			return
		}
		if err := tb.UnmarshalBinary(data); err != nil {
			t.Fatalf("snapshot %x accepted once, then refused: %v", data, err)
		}
		enc1, _ := tb.MarshalBinary()
		cp := NewState()
		if err := cp.UnmarshalBinary(enc1); err != nil {
			t.Fatalf("a restored table's own snapshot %x is refused: %v", enc1, err)
		}
		if enc2, _ := cp.MarshalBinary(); !bytes.Equal(enc1, enc2) {
			t.Fatalf("snapshot not canonical across a round trip:\n%x\n%x", enc1, enc2)
		}
		for _, b := range tb.List("") {
			if got, ok := tb.Get(b.Name); !ok || got.PID != b.PID {
				t.Fatalf("List has %+v, Get has %+v", b, got)
			}
		}
		for _, node := range tb.Nodes() {
			tb.ReleaseNode(node)
		}
		if tb.Len() != 0 || len(tb.Nodes()) != 0 {
			t.Fatalf("after releasing every node: %d bindings, nodes %v", tb.Len(), tb.Nodes())
		}
	})
}

// sampleNameTable holds a consistent binding, a strong binding and a
// pending strong reservation.
func sampleNameTable() *State {
	tb := NewState()
	tb.Register(1, t0, "svc", "n1/s", []byte("10.0.0.1:80"))
	tb.Reserve(2, t0, "pending", "n2/s", nil, t0.Add(time.Minute))
	tb.Reserve(3, t0, "strong", "n2/s", []byte("x"), t0.Add(time.Minute))
	tb.Activate(4, t0, "strong", "n2/s")
	return tb
}

// FuzzEventualMerge: any gossip message merged into an eventual replica
// that holds claims of its own is merged or refused, never a panic, within
// the declared allocation bound; a refused one changes nothing, and the
// state after a merge is a fixed point (merging it again changes nothing
// and tells no one anything: the merge is idempotent).
func FuzzEventualMerge(f *testing.F) {
	peer := NewEventual("peer", 7, func(string) bool { return true }, time.Minute)
	_, _, reg, _ := peer.Register(t0, "svc", "peer/1", []byte("10.0.0.2:80"))
	_, _, other, _ := peer.Register(t0, "other", "peer/2", nil)
	_, unreg, _ := peer.Unregister(t0.Add(time.Second), "other", "peer/2")
	f.Add(reg)
	f.Add(other)
	f.Add(unreg)
	f.Add(peer.State())
	f.Add(fuzzReplica().State())
	f.Add([]byte{msgState, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{msgDelta + 9})
	f.Fuzz(func(t *testing.T, msg []byte) {
		e := fuzzReplica()
		before := e.State()
		var (
			res MergeResult
			err error
		)
		fuzzcheck.Bounded(t, "Merge", fuzzcheck.Linear(len(msg), namingAllocPerByte, namingAllocFixed), func() {
			res, err = fuzzReplica().Merge(t0, msg)
		})
		_ = res
		if _, err2 := e.Merge(t0, msg); (err == nil) != (err2 == nil) {
			t.Fatalf("merge of %x: %v, then %v", msg, err, err2)
		}
		if err != nil {
			if after := e.State(); !bytes.Equal(after, before) {
				t.Fatalf("a refused message changed the state: %v", err)
			}
			return
		}
		state := e.State()
		if _, _, err := decodeMessage(state); err != nil {
			t.Fatalf("the replica's own state %x does not decode: %v", state, err)
		}
		again, err := e.Merge(t0, state)
		if err != nil {
			t.Fatalf("merging the replica's own state: %v", err)
		}
		if len(again.Events) != 0 || len(again.Revocations) != 0 || len(again.Outgoing) != 0 {
			t.Fatalf("merging the replica's own state again: %+v", again)
		}
		if after := e.State(); !bytes.Equal(after, state) {
			t.Fatalf("merging the replica's own state changed it:\n%x\n%x", state, after)
		}
		for _, b := range e.List("") {
			if got, ok := e.Get(b.Name); !ok || got.PID != b.PID {
				t.Fatalf("List has %+v, Get has %+v", b, got)
			}
		}
	})
}

// fuzzReplica is node "me" with a claim of its own, which a merged claim
// can beat (and so revoke), and every node alive.
func fuzzReplica() *Eventual {
	e := NewEventual("me", 5, func(string) bool { return true }, time.Minute)
	e.Register(t0.Add(time.Second), "svc", "me/1", []byte("10.0.0.1:80"))
	return e
}

// FuzzResultDecoders: any bytes handed to the Service's decoders (a
// table result off the forward protocol, a strong-name ack) decode or fail
// with wire.ErrMalformed, never panic, and allocate no more than the
// declared bound whatever their counts claim; decoded bindings and
// conflicts re-encode to what decodes to the same values.
func FuzzResultDecoders(f *testing.F) {
	tb := NewTable(nil)
	for i, c := range [][]byte{
		Register{Name: "svc", PID: "n1/s1", Meta: []byte("10.0.0.1:80"), Now: t0}.Marshal(),
		Reserve{Name: "strong", PID: "n2/s1", Meta: []byte("m"), Deadline: t0.Add(time.Second), Now: t0}.Marshal(),
		Activate{Name: "strong", PID: "n2/s1", Now: t0}.Marshal(),
		Register{Name: "svc", PID: "n3/s1", Now: t0}.Marshal(),
	} {
		_, op, d, _ := wire.ParseCommand(c)
		r, _ := tb.Apply(uint64(i+1), op, d)
		f.Add(r)
		f.Add(r[1:])
	}
	for _, q := range [][]byte{getQuery("svc"), listQuery("")} {
		_, op, d, _ := wire.ParseCommand(q)
		r, _ := tb.Query(op, d)
		f.Add(r)
		f.Add(r[1:])
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{ackOK})
	f.Add(encodeAckConflict("n2/s1", ScopeStrong))
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			bindings []Binding
			conflict *Conflict
			errB     error
			errA     error
		)
		fuzzcheck.Bounded(t, "result decoders", fuzzcheck.Linear(len(data), 64, 4<<10), func() {
			bindings, errB = decodeBindings(wire.NewDecoder(data))
			conflict, errA = decodeAck(data, "svc", "n2")
			if _, e := wire.ParseResult(data); e != nil {
				if err := refusalErr("svc", e); err == nil {
					t.Fatalf("refusal %x maps to no error", data)
				}
			}
		})
		switch {
		case errA != nil && !errors.Is(errA, wire.ErrMalformed):
			t.Fatalf("decodeAck: %v is not ErrMalformed", errA)
		case errA == nil && conflict != nil:
			again, err := decodeAck(encodeAckConflict(conflict.Owner, conflict.Scope), "svc", "n2")
			if err != nil || !reflect.DeepEqual(again, conflict) {
				t.Fatalf("ack conflict %+v round trips as %+v, %v", conflict, again, err)
			}
		}
		if errB != nil {
			if !errors.Is(errB, wire.ErrMalformed) {
				t.Fatalf("decodeBindings: %v is not ErrMalformed", errB)
			}
			return
		}
		e := wire.NewEncoder()
		e.Uvarint(uint64(len(bindings)))
		for _, b := range bindings {
			encodeBinding(e, b)
		}
		again, err := decodeBindings(wire.NewDecoder(e.Data()))
		if err != nil || !reflect.DeepEqual(again, bindings) {
			t.Fatalf("bindings %+v round trip as %+v, %v", bindings, again, err)
		}
	})
}
