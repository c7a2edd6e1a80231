package naming

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

var t0 = time.Unix(1_700_000_000, 0).UTC()

func TestTableFirstWriteWins(t *testing.T) {
	tb := NewState()
	b, evs, err := tb.Register(10, t0, "svc/billing", "n1/a", []byte("10.0.0.1:80"))
	if err != nil || b.PID != "n1/a" || b.Scope != ScopeConsistent || b.Index != 10 || len(evs) != 1 || evs[0].Kind != Bound {
		t.Fatalf("first register = %+v %v %v", b, evs, err)
	}
	_, _, err = tb.Register(11, t0, "svc/billing", "n2/b", nil)
	var c *Conflict
	if !errors.As(err, &c) || !errors.Is(err, ErrTaken) || c.Owner != "n1/a" || !strings.Contains(err.Error(), "n1/a") {
		t.Fatalf("second register = %v, want a Conflict naming n1/a", err)
	}
	again, evs, err := tb.Register(12, t0, "svc/billing", "n1/a", []byte("other"))
	if err != nil || again.Index != 10 || string(again.Meta) != "10.0.0.1:80" || len(evs) != 0 {
		t.Fatalf("idempotent register = %+v %v %v", again, evs, err)
	}
}

func TestTableBadInputChangesNothing(t *testing.T) {
	tb := NewState()
	for name, tc := range map[string]struct {
		name, pid string
		meta      []byte
		field     string
	}{
		"empty name":    {"", "n1/a", nil, "name"},
		"long name":     {strings.Repeat("x", wire.MaxNameLen+1), "n1/a", nil, "name"},
		"reserved":      {"_sys/x", "n1/a", nil, "name"},
		"unprintable":   {"a\x01b", "n1/a", nil, "name"},
		"oversize meta": {"ok", "n1/a", make([]byte, MaxMetaLen+1), "metadata"},
		"bad pid":       {"ok", "nopid", nil, "pid"},
	} {
		_, _, err := tb.Register(1, t0, tc.name, tc.pid, tc.meta)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v, want ErrInvalid naming %q", name, err, tc.field)
		}
	}
	if tb.Len() != 0 || len(tb.byPID) != 0 {
		t.Fatalf("bad input changed the table: %d bindings", tb.Len())
	}
}

func TestTableStrongReservation(t *testing.T) {
	tb := NewState()
	dl := t0.Add(5 * time.Second)
	r, b, err := tb.Reserve(5, t0, "lead", "n1/a", []byte("m"), dl)
	if err != nil || b != nil || r.PID != "n1/a" {
		t.Fatalf("reserve = %+v %v %v", r, b, err)
	}
	if _, ok := tb.Get("lead"); ok {
		t.Fatal("a reservation is visible to lookups")
	}
	// While reserved, nobody else may take the name in either scope.
	var c *Conflict
	if _, _, err := tb.Register(6, t0.Add(time.Second), "lead", "n2/b", nil); !errors.As(err, &c) || !c.Reserved || c.Owner != "n1/a" {
		t.Fatalf("register over a reservation = %v", err)
	}
	if _, _, err := tb.Reserve(6, t0.Add(time.Second), "lead", "n2/b", nil, dl.Add(time.Second)); !errors.As(err, &c) {
		t.Fatalf("reserve over a reservation = %v", err)
	}
	bd, evs, err := tb.Activate(7, t0.Add(2*time.Second), "lead", "n1/a")
	if err != nil || bd.Scope != ScopeStrong || bd.Index != 7 || string(bd.Meta) != "m" || len(evs) != 1 {
		t.Fatalf("activate = %+v %v %v", bd, evs, err)
	}
	// A replayed activation is harmless.
	if _, evs, err := tb.Activate(8, t0.Add(3*time.Second), "lead", "n1/a"); err != nil || len(evs) != 0 {
		t.Fatalf("replayed activate = %v %v", evs, err)
	}
}

func TestTableReservationExpires(t *testing.T) {
	tb := NewState()
	dl := t0.Add(5 * time.Second)
	if _, _, err := tb.Reserve(5, t0, "x", "n1/a", nil, dl); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tb.Activate(6, dl, "x", "n1/a"); !errors.Is(err, ErrExpired) {
		t.Fatalf("activate at the deadline = %v, want ErrExpired", err)
	}
	if _, ok := tb.GetReservation("x"); ok {
		t.Fatal("expired reservation kept")
	}
	if _, _, err := tb.Reserve(7, dl, "y", "n1/a", nil, dl.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// Past the deadline, another PID may take the name.
	if b, _, err := tb.Register(8, dl.Add(2*time.Second), "y", "n2/b", nil); err != nil || b.PID != "n2/b" {
		t.Fatalf("register after expiry = %+v %v", b, err)
	}
	if len(tb.byPID["n1/a"]) != 0 {
		t.Fatalf("index keeps expired reservations: %v", tb.byPID)
	}
}

func TestTableUnregisterAndRelease(t *testing.T) {
	tb := NewState()
	for i, n := range []string{"a", "b", "c"} {
		if _, _, err := tb.Register(uint64(i+1), t0, n, "n1/s", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := tb.Register(4, t0, "d", "n2/s", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tb.Reserve(5, t0, "e", "n1/t", nil, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Unregister("a", "n2/s"); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("unregister by another = %v", err)
	}
	if _, err := tb.Unregister("zz", "n2/s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unregister of nothing = %v", err)
	}
	if evs, err := tb.Unregister("a", "n1/s"); err != nil || len(evs) != 1 || evs[0].Kind != Unbound {
		t.Fatalf("unregister = %v %v", evs, err)
	}
	evs := tb.ReleaseNode("n1")
	if len(evs) != 2 || evs[0].Binding.Name != "b" || evs[1].Binding.Name != "c" {
		t.Fatalf("release node = %+v", evs)
	}
	if _, ok := tb.GetReservation("e"); ok {
		t.Fatal("release node kept a reservation")
	}
	if got := tb.List(""); len(got) != 1 || got[0].Name != "d" {
		t.Fatalf("left = %+v", got)
	}
	if evs := tb.ReleaseSession("n2/s"); len(evs) != 1 || tb.Len() != 0 || len(tb.byPID) != 0 {
		t.Fatalf("release session = %+v, index %v", evs, tb.byPID)
	}
}

func TestTableSnapshotRoundTrip(t *testing.T) {
	tb := NewState()
	tb.Register(1, t0, "a", "n1/s", []byte("meta"))
	tb.Reserve(2, t0, "b", "n2/s", nil, t0.Add(time.Minute))
	r2, b2, _ := tb.Reserve(3, t0, "c", "n2/s", []byte("x"), t0.Add(time.Minute))
	_ = r2
	_ = b2
	tb.Activate(4, t0, "c", "n2/s")
	enc1, _ := tb.MarshalBinary()
	cp := NewState()
	if err := cp.UnmarshalBinary(enc1); err != nil {
		t.Fatal(err)
	}
	enc2, _ := cp.MarshalBinary()
	if string(enc1) != string(enc2) {
		t.Fatal("snapshot not canonical across a round trip")
	}
	if b, ok := cp.Get("c"); !ok || b.Scope != ScopeStrong || b.Index != 4 {
		t.Fatalf("restored c = %+v", b)
	}
	if _, ok := cp.GetReservation("b"); !ok {
		t.Fatal("restored table lost a reservation")
	}
	// Corrupt input is refused and changes nothing.
	for i := 0; i < len(enc1); i++ {
		if err := cp.UnmarshalBinary(enc1[:i]); err == nil {
			t.Fatalf("truncated snapshot (%d bytes) accepted", i)
		}
	}
	if cp.Len() != 2 {
		t.Fatalf("failed restores changed the table: %d", cp.Len())
	}
}

func TestLocalScope(t *testing.T) {
	l := NewLocal()
	if _, _, err := l.Register(t0, "x", "n1/a", nil); err != nil {
		t.Fatal(err)
	}
	var c *Conflict
	if _, _, err := l.Register(t0, "x", "n1/b", nil); !errors.As(err, &c) || c.Owner != "n1/a" || c.Scope != ScopeLocal {
		t.Fatalf("conflict = %v", err)
	}
	if evs := l.ReleaseSession("n1/a"); len(evs) != 1 {
		t.Fatalf("release = %v", evs)
	}
	if _, ok := l.Get("x"); ok || l.Len() != 0 {
		t.Fatal("released name still bound")
	}
}
