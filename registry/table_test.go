package registry

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// applyCmd applies an encoded command (envelope included) to tb at index
// and returns the refusal (nil: OK) and the result's decoder.
func applyCmd(t testing.TB, tb *Table, index uint64, cmd []byte) (*wire.Decoder, error) {
	t.Helper()
	table, op, d, err := wire.ParseCommand(cmd)
	if err != nil || table != TableID {
		t.Fatalf("command %x: table %d, %v", cmd, table, err)
	}
	res, err := tb.Apply(index, op, d)
	if err != nil {
		return nil, err
	}
	rd, refused := wire.ParseResult(res)
	if refused != nil {
		return nil, refusalErr(refused)
	}
	return rd, nil
}

// mustParse returns the fields of an encoded command.
func mustParse(t testing.TB, cmd []byte) *wire.Decoder {
	t.Helper()
	_, _, d, err := wire.ParseCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func reg(service, id, endpoint string, tags ...string) Registration {
	return Registration{Service: service, ID: id, Endpoint: endpoint, Tags: tags}
}

func registerCmd(pid string, r Registration) []byte {
	return Register{PID: pid, Now: t0, Reg: r.Normalize(pid)}.Marshal()
}

func mustApply(t testing.TB, tb *Table, index uint64, cmd []byte) *wire.Decoder {
	t.Helper()
	d, err := applyCmd(t, tb, index, cmd)
	if err != nil {
		t.Fatalf("apply at %d: %v", index, err)
	}
	return d
}

func ids(ins []Instance) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.Service+"/"+in.ID)
	}
	return out
}

func TestTableRegisterQueryAndIndexes(t *testing.T) {
	tb := NewTable()
	mustApply(t, tb, 10, registerCmd("n1/a", reg("web", "w2", "10.0.0.2:80", "v1", "eu")))
	mustApply(t, tb, 11, registerCmd("n2/b", reg("web", "w1", "10.0.0.1:80", "v2")))
	mustApply(t, tb, 12, registerCmd("n1/a", Registration{Service: "db", Endpoint: "10.0.0.3:5432", Groups: []string{"primary"}}))

	all, idx := tb.Instances(Filter{})
	if got, want := ids(all), []string{"db/n1/a", "web/w1", "web/w2"}; !reflect.DeepEqual(got, want) || idx != 12 {
		t.Fatalf("all = %v at %d, want %v at 12", got, idx, want)
	}
	if all[0].Protocol != "tcp" || all[0].Node != "n1" || all[0].Health != Passing || all[0].CreateIndex != 12 {
		t.Fatalf("defaults: %+v", all[0])
	}
	if web, idx := tb.Instances(Filter{Service: "web", Tag: "eu"}); len(web) != 1 || web[0].ID != "w2" || idx != 11 {
		t.Fatalf("web tag eu = %v at %d", ids(web), idx)
	}
	if g, _ := tb.Instances(Filter{Group: "primary"}); len(g) != 1 || g[0].Service != "db" {
		t.Fatalf("group primary = %v", ids(g))
	}

	// The owner re-registering the same thing: nothing moves.
	d := mustApply(t, tb, 13, registerCmd("n1/a", reg("web", "w2", "10.0.0.2:80", "eu", "v1")))
	if in := decodeInstance(d); in.CreateIndex != 10 || in.ModifyIndex != 10 {
		t.Fatalf("replay = %+v, want indexes 10/10", in)
	}
	if _, idx := tb.Instances(Filter{Service: "web"}); idx != 11 {
		t.Fatalf("a replay moved the index to %d", idx)
	}
	// The owner changing it: a new ModifyIndex, the same CreateIndex.
	d = mustApply(t, tb, 14, registerCmd("n1/a", reg("web", "w2", "10.0.0.9:80")))
	if in := decodeInstance(d); in.CreateIndex != 10 || in.ModifyIndex != 14 || in.Endpoint != "10.0.0.9:80" {
		t.Fatalf("replacement = %+v", in)
	}
	// Another session: refused, naming the owner; nothing changes.
	_, err := applyCmd(t, tb, 15, registerCmd("n2/b", reg("web", "w2", "10.0.0.5:80")))
	if !errors.Is(err, ErrTaken) || !errors.Is(err, wire.ErrMismatch) || !strings.Contains(err.Error(), "n1/a") || OwnerOf(err) != "n1/a" {
		t.Fatalf("registration over another session's: %v", err)
	}
	if _, idx := tb.Instances(Filter{}); idx != 14 {
		t.Fatalf("a refusal moved the index to %d", idx)
	}

	// The session ends: its instances go; the indexes of their services
	// move, a service left without instances answers with the removal's.
	if err := tb.ReleaseSession(20, t0, "n1/a"); err != nil {
		t.Fatal(err)
	}
	if all, idx := tb.Instances(Filter{}); !reflect.DeepEqual(ids(all), []string{"web/w1"}) || idx != 20 {
		t.Fatalf("after release: %v at %d", ids(all), idx)
	}
	if db, idx := tb.Instances(Filter{Service: "db"}); len(db) != 0 || idx != 20 {
		t.Fatalf("db after release: %v at %d, want none at 20", ids(db), idx)
	}
	if got := tb.Nodes(); !reflect.DeepEqual(got, []string{"n2"}) {
		t.Fatalf("nodes = %v", got)
	}
	if err := tb.ReleaseNode(21, t0, "n2"); err != nil {
		t.Fatal(err)
	}
	if tb.Len() != 0 {
		t.Fatalf("release-node left %d instances", tb.Len())
	}
	if _, idx := tb.Instances(Filter{Service: "web"}); idx != 21 {
		t.Fatalf("web after release-node at %d", idx)
	}
	// A release that removes nothing moves nothing.
	ch := tb.Changed()
	_ = tb.ReleaseNode(22, t0, "n9")
	select {
	case <-ch:
		t.Fatal("a release of nothing signalled a change")
	default:
	}
}

func TestTableHealthAndLastSeen(t *testing.T) {
	tb := NewTable()
	r := reg("api", "a1", "127.0.0.1:8080")
	r.Checks = []Check{{Kind: CheckTTL, TTL: 10 * time.Second}}
	d := mustApply(t, tb, 5, registerCmd("n1/s", r))
	if in := decodeInstance(d); in.Health != Critical {
		t.Fatalf("an instance with checks starts %v, want critical", in.Health)
	}
	if p, _ := tb.Instances(Filter{PassingOnly: true}); len(p) != 0 {
		t.Fatalf("passing only = %v", ids(p))
	}
	ch := tb.Changed()
	mustApply(t, tb, 6, SetHealth{Service: "api", ID: "a1", PID: "n1/s", Health: Passing, Output: "ok", LastSeen: t0.Add(time.Second), Now: t0}.Marshal())
	select {
	case <-ch:
	default:
		t.Fatal("a health change did not signal")
	}
	in, _ := tb.Get("api", "a1")
	if in.Health != Passing || in.Output != "ok" || in.ModifyIndex != 6 || !in.LastSeen.Equal(t0.Add(time.Second)) {
		t.Fatalf("after set-health: %+v", in)
	}
	// last_seen alone: recorded, no index moves, no signal.
	ch = tb.Changed()
	mustApply(t, tb, 7, LastSeen{Node: "n1", Now: t0, Items: []Seen{
		{Service: "api", ID: "a1", PID: "n1/s", At: t0.Add(5 * time.Second)},
		{Service: "api", ID: "gone", PID: "n1/s", At: t0.Add(5 * time.Second)},
	}}.Marshal())
	in, _ = tb.Get("api", "a1")
	if !in.LastSeen.Equal(t0.Add(5*time.Second)) || in.ModifyIndex != 6 {
		t.Fatalf("after last-seen: %+v", in)
	}
	select {
	case <-ch:
		t.Fatal("a last_seen refresh signalled a change")
	default:
	}
	// A stale report by another PID is refused.
	_, err := applyCmd(t, tb, 8, SetHealth{Service: "api", ID: "a1", PID: "n1/old", Health: Critical, Now: t0}.Marshal())
	if !errors.Is(err, ErrTaken) {
		t.Fatalf("set-health by a non-owner: %v", err)
	}
	_, err = applyCmd(t, tb, 8, SetHealth{Service: "api", ID: "nope", PID: "n1/s", Health: Critical, Now: t0}.Marshal())
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("set-health of nothing: %v", err)
	}
	// A batch naming another node's session is malformed.
	_, err = applyCmd(t, tb, 9, LastSeen{Node: "n1", Now: t0, Items: []Seen{{Service: "api", ID: "a1", PID: "n2/x", At: t0}}}.Marshal())
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "items[0].pid") {
		t.Fatalf("batch with a foreign pid: %v", err)
	}
	// Deregistration by PID: only the owner's.
	if _, err := applyCmd(t, tb, 10, Deregister{Service: "api", ID: "a1", PID: "n1/other"}.Marshal()); !errors.Is(err, ErrTaken) {
		t.Fatalf("deregister by a non-owner pid: %v", err)
	}
	mustApply(t, tb, 11, Deregister{Service: "api", ID: "a1"}.Marshal())
	if _, err := applyCmd(t, tb, 12, Deregister{Service: "api", ID: "a1"}.Marshal()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second deregister: %v", err)
	}
}

func TestRegistrationValidate(t *testing.T) {
	ok := Registration{Service: "web", Endpoint: "10.0.0.1:80"}
	bigMeta := map[string]string{"blob": strings.Repeat("x", 10<<10)}
	for what, tc := range map[string]struct {
		edit  func(*Registration)
		field string
	}{
		"empty service":      {func(r *Registration) { r.Service = "" }, "service"},
		"reserved service":   {func(r *Registration) { r.Service = "_sys.x" }, "service"},
		"endpoint no port":   {func(r *Registration) { r.Endpoint = "10.0.0.1" }, "endpoint"},
		"endpoint port 0":    {func(r *Registration) { r.Endpoint = "10.0.0.1:0" }, "endpoint"},
		"endpoint port big":  {func(r *Registration) { r.Endpoint = "h:70000" }, "endpoint"},
		"endpoint no host":   {func(r *Registration) { r.Endpoint = ":80" }, "endpoint"},
		"10 KB meta":         {func(r *Registration) { r.Meta = bigMeta }, "meta"},
		"unknown protocol":   {func(r *Registration) { r.Protocol = "smtp" }, "protocol"},
		"too many tags":      {func(r *Registration) { r.Tags = make([]string, MaxTags+1) }, "tags"},
		"long tag":           {func(r *Registration) { r.Tags = []string{strings.Repeat("t", MaxLabelLen+1)} }, "tags[0]"},
		"empty group":        {func(r *Registration) { r.Groups = []string{"", "a"} }, "groups[0]"},
		"unknown check kind": {func(r *Registration) { r.Checks = []Check{{Kind: "icmp"}} }, "checks[0].kind"},
		"fast interval": {func(r *Registration) {
			r.Checks = []Check{{Kind: CheckTCP, Interval: 10 * time.Millisecond, Timeout: time.Millisecond}}
		}, "checks[0].interval"},
		"timeout >= interval": {func(r *Registration) {
			r.Checks = []Check{{Kind: CheckHTTP, Interval: time.Second, Timeout: time.Second}}
		}, "checks[0].timeout"},
		"short ttl": {func(r *Registration) { r.Checks = []Check{{Kind: CheckTTL, TTL: time.Millisecond}} }, "checks[0].ttl"},
		"threshold": {func(r *Registration) {
			r.Checks = []Check{{Kind: CheckTTL, TTL: time.Second, FailuresBeforeCritical: 11}}
		}, "failures_before_critical"},
		"http target": {func(r *Registration) {
			r.Checks = []Check{{Kind: CheckHTTP, Target: "ftp://x", Interval: 2 * time.Second, Timeout: time.Second}}
		}, "checks[0].target"},
		"unprintable id": {func(r *Registration) { r.ID = "a\x01" }, "id"},
	} {
		r := ok
		tc.edit(&r)
		err := r.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want ErrInvalid naming %s", what, err, tc.field)
		}
		// The table refuses the command the same way, changing nothing.
		tb := NewTable()
		cmd := Register{PID: "n1/s", Now: t0, Reg: r.Normalize("n1/s")}.Marshal()
		_, _, d, _ := wire.ParseCommand(cmd)
		if err := tb.Screen(opRegister, d); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: screen %v", what, err)
		}
		if _, err := applyCmd(t, tb, 1, cmd); !errors.Is(err, ErrInvalid) || tb.Len() != 0 {
			t.Errorf("%s: apply %v, %d instances", what, err, tb.Len())
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a good registration: %v", err)
	}
}

func TestTableMalformedCommands(t *testing.T) {
	tb := NewTable()
	good := registerCmd("n1/s", reg("web", "w", "h:1"))
	for what, cmd := range map[string][]byte{
		"truncated":  good[:len(good)-2],
		"trailing":   append(append([]byte(nil), good...), 0),
		"unknown op": wire.Command(TableID, 99).Data(),
	} {
		_, op, d, err := wire.ParseCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tb.Apply(1, op, d); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", what, err)
		}
	}
	if tb.Len() != 0 {
		t.Fatal("a malformed command changed the table")
	}
}

func snapshotBytes(t testing.TB, tb *Table) []byte {
	t.Helper()
	w, err := tb.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if w == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := w(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sampleTable(t *testing.T) *Table { return sampleTableTB(t) }

func sampleTableTB(t testing.TB) *Table {
	tb := NewTable()
	r := reg("web", "w1", "10.0.0.1:80", "b", "a")
	r.Meta = map[string]string{"z": "1", "a": "2"}
	r.Groups = []string{"g"}
	r.Checks = []Check{{Kind: CheckHTTP, Interval: 2 * time.Second, Timeout: time.Second, FailuresBeforeCritical: 3}}
	mustApply(t, tb, 3, registerCmd("n1/a", r))
	mustApply(t, tb, 4, registerCmd("n2/b", reg("web", "w2", "10.0.0.2:80")))
	mustApply(t, tb, 5, registerCmd("n2/b", reg("db", "d", "[::1]:5432")))
	mustApply(t, tb, 6, registerCmd("n2/b", reg("tmp", "t", "h:1")))
	mustApply(t, tb, 7, Deregister{Service: "tmp", ID: "t"}.Marshal())
	mustApply(t, tb, 8, SetHealth{Service: "web", ID: "w1", PID: "n1/a", Health: Warning, Output: "429", LastSeen: t0, Now: t0}.Marshal())
	return tb
}

func TestTableSnapshotRestore(t *testing.T) {
	tb := sampleTable(t)
	snap := snapshotBytes(t, tb)
	// Writing after the view was taken changes nothing in it.
	w, _ := tb.Snapshot()
	mustApply(t, tb, 9, registerCmd("n3/c", reg("late", "l", "h:2")))
	var buf bytes.Buffer
	if err := w(&buf); err != nil || !bytes.Equal(buf.Bytes(), snap) {
		t.Fatalf("the snapshot view changed with a later apply (%v)", err)
	}
	cp := NewTable()
	commit, err := cp.Restore(bufio.NewReader(bytes.NewReader(snap)))
	if err != nil {
		t.Fatal(err)
	}
	ch := cp.Changed()
	commit()
	select {
	case <-ch:
	default:
		t.Fatal("a restore did not signal")
	}
	if again := snapshotBytes(t, cp); !bytes.Equal(again, snap) {
		t.Fatal("a restored table's snapshot differs: not canonical")
	}
	for _, f := range []Filter{{}, {Service: "web"}, {Service: "tmp"}, {Service: "db"}} {
		want, wi := sampleTable(t).Instances(f)
		got, gi := cp.Instances(f)
		if !reflect.DeepEqual(got, want) || gi != wi {
			t.Fatalf("filter %+v: restored %v at %d, want %v at %d", f, got, gi, want, wi)
		}
	}
	// A truncated snapshot is refused and changes nothing.
	if _, err := cp.Restore(bufio.NewReader(bytes.NewReader(snap[:len(snap)-1]))); err == nil {
		t.Fatal("a truncated snapshot was accepted")
	}
	// An untouched table has no section; restoring none empties.
	if s := snapshotBytes(t, NewTable()); s != nil {
		t.Fatalf("an empty table wrote %x", s)
	}
	commit, err = cp.Restore(nil)
	if err != nil {
		t.Fatal(err)
	}
	commit()
	if cp.Len() != 0 {
		t.Fatal("restore of no section left instances")
	}
}

func TestServicesSummary(t *testing.T) {
	tb := sampleTable(t)
	sums, idx := tb.Services()
	want := []ServiceSummary{
		{Name: "db", Passing: 1},
		{Name: "web", Passing: 1, Warning: 1, Tags: []string{"a", "b"}},
	}
	if !reflect.DeepEqual(sums, want) || idx != 8 {
		t.Fatalf("services = %+v at %d, want %+v at 8", sums, idx, want)
	}
}
