package locks

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
)

// sampleTable has every shape of lock: held with waiters, held with a
// lock_delay, in delay with a waiter, and a far-past command time.
func sampleTable(t testing.TB) *Table {
	tb := New()
	steps := []struct {
		now time.Time
		req AcquireRequest
	}{
		{t0, AcquireRequest{Name: "jobs/a", PID: "n1/s1", LockDelay: 2 * time.Second}},
		{t0, AcquireRequest{Name: "jobs/a", PID: "n2/s1", Wait: time.Minute, LockDelay: time.Second}},
		{t0, AcquireRequest{Name: "jobs/a", PID: "n3/s1", Wait: time.Hour}},
		{t0, AcquireRequest{Name: "delayed", PID: "n2/s2", LockDelay: MaxLockDelay}},
		{t0, AcquireRequest{Name: "delayed", PID: "n3/s2", Wait: time.Hour}},
		{time.Unix(0, -5), AcquireRequest{Name: "ancient/ünïcode", PID: "n4/s"}},
	}
	for i, s := range steps {
		if _, _, err := tb.Acquire(uint64(i+1), s.now, s.req); err != nil {
			t.Fatalf("sample: %v", err)
		}
	}
	if _, err := tb.ReleaseSession(10, t0, "n2/s2"); err != nil {
		t.Fatalf("sample: %v", err)
	}
	return tb
}

func TestSnapshotRoundTrip(t *testing.T) {
	for name, tb := range map[string]*Table{"empty": New(), "sample": sampleTable(t)} {
		t.Run(name, func(t *testing.T) {
			b := encode(t, tb)
			got := New()
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			checkInvariants(t, got)
			if !bytes.Equal(encode(t, got), b) {
				t.Fatal("re-encoding differs")
			}
			if !reflect.DeepEqual(got.List(""), tb.List("")) || got.LastToken() != tb.LastToken() {
				t.Fatalf("restored table differs:\n%+v\n%+v", got.List(""), tb.List(""))
			}
			d1, ok1 := tb.NextDeadline()
			d2, ok2 := got.NextDeadline()
			if ok1 != ok2 || !d1.Equal(d2) {
				t.Fatalf("NextDeadline %v/%v vs %v/%v", d1, ok1, d2, ok2)
			}
			// The restored table keeps working the same way as the original.
			ev1, err1 := tb.Tick(100, at(time.Minute))
			ev2, err2 := got.Tick(100, at(time.Minute))
			if err1 != nil || err2 != nil || !reflect.DeepEqual(ev1, ev2) || !bytes.Equal(encode(t, tb), encode(t, got)) {
				t.Fatalf("tables diverge after restore: %v %v %v %v", ev1, ev2, err1, err2)
			}
		})
	}
}

func TestSnapshotRejectsCorrupt(t *testing.T) {
	good := encode(t, sampleTable(t))
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	// hdr builds an encoding by hand from the header on.
	hdr := func(parts ...[]byte) []byte {
		b := []byte("CLKT\x01")
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	str := func(s string) []byte { return appendString(nil, s) }
	tests := map[string][]byte{
		"nil":              nil,
		"bad magic":        mutate(func(b []byte) []byte { b[0] = 'X'; return b }),
		"bad version":      mutate(func(b []byte) []byte { b[4] = 2; return b }),
		"trailing byte":    append(bytes.Clone(good), 0),
		"huge lock count":  hdr(uv(5), uv(1<<40)),
		"overlong varint":  hdr([]byte{0x85, 0x00}, uv(0)),
		"unheld undelayed": hdr(uv(5), uv(1), str("a"), str(""), []byte{0}, uv(0)),
		"held and delayed": hdr(uv(5), uv(1), str("a"), str("n1/s"), uv(5), uv(0), uv(0), []byte{1}, uv(0), uv(0)),
		"token zero":       hdr(uv(5), uv(1), str("a"), str("n1/s"), uv(0), uv(0), uv(0), []byte{0}, uv(0)),
		"token above last": hdr(uv(5), uv(1), str("a"), str("n1/s"), uv(6), uv(0), uv(0), []byte{0}, uv(0)),
		"reserved name":    hdr(uv(5), uv(1), str("_sys"), str("n1/s"), uv(5), uv(0), uv(0), []byte{0}, uv(0)),
		"bad holder":       hdr(uv(5), uv(1), str("a"), str("nos"), uv(5), uv(0), uv(0), []byte{0}, uv(0)),
		"bad flags":        hdr(uv(5), uv(1), str("a"), str("n1/s"), uv(5), uv(0), uv(0), []byte{4}, uv(0)),
		"negative delay": hdr(uv(5), uv(1), str("a"), str("n1/s"), uv(5), uv(0),
			binary.AppendVarint(nil, -1), []byte{0}, uv(0)),
		"holder waits too": hdr(uv(5), uv(1), str("a"), str("n1/s"), uv(5), uv(0), uv(0), []byte{0},
			uv(1), str("n1/s"), uv(0), uv(0)),
		"duplicate waiter": hdr(uv(5), uv(1), str("a"), str("n1/s"), uv(5), uv(0), uv(0), []byte{0},
			uv(2), str("n2/s"), uv(0), uv(0), str("n2/s"), uv(0), uv(0)),
		"too many waiters": hdr(uv(5), uv(1), str("a"), str("n1/s"), uv(5), uv(0), uv(0), []byte{0},
			uv(MaxWaiters+1)),
		"unsorted": hdr(uv(5), uv(2),
			str("b"), str("n1/s"), uv(5), uv(0), uv(0), []byte{0}, uv(0),
			str("a"), str("n1/s"), uv(5), uv(0), uv(0), []byte{0}, uv(0)),
		"duplicate name": hdr(uv(5), uv(2),
			str("a"), str("n1/s"), uv(5), uv(0), uv(0), []byte{0}, uv(0),
			str("a"), str("n2/s"), uv(4), uv(0), uv(0), []byte{0}, uv(0)),
	}
	for i := range len(good) {
		tests["truncated at "+string(rune('0'+i/100))+string(rune('0'+i/10%10))+string(rune('0'+i%10))] = good[:i]
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			tb := sampleTable(t)
			before := encode(t, tb)
			mustErr(t, tb.UnmarshalBinary(data), ErrCorrupt)
			mustUnchanged(t, tb, before)
		})
	}
	// The hand-built encoder above is right: a valid variant decodes.
	ok := hdr(uv(5), uv(1), str("a"), str("n1/s"), uv(5), uv(0), uv(0), []byte{0},
		uv(1), str("n2/s"), uv(0), uv(0))
	if err := New().UnmarshalBinary(ok); err != nil {
		t.Fatalf("valid hand-built snapshot: %v", err)
	}
}

// FuzzUnmarshalBinary: garbage never panics, and whatever decodes is a valid
// table whose encoding is exactly the input (the format is canonical).
func FuzzUnmarshalBinary(f *testing.F) {
	f.Add(encode(f, New()))
	f.Add(encode(f, sampleTable(f)))
	withSem := sampleTable(f)
	withSem.SemAcquire(30, t0, SemAcquireRequest{Name: "batch", PID: "n1/a", Limit: 1})
	withSem.SemAcquire(31, t0, SemAcquireRequest{Name: "batch", PID: "n2/a", Limit: 1, Wait: time.Minute})
	f.Add(encode(f, withSem))
	f.Add([]byte("CLKT\x01\x05\x01\x01a\x04n1/s\x05\x00\x00\x00\x00"))
	f.Add([]byte{})
	f.Add([]byte("CLKT\x01\x05\xff\xff\xff\xff\x0f")) // a lock count far above the input
	f.Fuzz(func(t *testing.T, data []byte) {
		// Declared bound: a lock or waiter with its map, index and heap
		// entries costs a few hundred bytes and takes at least
		// minLockBytes (minWaiterBytes) of input.
		fuzzcheck.Bounded(t, "UnmarshalBinary", fuzzcheck.Linear(len(data), 256, 64<<10), func() {
			_ = New().UnmarshalBinary(data)
		})
		tb := New()
		if err := tb.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("UnmarshalBinary: %v does not wrap ErrCorrupt", err)
			}
			return
		}
		checkInvariants(t, tb)
		if got := encode(t, tb); !bytes.Equal(got, data) {
			t.Fatalf("decoded %x re-encodes as %x", data, got)
		}
	})
}
