package naming

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

func TestServiceRegisterEveryScope(t *testing.T) {
	w := newSvcWorld(t, testConfig(), "n1", "n2")
	n1 := w.node("n1")
	pid := n1.session("a")
	for _, sc := range []Scope{ScopeLocal, ScopeEventual, ScopeConsistent, ScopeStrong} {
		name := "svc/" + sc.String()
		b, err := n1.svc.Register(ctxT(t), pid, name, sc, []byte("m"))
		if err != nil || b.PID != pid || b.Scope != sc || string(b.Meta) != "m" || !b.RegisteredAt.Equal(t0) {
			t.Fatalf("register %s = %+v, %v", sc, b, err)
		}
		again, err := n1.svc.Register(ctxT(t), pid, name, sc, []byte("m"))
		if err != nil || again.Scope != sc {
			t.Fatalf("register %s again = %+v, %v (want idempotent)", sc, again, err)
		}
		got, err := n1.svc.Lookup(ctxT(t), name, wire.ReadDefault)
		if err != nil || got.PID != pid || got.Scope != sc {
			t.Fatalf("lookup %s = %+v, %v", name, got, err)
		}
		if n1.svc.Count(sc) != 1 {
			t.Fatalf("count %s = %d", sc, n1.svc.Count(sc))
		}
	}
	bs, err := n1.svc.List(ctxT(t), "svc/", ScopeUnspecified, wire.ReadDefault)
	if err != nil || len(bs) != 4 {
		t.Fatalf("list = %+v, %v", bs, err)
	}
	for i, want := range []string{"svc/consistent", "svc/eventual", "svc/local", "svc/strong"} {
		if bs[i].Name != want {
			t.Fatalf("list[%d] = %s, want %s", i, bs[i].Name, want)
		}
	}
	// n2 sees the replicated ones; eventual once gossip delivers it.
	if _, err := w.node("n2").svc.Lookup(ctxT(t), "svc/eventual", wire.ReadDefault); !errors.Is(err, ErrNotFound) {
		t.Fatalf("eventual name before gossip: %v", err)
	}
	w.deliver("n1")
	for _, name := range []string{"svc/eventual", "svc/consistent", "svc/strong"} {
		if b, err := w.node("n2").svc.Lookup(ctxT(t), name, wire.ReadDefault); err != nil || b.PID != pid {
			t.Fatalf("n2 lookup %s = %+v, %v", name, b, err)
		}
	}
	if _, err := w.node("n2").svc.Lookup(ctxT(t), "svc/local", wire.ReadDefault); !errors.Is(err, ErrNotFound) ||
		err.Error() != `name "svc/local" is not registered` {
		t.Fatalf("local name seen on another node: %v", err)
	}
	for _, sc := range []Scope{ScopeLocal, ScopeEventual, ScopeConsistent, ScopeStrong} {
		if err := n1.svc.Unregister(ctxT(t), pid, "svc/"+sc.String()); err != nil {
			t.Fatalf("unregister %s: %v", sc, err)
		}
	}
	if bs, _ := n1.svc.List(ctxT(t), "", ScopeUnspecified, wire.ReadDefault); len(bs) != 0 {
		t.Fatalf("after unregister: %+v", bs)
	}
}

func TestServiceRefusesBadInput(t *testing.T) {
	w := newSvcWorld(t, testConfig(), "n1")
	svc := w.node("n1").svc
	pid := w.node("n1").session("a")
	for what, tc := range map[string]struct {
		name  string
		scope Scope
		meta  []byte
		field string
	}{
		"empty name":    {"", ScopeLocal, nil, "name"},
		"reserved name": {"_sys/x", ScopeConsistent, nil, "name"},
		"long name":     {strings.Repeat("x", wire.MaxNameLen+1), ScopeStrong, nil, "name"},
		"no scope":      {"ok", ScopeUnspecified, nil, "scope"},
		"bad scope":     {"ok", Scope(9), nil, "scope"},
		"big meta":      {"ok", ScopeEventual, make([]byte, MaxMetaLen+1), "metadata"},
	} {
		_, err := svc.Register(ctxT(t), pid, tc.name, tc.scope, tc.meta)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want ErrInvalid naming %s", what, err, tc.field)
		}
	}
	if _, err := svc.Register(ctxT(t), "n1/nosuch", "ok", ScopeLocal, nil); !errors.Is(err, wire.ErrNoSession) {
		t.Fatalf("closed session: %v", err)
	}
	if err := svc.Unregister(ctxT(t), "nopid", "ok"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("unregister with a bad pid: %v", err)
	}
	if _, err := svc.List(ctxT(t), strings.Repeat("p", wire.MaxNameLen+1), 0, wire.ReadDefault); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long prefix: %v", err)
	}
	if _, err := svc.Watch(strings.Repeat("p", wire.MaxNameLen+1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long watch prefix: %v", err)
	}
	if len(w.log.applied) != 0 {
		t.Fatalf("refused input reached the log: %d commands", len(w.log.applied))
	}
}

// The first consistent registration wins; the loser's error names the
// owner, and unregister by another session is refused with the owner.
func TestServiceConsistentConflict(t *testing.T) {
	w := newSvcWorld(t, testConfig(), "n1", "n2")
	a, b := w.node("n1").session("a"), w.node("n2").session("b")
	if _, err := w.node("n1").svc.Register(ctxT(t), a, "lead", ScopeConsistent, nil); err != nil {
		t.Fatal(err)
	}
	_, err := w.node("n2").svc.Register(ctxT(t), b, "lead", ScopeConsistent, nil)
	var c *Conflict
	if !errors.As(err, &c) || !errors.Is(err, ErrTaken) || c.Owner != a || c.Scope != ScopeConsistent || c.Reserved ||
		err.Error() != `name "lead" is already registered by n1/a (scope consistent)` {
		t.Fatalf("second register: %#v", err)
	}
	err = w.node("n2").svc.Unregister(ctxT(t), b, "lead")
	if !errors.Is(err, ErrNotOwner) || err.Error() != `name "lead" is registered by n1/a, not n2/b` {
		t.Fatalf("unregister by another: %v", err)
	}
	if err := w.node("n2").svc.Unregister(ctxT(t), b, "nothing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unregister of nothing: %v", err)
	}
}

// A strong registration is refused when any live node holds the name in
// any scope; the refusal names that node, and the reservation is cancelled.
func TestServiceStrongRefusedByAPeer(t *testing.T) {
	w := newSvcWorld(t, testConfig(), "n1", "n2", "n3")
	holder := w.node("n3").session("h")
	if _, err := w.node("n3").svc.Register(ctxT(t), holder, "lead", ScopeLocal, nil); err != nil {
		t.Fatal(err)
	}
	pid := w.node("n1").session("a")
	_, err := w.node("n1").svc.Register(ctxT(t), pid, "lead", ScopeStrong, nil)
	var c *Conflict
	if !errors.As(err, &c) || c.Owner != holder || c.Node != "n3" || c.Scope != ScopeLocal ||
		!strings.Contains(err.Error(), "reported by node n3") {
		t.Fatalf("strong over a local name elsewhere: %v", err)
	}
	if _, ok := w.node("n1").svc.Table().st.GetReservation("lead"); ok {
		t.Fatal("the refused reservation was not cancelled")
	}
	// The holder's own node refuses before proposing anything.
	before := len(w.log.applied)
	other := w.node("n3").session("o")
	if _, err := w.node("n3").svc.Register(ctxT(t), other, "lead", ScopeStrong, nil); !errors.As(err, &c) || c.Node != "n3" {
		t.Fatalf("strong on the holder's node: %v", err)
	}
	if len(w.log.applied) != before {
		t.Fatal("a conflict known here was proposed")
	}
}

// A peer that does not answer within the deadline fails the registration
// with ErrExpired naming it; one that left gracefully is not waited for.
func TestServiceStrongDeadlineAndLeftPeers(t *testing.T) {
	w := newSvcWorld(t, testConfig(), "n1", "n2", "n3")
	pid := w.node("n1").session("a")
	w.setCut("n3", true)
	_, err := w.node("n1").svc.Register(ctxT(t), pid, "lead", ScopeStrong, nil)
	if !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "no acknowledgement from n3") {
		t.Fatalf("strong with n3 cut off: %v", err)
	}
	if _, ok := w.node("n1").svc.Table().st.GetReservation("lead"); ok {
		t.Fatal("the expired reservation was not cancelled")
	}
	w.setLeft("n3")
	b, err := w.node("n1").svc.Register(ctxT(t), pid, "lead", ScopeStrong, nil)
	if err != nil || b.Scope != ScopeStrong {
		t.Fatalf("strong with n3 gone: %+v, %v", b, err)
	}
	// The caller giving up before the deadline is its context's error.
	w.setCut("n2", true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.node("n1").svc.Register(ctx, pid, "other", ScopeStrong, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("strong with a cancelled context: %v", err)
	}
}

// Idempotent commands whose outcome is unknown are proposed again, and
// the second proposal finds the first one's binding; an unregister is
// never proposed twice.
func TestServiceProposesIdempotentCommandsAgain(t *testing.T) {
	w := newSvcWorld(t, testConfig(), "n1", "n2")
	pid := w.node("n1").session("a")
	w.log.unknown = 1
	b, err := w.node("n1").svc.Register(ctxT(t), pid, "c", ScopeConsistent, nil)
	if err != nil || b.Index != 1 || len(w.log.applied) != 2 {
		t.Fatalf("consistent after an unknown outcome: %+v, %v, %d proposals", b, err, len(w.log.applied))
	}
	w.log.lost = 2
	if b, err := w.node("n1").svc.Register(ctxT(t), pid, "s", ScopeStrong, nil); err != nil || b.Scope != ScopeStrong {
		t.Fatalf("strong after lost proposals: %+v, %v", b, err)
	}
	w.log.unknown = 1
	n := len(w.log.applied)
	if err := w.node("n1").svc.Unregister(ctxT(t), pid, "c"); !errors.Is(err, errUnknown) || len(w.log.applied) != n+1 {
		t.Fatalf("unregister of unknown outcome: %v, proposed %d times", err, len(w.log.applied)-n)
	}
}

func TestServiceHandleAck(t *testing.T) {
	w := newSvcWorld(t, testConfig(), "n1")
	svc := w.node("n1").svc
	pid := w.node("n1").session("a")
	if _, err := svc.Register(ctxT(t), pid, "x", ScopeEventual, nil); err != nil {
		t.Fatal(err)
	}
	for what, tc := range map[string]struct {
		req  []byte
		want []byte
	}{
		"free":      {encodeAckRequest("y", "n2/b"), []byte{ackOK}},
		"same pid":  {encodeAckRequest("x", pid), []byte{ackOK}},
		"conflict":  {encodeAckRequest("x", "n2/b"), encodeAckConflict(pid, ScopeEventual)},
		"malformed": {[]byte{ackVersion, 9}, nil},
		"version":   {append([]byte{2}, encodeAckRequest("x", "n2/b")[1:]...), nil},
	} {
		got, err := svc.HandleAck(context.Background(), tc.req)
		if tc.want == nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", what, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %x, %v; want %x", what, got, err, tc.want)
		}
	}
	if svc.Stats().Malformed != 2 {
		t.Fatalf("malformed = %d, want 2", svc.Stats().Malformed)
	}
}

// Eventual deltas that fit a gossip packet are queued; larger ones go to
// Run, which sends them to every member. A claim that loses on merge is
// revoked and its session told.
func TestServiceEventualGossip(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBroadcast = 100
	w := newSvcWorld(t, cfg, "n1", "n2")
	n1, n2 := w.node("n1"), w.node("n2")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n1.svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	a := n1.session("a")
	if _, err := n1.svc.Register(ctxT(t), a, "small", ScopeEventual, nil); err != nil {
		t.Fatal(err)
	}
	if len(n1.queued) != 1 {
		t.Fatalf("queued %d deltas, want 1", len(n1.queued))
	}
	if _, err := n1.svc.Register(ctxT(t), a, "big", ScopeEventual, make([]byte, 200)); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-n1.sentAll:
		n2.svc.Merge(msg)
	case <-time.After(5 * time.Second):
		t.Fatal("the large delta was not sent")
	}
	if b, ok := n2.svc.eventual.Get("big"); !ok || b.PID != a {
		t.Fatalf("n2 has %+v after the large delta", b)
	}

	// n2 claims "x" later than n1: after the exchange n2's claim loses.
	if _, err := n1.svc.Register(ctxT(t), a, "x", ScopeEventual, nil); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(time.Second)
	b := n2.session("b")
	if _, err := n2.svc.Register(ctxT(t), b, "x", ScopeEventual, nil); err != nil {
		t.Fatal(err)
	}
	n2.svc.Merge(n1.svc.GossipState())
	if len(n2.revoked) != 1 || n2.revoked[0] != b+" x "+a || n2.svc.Stats().Revocations != 1 {
		t.Fatalf("revocations %v, count %d", n2.revoked, n2.svc.Stats().Revocations)
	}
	n2.svc.Merge([]byte{0xff})
	if n2.svc.Stats().Malformed != 1 {
		t.Fatalf("malformed = %d", n2.svc.Stats().Malformed)
	}
}

// An ended session's local and eventual names go at once, a gone node's
// eventual names too, and watchers see each change once.
func TestServiceSessionEndedAndNodeGone(t *testing.T) {
	w := newSvcWorld(t, testConfig(), "n1", "n2")
	n1, n2 := w.node("n1"), w.node("n2")
	watch, err := n1.svc.Watch("")
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	a := n1.session("a")
	for _, sc := range []Scope{ScopeLocal, ScopeEventual, ScopeConsistent} {
		if _, err := n1.svc.Register(ctxT(t), a, sc.String(), sc, nil); err != nil {
			t.Fatal(err)
		}
	}
	b := n2.session("b")
	if _, err := n2.svc.Register(ctxT(t), b, "remote", ScopeEventual, nil); err != nil {
		t.Fatal(err)
	}
	w.deliver("n2")
	n1.svc.SessionEnded(a)
	if err := w.log.releaseSession(a); err != nil {
		t.Fatal(err)
	}
	n1.svc.NodeGone("n2")
	want := []string{"bound local", "bound eventual", "bound consistent", "bound remote",
		"unbound local", "unbound eventual", "unbound consistent", "unbound remote"}
	for i, wv := range want {
		ev := <-watch.Events()
		if got := ev.Kind.String() + " " + ev.Binding.Name; got != wv {
			t.Fatalf("event %d = %s, want %s", i, got, wv)
		}
	}
	for _, sc := range []Scope{ScopeLocal, ScopeEventual, ScopeConsistent} {
		if n1.svc.Count(sc) != 0 {
			t.Fatalf("%s names left: %d", sc, n1.svc.Count(sc))
		}
	}
}

// A watch sees only its prefix, and one that falls more than its buffer
// behind is ended with ErrUnavailable rather than blocking anyone.
func TestServiceWatchLag(t *testing.T) {
	w := newSvcWorld(t, testConfig(), "n1")
	n1 := w.node("n1")
	slow, _ := n1.svc.Watch("svc/")
	other, _ := n1.svc.Watch("zzz/")
	a := n1.session("a")
	for i := 0; i < testConfig().WatchBuffer+1; i++ {
		if _, err := n1.svc.Register(ctxT(t), a, "svc/"+string(rune('a'+i)), ScopeLocal, nil); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range slow.Events() {
		n++
	}
	if n != testConfig().WatchBuffer || !errors.Is(slow.Err(), wire.ErrUnavailable) {
		t.Fatalf("slow watch got %d events, err %v", n, slow.Err())
	}
	select {
	case ev := <-other.Events():
		t.Fatalf("watch of zzz/ got %+v", ev)
	default:
	}
	n1.svc.Close()
	if _, ok := <-other.Events(); ok || other.Err() != nil {
		t.Fatal("Close left a watch open or with an error")
	}
}

// Compact forgets tombstones older than the TTL, at most once per
// interval.
func TestServiceCompact(t *testing.T) {
	w := newSvcWorld(t, testConfig(), "n1")
	n1 := w.node("n1")
	a := n1.session("a")
	if _, err := n1.svc.Register(ctxT(t), a, "x", ScopeEventual, nil); err != nil {
		t.Fatal(err)
	}
	if err := n1.svc.Unregister(ctxT(t), a, "x"); err != nil {
		t.Fatal(err)
	}
	tombstones := func() int {
		n1.svc.eventual.mu.Lock()
		defer n1.svc.eventual.mu.Unlock()
		return len(n1.svc.eventual.claims)
	}
	n1.svc.Compact() // the first call runs: the tombstone is young
	if tombstones() != 1 {
		t.Fatal("a young tombstone was compacted")
	}
	w.clock.Add(testConfig().TombstoneTTL + time.Second)
	n1.svc.Compact()
	if tombstones() != 0 {
		t.Fatal("an old tombstone survived Compact")
	}
}

func TestNewChecksItsInput(t *testing.T) {
	w := newSvcWorld(t, testConfig(), "n1")
	deps := Deps{Proposer: w.log, Members: (*members)(w.node("n1")), Acker: w, Sessions: w.node("n1"), Gossip: w.node("n1")}
	if _, err := New(Config{}, "n1", deps); err == nil {
		t.Fatal("zero Config accepted")
	}
	if _, err := New(DefaultConfig(), "a/b", deps); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad node name: %v", err)
	}
	deps.Acker = nil
	if _, err := New(DefaultConfig(), "n1", deps); err == nil {
		t.Fatal("missing acker accepted")
	}
}
