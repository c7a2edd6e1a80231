package locks

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// oldCommand encodes a command as cluster did before the lock commands
// were typed: version 1, table, op, then strings and uvarints in order.
// The typed commands must produce the same bytes (wire format).
func oldCommand(op byte, fields ...any) []byte {
	b := []byte{1, 2, op}
	for _, f := range fields {
		switch v := f.(type) {
		case string:
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case uint64:
			b = binary.AppendUvarint(b, v)
		}
	}
	return b
}

func TestCommandsKeepTheirWireFormat(t *testing.T) {
	now := time.Unix(0, 1_700_000_000_123_456_789)
	ns := uint64(now.UnixNano())
	tests := map[string]struct {
		got, want []byte
	}{
		"acquire": {Acquire{Name: "job", PID: "n1/s", Wait: 5 * time.Second, LockDelay: time.Second, Now: now}.Marshal(),
			oldCommand(1, "job", "n1/s", uint64(5*time.Second), uint64(time.Second), ns)},
		"release": {Release{Name: "job", PID: "n1/s", Now: now}.Marshal(), oldCommand(2, "job", "n1/s", ns)},
		"tick":    {Tick{Now: now}.Marshal(), oldCommand(5, ns)},
		"get":     {Get{Name: "job"}.Marshal(), oldCommand(1, "job")},
		"list":    {List{Prefix: "j"}.Marshal(), oldCommand(2, "j")},
	}
	for name, tc := range tests {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s: %x, want %x", name, tc.got, tc.want)
		}
	}
}

func TestCommandsRoundTrip(t *testing.T) {
	now := time.Unix(0, 1_700_000_000_000_000_001).UTC()
	a := Acquire{Name: "job", PID: "n1/s", Wait: time.Minute, LockDelay: time.Second, Now: now}
	_, _, d, err := wire.ParseCommand(a.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := unmarshalAcquire(d); err != nil || got != a {
		t.Fatalf("acquire %+v, %v; want %+v", got, err, a)
	}
	r := Release{Name: "job", PID: "n1/s", Now: now}
	_, _, d, _ = wire.ParseCommand(r.Marshal())
	if got, err := unmarshalRelease(d); err != nil || got != r {
		t.Fatalf("release %+v, %v", got, err)
	}
	tk := Tick{Now: now}
	_, _, d, _ = wire.ParseCommand(tk.Marshal())
	if got, err := unmarshalTick(d); err != nil || got != tk {
		t.Fatalf("tick %+v, %v", got, err)
	}
	trailing := append(tk.Marshal(), 0)
	_, _, d, _ = wire.ParseCommand(trailing)
	if _, err := unmarshalTick(d); !errors.Is(err, wire.ErrInvalid) || !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("tick with trailing bytes: %v", err)
	}
}

func TestResultsRoundTrip(t *testing.T) {
	r := AcquireResult{Queued: true, Position: 3, Holder: "n1/x"}
	got, index, err := ParseAcquireResult(marshalAcquireResult(r, 42))
	if err != nil || index != 42 || !reflect.DeepEqual(got, r) {
		t.Fatalf("acquire result %+v %d %v", got, index, err)
	}
	for code, want := range map[wire.Code]error{CodeHeld: ErrHeld, CodeNotHolder: ErrNotHolder, CodeQueueFull: wire.ErrUnavailable, wire.NotFound: wire.ErrNotFound, wire.Invalid: wire.ErrInvalid} {
		_, _, err := ParseAcquireResult(wire.Refusal(wire.Refuse(code, nil, "the detail")))
		if !errors.Is(err, want) || err.Error() != "the detail" {
			t.Errorf("code %d: %v; want %v reading just the detail", code, err, want)
		}
	}
	at := time.Unix(0, 1_700_000_000_000_000_000).UTC()
	ls := []Lock{
		{Name: "a", Holder: "n1/s", Token: 7, GrantedAt: at, LockDelay: time.Second,
			Waiters: []Waiter{{PID: "n2/s", Deadline: at.Add(time.Minute), LockDelay: time.Hour}}},
		{Name: "b", DelayUntil: at.Add(time.Second)},
	}
	infos, err := ParseInfos(marshalInfos(ls))
	want := []Info{
		{Name: "a", Holder: "n1/s", Token: 7, GrantedAt: at, LockDelay: time.Second,
			Waiters: []WaiterInfo{{PID: "n2/s", Deadline: at.Add(time.Minute)}}},
		{Name: "b", DelayUntil: at.Add(time.Second)},
	}
	if err != nil || !reflect.DeepEqual(infos, want) {
		t.Fatalf("infos %+v, %v; want %+v", infos, err, want)
	}
	if _, err := ParseInfos([]byte{0, 0xff, 0xff, 0x03}); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("a count beyond the input: %v", err)
	}
}

func applyCmd(t *testing.T, r *Replicated, index uint64, cmd []byte) ([]byte, error) {
	t.Helper()
	_, op, d, err := wire.ParseCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return r.Apply(index, op, d)
}

// Screen refuses exactly what Apply refuses as breaking the table's rules,
// with the same error.
func TestReplicatedScreenMatchesApply(t *testing.T) {
	now := time.Unix(0, 1_700_000_000_000_000_000)
	tests := map[string][]byte{
		"reserved name":     Acquire{Name: "_sys/x", PID: "n1/s", Now: now}.Marshal(),
		"long name":         Acquire{Name: strings.Repeat("l", 300), PID: "n1/s", Now: now}.Marshal(),
		"bad pid":           Acquire{Name: "l", PID: "nopid", Now: now}.Marshal(),
		"lock delay":        Acquire{Name: "l", PID: "n1/s", LockDelay: time.Hour, Now: now}.Marshal(),
		"release bad pid":   Release{Name: "l", PID: "", Now: now}.Marshal(),
		"release bad name":  Release{Name: "", PID: "n1/s", Now: now}.Marshal(),
		"truncated acquire": Acquire{Name: "l", PID: "n1/s", Now: now}.Marshal()[:6],
	}
	for name, cmd := range tests {
		t.Run(name, func(t *testing.T) {
			r := NewReplicated(nil)
			_, op, d, _ := wire.ParseCommand(cmd)
			serr := r.Screen(op, d)
			res, aerr := applyCmd(t, r, 1, cmd)
			if serr == nil || aerr == nil || res != nil || serr.Error() != aerr.Error() || !errors.Is(aerr, wire.ErrInvalid) {
				t.Fatalf("screen %v, apply %x %v; want the same invalid-argument error", serr, res, aerr)
			}
			if r.Held() != 0 {
				t.Fatal("a refused command changed the table")
			}
		})
	}
	// An unknown op is refused by the screen, and at apply on every
	// replica alike.
	unknown := []byte{1, TableID, 9}
	if err := NewReplicated(nil).Screen(9, wire.NewDecoder(nil)); !errors.Is(err, wire.ErrInvalid) {
		t.Errorf("screen let an unknown op through: %v", err)
	}
	if res, err := applyCmd(t, NewReplicated(nil), 1, unknown); res != nil || !errors.Is(err, wire.ErrInvalid) {
		t.Errorf("apply of an unknown op: %x, %v", res, err)
	}
	for name, cmd := range map[string][]byte{
		"acquire": Acquire{Name: "l", PID: "n1/s", Wait: time.Second, Now: now}.Marshal(),
		"release": Release{Name: "l", PID: "n1/s", Now: now}.Marshal(),
		"tick":    Tick{Now: now}.Marshal(),
	} {
		_, op, d, _ := wire.ParseCommand(cmd)
		if err := NewReplicated(nil).Screen(op, d); err != nil {
			t.Errorf("%s: screen refused a legal command: %v", name, err)
		}
	}
}

// Events reach notify at Flush, once per batch, with their entries'
// indexes; refusals by state are results, not errors.
func TestReplicatedFlushAndRefusals(t *testing.T) {
	var got []IndexedEvent
	r := NewReplicated(func(ev []IndexedEvent) { got = append(got, ev...) })
	now := time.Unix(0, 1_700_000_000_000_000_000)
	if _, err := applyCmd(t, r, 1, Acquire{Name: "l", PID: "n1/s", Now: now}.Marshal()); err != nil {
		t.Fatal(err)
	}
	res, err := applyCmd(t, r, 2, Acquire{Name: "l", PID: "n2/s", Now: now}.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, perr := ParseAcquireResult(res); !errors.Is(perr, ErrHeld) {
		t.Fatalf("held refusal: %v", perr)
	}
	if _, err := applyCmd(t, r, 3, Acquire{Name: "l", PID: "n2/s", Wait: time.Minute, Now: now}.Marshal()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatal("events delivered before Flush")
	}
	if err := r.ReleaseNode(4, now, "n1"); err != nil {
		t.Fatal(err)
	}
	r.Flush()
	want := []IndexedEvent{
		{Event{Kind: Granted, Name: "l", PID: "n1/s", Token: 1}, 1},
		{Event{Kind: AutoReleased, Name: "l", PID: "n1/s", Token: 1}, 4},
		{Event{Kind: Granted, Name: "l", PID: "n2/s", Token: 4}, 4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v\nwant %v", got, want)
	}
	if nodes := r.Nodes(); !reflect.DeepEqual(nodes, []string{"n2"}) {
		t.Fatalf("nodes %v", nodes)
	}
	if err := r.ReleaseSession(5, now, "bad"); !errors.Is(err, wire.ErrInvalid) {
		t.Fatalf("release-session of a bad pid: %v", err)
	}
}

// The snapshot section is the pure table's encoding in one frame; restore
// installs it only at commit, and no section means an empty table.
func TestReplicatedSnapshotRestore(t *testing.T) {
	now := time.Unix(0, 1_700_000_000_000_000_000)
	r := NewReplicated(nil)
	applyCmd(t, r, 1, Acquire{Name: "l", PID: "n1/s", LockDelay: time.Second, Now: now}.Marshal())
	applyCmd(t, r, 2, Acquire{Name: "l", PID: "n2/s", Wait: time.Minute, Now: now}.Marshal())
	write, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	tb, _ := r.t.MarshalBinary()
	if want := append(binary.AppendUvarint(nil, uint64(len(tb))), tb...); !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("section %x, want the framed table %x", buf.Bytes(), want)
	}
	g := NewReplicated(nil)
	commit, err := g.Restore(bufio.NewReader(bytes.NewReader(buf.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	if g.Held() != 0 {
		t.Fatal("restore changed the table before commit")
	}
	commit()
	if again, _ := g.t.MarshalBinary(); !bytes.Equal(again, tb) {
		t.Fatal("restored table differs")
	}
	commit, err = g.Restore(nil)
	if err != nil {
		t.Fatal(err)
	}
	commit()
	if g.t.Len() != 0 || g.t.LastToken() != 0 {
		t.Fatal("no section did not restore an empty table")
	}
	if _, err := g.Restore(bufio.NewReader(bytes.NewReader([]byte{3, 'x', 'y', 'z'}))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("garbage section: %v", err)
	}
}
