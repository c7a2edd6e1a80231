package naming

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The leader's screen and the apply refuse the same commands with the
// same error, and a refused command changes nothing.
func TestTableScreenIsApplysCheck(t *testing.T) {
	for what, tc := range map[string]struct {
		cmd  []byte
		want string
	}{
		"name under _sys":   {Register{Name: "_sys/x", PID: "n1/s"}.Marshal(), `name: "_sys/x": the prefix "_sys" is reserved`},
		"name too long":     {Reserve{Name: strings.Repeat("n", 300), PID: "n1/s"}.Marshal(), "name: is 300 bytes, the limit is 256"},
		"meta too big":      {Register{Name: "x", PID: "n1/s", Meta: make([]byte, 5000)}.Marshal(), "metadata: is 5000 bytes, the limit is 4096"},
		"bad pid":           {Activate{Name: "x", PID: "nopid"}.Marshal(), `pid: "nopid" is not <node>/<session-id>`},
		"cancel empty name": {Cancel{PID: "n1/s"}.Marshal(), "name: must not be empty"},
		"unregister no pid": {Unregister{Name: "x"}.Marshal(), "pid: must not be empty"},
		"unknown op":        {wire.Command(TableID, 99).Data(), "unknown name op 99"},
		"truncated":         {Register{Name: "x", PID: "n1/s"}.Marshal()[:6], "malformed"},
		"trailing bytes":    {append(Cancel{Name: "x", PID: "n1/s"}.Marshal(), 0), "trailing"},
	} {
		t.Run(what, func(t *testing.T) {
			tb := NewTable(func([]Event) { t.Error("a refused command made events") })
			_, op, d, _ := wire.ParseCommand(tc.cmd)
			serr := tb.Screen(op, d)
			_, op, d, _ = wire.ParseCommand(tc.cmd)
			r, aerr := tb.Apply(1, op, d)
			tb.Flush()
			if serr == nil || aerr == nil || r != nil || serr.Error() != aerr.Error() {
				t.Fatalf("screen %v, apply %q %v: want one error", serr, r, aerr)
			}
			if !errors.Is(aerr, wire.ErrInvalid) || !strings.Contains(aerr.Error(), tc.want) {
				t.Fatalf("apply: %v, want ErrInvalid with %q", aerr, tc.want)
			}
			if tb.Len() != 0 || len(tb.Nodes()) != 0 {
				t.Fatal("a refused command changed the table")
			}
		})
	}
	ok := NewTable(nil)
	_, op, d, _ := wire.ParseCommand(Register{Name: "x", PID: "n1/s", Meta: []byte("m")}.Marshal())
	if err := ok.Screen(op, d); err != nil {
		t.Fatalf("screen refused a legal command: %v", err)
	}
}

// Events of applied commands and releases reach the events func on Flush,
// not before.
func TestTableFlushDeliversEvents(t *testing.T) {
	var got []string
	tb := NewTable(func(evs []Event) {
		for _, ev := range evs {
			got = append(got, ev.Kind.String()+" "+ev.Binding.Name)
		}
	})
	applyCmd(t, tb, 1, Register{Name: "a", PID: "n1/s", Now: t0}.Marshal())
	applyCmd(t, tb, 2, Register{Name: "b", PID: "n2/s", Now: t0}.Marshal())
	if len(got) != 0 {
		t.Fatalf("events before Flush: %v", got)
	}
	tb.Flush()
	if err := tb.ReleaseNode(3, t0, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := tb.ReleaseSession(4, t0, "n2/s"); err != nil {
		t.Fatal(err)
	}
	tb.Flush()
	tb.Flush()
	if want := "bound a,bound b,unbound a,unbound b"; strings.Join(got, ",") != want {
		t.Fatalf("events %v, want %s", got, want)
	}
}

// A snapshot section restores to the same table; no section is an empty
// table; a bad section changes nothing.
func TestTableSnapshotRestore(t *testing.T) {
	tb := NewTable(nil)
	applyCmd(t, tb, 1, Register{Name: "a", PID: "n1/s", Meta: []byte("m"), Now: t0}.Marshal())
	applyCmd(t, tb, 2, Reserve{Name: "r", PID: "n2/s", Deadline: t0.Add(time.Minute), Now: t0}.Marshal())
	write, err := tb.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	applyCmd(t, tb, 3, Register{Name: "later", PID: "n1/s", Now: t0}.Marshal())
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	if got := buf.Bytes(); got[0] != byte(len(got)-1) || !bytes.Contains(got, []byte("r")) {
		t.Fatalf("section %x is not one frame", got)
	}
	g := NewTable(nil)
	applyCmd(t, g, 1, Register{Name: "stale", PID: "n9/s", Now: t0}.Marshal())
	commit, err := g.Restore(bufio.NewReader(bytes.NewReader(buf.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Owner("stale"); !ok {
		t.Fatal("restore changed the table before its commit")
	}
	commit()
	if _, ok := g.Owner("stale"); ok {
		t.Fatal("restore kept old state")
	}
	if b, ok := g.Owner("a"); !ok || string(b.Meta) != "m" {
		t.Fatalf("restored binding %+v", b)
	}
	if _, ok := g.Owner("later"); ok {
		t.Fatal("the snapshot holds a write made after it was taken")
	}
	commit, err = g.Restore(nil)
	if err != nil {
		t.Fatal(err)
	}
	commit()
	if g.Len() != 0 || len(g.Nodes()) != 0 {
		t.Fatal("restore of no section left names")
	}
	for what, bad := range map[string][]byte{
		"empty":     nil,
		"truncated": buf.Bytes()[:len(buf.Bytes())-2],
		"version":   {3, 9, 0, 0},
	} {
		if _, err := tb.Restore(bufio.NewReader(bytes.NewReader(bad))); err == nil {
			t.Errorf("%s: restore accepted %x", what, bad)
		}
	}
	if _, ok := tb.Owner("later"); !ok {
		t.Fatal("a refused restore changed the table")
	}
}

// Refusals cross Raft as (code, detail, extra) and come back as this
// package's errors.
func TestRefusalRoundTrip(t *testing.T) {
	c := &Conflict{Name: "x", Owner: "n1/a", Scope: ScopeStrong, Reserved: true}
	_, e := wire.ParseResult(refusalOf(c))
	err := refusalErr("x", e)
	var got *Conflict
	if !errors.As(err, &got) || *got != *c || !errors.Is(err, ErrTaken) {
		t.Fatalf("conflict round trip: %#v", err)
	}
	for code, want := range map[wire.Code]error{CodeNotOwner: ErrNotOwner, CodeExpired: ErrExpired, wire.NotFound: ErrNotFound, wire.Invalid: ErrInvalid} {
		_, e := wire.ParseResult(wire.Refusal(&wire.Error{Code: code, Detail: "what happened"}))
		if err := refusalErr("x", e); !errors.Is(err, want) || err.Error() != "what happened" {
			t.Errorf("code %d: %v, want %v", code, err, want)
		}
	}
	_, e = wire.ParseResult(wire.Refusal(&wire.Error{Code: CodeTaken, Detail: "taken"}))
	if err := refusalErr("x", e); !errors.Is(err, ErrTaken) {
		t.Fatalf("taken without extra: %v", err)
	}
	_, e = wire.ParseResult([]byte{42, 1, 'z'})
	if err := refusalErr("x", e); err == nil || !strings.Contains(err.Error(), "status 42") {
		t.Fatalf("unknown code: %v", err)
	}
}
