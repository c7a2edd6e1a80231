package kv

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
	"github.com/conclave-dev/conclave/internal/wire"
)

// FuzzQueryResult: any bytes handed to the service's entry decoder (a
// reply off the forward protocol) decode or fail as malformed, never
// panic, allocate no more than the declared bound whatever their counts
// claim, and what decodes re-encodes to what decodes to the same entries.
func FuzzQueryResult(f *testing.F) {
	r := NewReplicated()
	for i, c := range seedCommands() {
		if _, err := r.Apply(uint64(i+1), c[2], wire.NewDecoder(c[3:])); err != nil {
			f.Fatal(err)
		}
	}
	res, _ := r.Query(queryList, wire.NewDecoder(listQuery("", 0)[3:]))
	f.Add(res[1:])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			es  []Entry
			err error
		)
		fuzzcheck.Bounded(t, "decodeEntries", fuzzcheck.Linear(len(data), 64, 4<<10), func() {
			es, err = decodeEntries(wire.NewDecoder(data))
		})
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("decodeEntries: %v is not malformed", err)
			}
			return
		}
		e := wire.NewEncoder()
		e.Uvarint(uint64(len(es)))
		for i := range es {
			encodeEntry(e, &es[i])
		}
		again, err := decodeEntries(wire.NewDecoder(e.Data()))
		if err != nil || !reflect.DeepEqual(again, es) {
			t.Fatalf("entries %+v round trip as %+v, %v", es, again, err)
		}
	})
}

// seedCommands are one of every KV write, each valid after the ones
// before it.
func seedCommands() [][]byte {
	return [][]byte{
		Put("a", []byte("v-a")).Marshal(),
		Put("b/1", []byte("v-b/1")).Marshal(),
		Put("b/2", []byte("v-b/2")).Marshal(),
		CompareAndSet("c", []byte("v-c"), 0).Marshal(),
		Delete("c", 4).Marshal(),
		Put("d/1", nil).Marshal(),
		DeletePrefix("d/").Marshal(),
		Txn([]Compare{{Key: "a", Version: 1}, {Key: "t", Version: 0}},
			[]Op{PutOp("t", []byte("v-t")), DeleteOp("b/2"), PutOp("b/2x", nil)}).Marshal(),
	}
}

// FuzzCommand: any fields under any KV op decode or are refused as
// invalid, never panic, allocate in proportion to their length whatever
// their counts claim, Screen and Apply agree, and what decodes re-encodes
// to what decodes to the same command (not always the same bytes: a
// uvarint may be written longer than it needs).
func FuzzCommand(f *testing.F) {
	for _, c := range seedCommands() {
		f.Add(c[2], c[3:])
	}
	f.Add(byte(opTxn), []byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(byte(opTxn), []byte{65})
	f.Fuzz(func(t *testing.T, op byte, fields []byte) {
		var (
			c   Command
			err error
		)
		fuzzcheck.Bounded(t, "unmarshal", fuzzcheck.Linear(len(fields), 64, 16<<10), func() {
			c, err = unmarshal(op, wire.NewDecoder(fields))
		})
		r := NewReplicated()
		_, applyErr := r.Apply(1, op, wire.NewDecoder(fields))
		screenErr := r.Screen(op, wire.NewDecoder(fields))
		if (err == nil) != (applyErr == nil) || (err == nil) != (screenErr == nil) {
			t.Fatalf("unmarshal %v, Apply %v, Screen %v: they must agree", err, applyErr, screenErr)
		}
		if err != nil {
			if !errors.Is(err, wire.ErrInvalid) {
				t.Fatalf("unmarshal: %v is not invalid", err)
			}
			return
		}
		again := c.Marshal()
		back, err := unmarshal(again[2], wire.NewDecoder(again[3:]))
		if err != nil || again[2] != op || !reflect.DeepEqual(back, c) {
			t.Fatalf("op %d fields %x decode as %+v, which re-encodes as %x and decodes as %+v, %v", op, fields, c, again, back, err)
		}
	})
}

// FuzzTxnResult: any bytes handed to the service's transaction result
// decoder (a reply off the forward protocol) decode or fail as malformed,
// never panic, allocate in proportion to their length, and what decodes
// re-encodes to what decodes to the same result.
func FuzzTxnResult(f *testing.F) {
	r := NewReplicated()
	for i, c := range seedCommands() {
		res, err := r.Apply(uint64(i+1), c[2], wire.NewDecoder(c[3:]))
		if err != nil {
			f.Fatal(err)
		}
		if c[2] == opTxn {
			f.Add(res[1:])
		}
	}
	failed := wire.NewEncoder()
	encodeTxnResult(failed, &TxnResult{Failed: 2, Actual: 40})
	f.Add(failed.Data())
	f.Add([]byte{1, 9, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			got TxnResult
			err error
		)
		fuzzcheck.Bounded(t, "decodeTxnResult", fuzzcheck.Linear(len(data), 64, 4<<10), func() {
			got, err = decodeTxnResult(wire.NewDecoder(data))
		})
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("decodeTxnResult: %v is not malformed", err)
			}
			return
		}
		e := wire.NewEncoder()
		encodeTxnResult(e, &got)
		again, err := decodeTxnResult(wire.NewDecoder(e.Data()))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("result %+v round trips as %+v, %v", got, again, err)
		}
	})
}

// FuzzEventualMerge: a peer's eventual-store message never panics, and one
// that decodes re-encodes to a message that decodes to the same versions.
func FuzzEventualMerge(f *testing.F) {
	src := NewEventual("n1", EventualConfig{})
	_, d, _ := src.Put(time.Unix(1, 0), "k", []byte("v"))
	f.Add(d)
	del, _ := src.Delete(time.Unix(2, 0), "k")
	f.Add(del)
	f.Add(src.State())
	f.Add([]byte{msgEventualState, 0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		e := NewEventual("n2", EventualConfig{})
		if _, err := e.Merge(time.Unix(3, 0), msg); err != nil {
			if e.Stats().Dropped["malformed"] != 1 {
				t.Fatal("malformed message not counted")
			}
			return
		}
		_, rs, err := decodeEventual(msg)
		if err != nil {
			t.Fatal(err)
		}
		if _, rs2, err := decodeEventual(encodeEventual(msgEventualState, rs)); err != nil || len(rs2) != len(rs) {
			t.Fatalf("re-encoded: %v, %d versions of %d", err, len(rs2), len(rs))
		}
	})
}
