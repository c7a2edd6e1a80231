package registry

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type world struct {
	raft     *fakeRaft
	sessions *fakeSessions
	clock    *fakeClock
	svc      *Service
}

func newWorld(t *testing.T, opts ...Option) *world {
	w := &world{raft: &fakeRaft{}, sessions: newFakeSessions("n1/a", "n1/b"), clock: newFakeClock()}
	svc, err := New(testConfig(), "n1", w.raft, w.sessions, append([]Option{WithClock(w.clock.now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	w.svc, w.raft.table = svc, svc.Table()
	return w
}

func TestServiceRegisterChecksTheSession(t *testing.T) {
	w := newWorld(t)
	if _, err := w.svc.Register(ctxT(t), "n1/zz", reg("web", "", "h:1")); !errors.Is(err, ErrNoSession) {
		t.Fatalf("unknown session: %v", err)
	}
	if _, err := w.svc.Register(ctxT(t), "n2/a", reg("web", "", "h:1")); !errors.Is(err, ErrNoSession) {
		t.Fatalf("another node's session: %v", err)
	}
	in, err := w.svc.Register(ctxT(t), "n1/a", reg("web", "", "h:1"))
	if err != nil || in.ID != "n1/a" || !in.RegisteredAt.Equal(t0) {
		t.Fatalf("register = %+v, %v", in, err)
	}
	// The session ends while its registration is in flight (its release
	// applied first): the instance must not outlive it.
	w.raft.before = func(cmd []byte) {
		if cmd[2] == opRegister {
			w.sessions.end("n1/b")
			w.raft.releaseSession("n1/b")
		}
	}
	if _, err := w.svc.Register(ctxT(t), "n1/b", reg("web", "late", "h:2")); !errors.Is(err, ErrNoSession) {
		t.Fatalf("registration racing its session's end: %v", err)
	}
	if _, ok := w.svc.Table().Get("web", "late"); ok {
		t.Fatal("the instance of an ended session stayed")
	}
}

func TestServiceWait(t *testing.T) {
	w := newWorld(t)
	ins, idx := w.svc.Instances(Filter{Service: "web"})
	if len(ins) != 0 || idx != 1 {
		t.Fatalf("empty table: %v at %d, want none at 1", ins, idx)
	}
	// Index 0 (or one below the current) answers at once.
	if _, got, err := w.svc.Wait(ctxT(t), Filter{Service: "web"}, 0); err != nil || got != 1 {
		t.Fatalf("wait 0 = %d, %v", got, err)
	}
	type res struct {
		ins []Instance
		idx uint64
		err error
	}
	out := make(chan res, 1)
	go func() {
		ins, idx, err := w.svc.Wait(ctxT(t), Filter{Service: "web"}, idx)
		out <- res{ins, idx, err}
	}()
	// A change elsewhere moves nothing for web: the wait goes on.
	if _, err := w.svc.Register(ctxT(t), "n1/a", reg("db", "d", "h:1")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-out:
		t.Fatalf("wait on web returned for a change of db: %+v", r)
	default:
	}
	in, err := w.svc.Register(ctxT(t), "n1/a", reg("web", "w", "h:1"))
	if err != nil {
		t.Fatal(err)
	}
	r := <-out
	if r.err != nil || r.idx != in.ModifyIndex || len(r.ins) != 1 || r.ins[0].ID != "w" {
		t.Fatalf("wait = %+v, want w at %d", r, in.ModifyIndex)
	}
	// A deletion moves the index too.
	go func() {
		ins, idx, err := w.svc.Wait(ctxT(t), Filter{Service: "web"}, r.idx)
		out <- res{ins, idx, err}
	}()
	if err := w.svc.Deregister(ctxT(t), "web", "w"); err != nil {
		t.Fatal(err)
	}
	if r2 := <-out; r2.err != nil || len(r2.ins) != 0 || r2.idx <= r.idx {
		t.Fatalf("wait after a deletion = %+v", r2)
	}
	// The context ends first: the current answer and ctx's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, cur := w.svc.Instances(Filter{})
	if _, got, err := w.svc.Wait(ctx, Filter{}, cur); !errors.Is(err, context.Canceled) || got != cur {
		t.Fatalf("wait with an ended context = %d, %v", got, err)
	}
}

func TestMonitorThresholds(t *testing.T) {
	P, W, C := Passing, Warning, Critical
	for name, tc := range map[string]struct {
		start         Health
		succ, fail    int
		results, want []Health
	}{
		"zero thresholds act at once": {C, 0, 0, []Health{P, C, W, P}, []Health{P, C, W, P}},
		"two successes to pass":       {C, 2, 1, []Health{P, C, P, P, P}, []Health{C, C, C, P, P}},
		"three failures to fail":      {P, 1, 3, []Health{C, C, P, C, C, C}, []Health{P, P, P, P, P, C}},
		"a warning counts as success": {C, 2, 2, []Health{W, W, C, C}, []Health{C, W, W, C}},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			in := Instance{Service: "s", ID: "i", PID: "n1/a", Health: tc.start,
				Checks: []Check{{Kind: CheckTCP, Interval: time.Second, Timeout: time.Millisecond, SuccessesBeforePassing: tc.succ, FailuresBeforeCritical: tc.fail}}}
			m := newMonitor(w.svc, in, func() {})
			var got []Health
			for _, r := range tc.results {
				m.record(0, r, r.String())
				m.mu.Lock()
				got = append(got, m.aggregateLocked())
				m.mu.Unlock()
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("health after each result = %v, want %v", got, tc.want)
			}
		})
	}
}

// A TTL check: critical until its session reports; what it reports
// (replicated only when it changes); critical once the TTL lapses; and
// last_seen replicated by the batcher.
func TestServiceTTLAndLastSeen(t *testing.T) {
	w := newWorld(t)
	runService(t, w.svc)
	r := reg("worker", "w", "h:1")
	r.Checks = []Check{{Kind: CheckTTL, TTL: time.Minute}}
	in, err := w.svc.Register(ctxT(t), "n1/a", r)
	if err != nil || in.Health != Critical {
		t.Fatalf("register = %+v, %v", in, err)
	}
	if err := w.svc.UpdateTTL(ctxT(t), "n1/b", "worker", "w", Passing, ""); !errors.Is(err, ErrTaken) {
		t.Fatalf("TTL update by another session: %v", err)
	}
	if err := w.svc.UpdateTTL(ctxT(t), "n1/a", "worker", "w", Health(7), ""); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "health") {
		t.Fatalf("TTL update with a bad health: %v", err)
	}
	w.clock.advance(time.Millisecond)
	seenAt := w.clock.now()
	if err := w.svc.UpdateTTL(ctxT(t), "n1/a", "worker", "w", Passing, "fine"); err != nil {
		t.Fatal(err)
	}
	got, _ := w.svc.Table().Get("worker", "w")
	if got.Health != Passing || got.Output != "fine" || !got.LastSeen.Equal(seenAt) {
		t.Fatalf("after the update: %+v", got)
	}
	// A renewal that changes nothing proposes nothing.
	_, before := w.svc.Instances(Filter{})
	w.raft.mu.Lock()
	applied := w.raft.index
	w.raft.mu.Unlock()
	w.clock.advance(time.Millisecond)
	seenAt = w.clock.now()
	if err := w.svc.UpdateTTL(ctxT(t), "n1/a", "worker", "w", Passing, "fine"); err != nil {
		t.Fatal(err)
	}
	if _, after := w.svc.Instances(Filter{}); after != before {
		t.Fatalf("a renewal moved the index from %d to %d", before, after)
	}
	// The batcher replicates the new last_seen, without moving the index.
	waitFor(t, "last_seen replicated", func() bool {
		got, _ := w.svc.Table().Get("worker", "w")
		return got.LastSeen.Equal(seenAt)
	})
	w.raft.mu.Lock()
	if w.raft.index == applied {
		t.Error("no last_seen batch was applied")
	}
	w.raft.mu.Unlock()
	if _, after := w.svc.Instances(Filter{}); after != before {
		t.Fatalf("a last_seen batch moved the index from %d to %d", before, after)
	}
	// The session stops reporting: the TTL lapses (on the clock).
	w.clock.advance(2 * time.Minute)
	waitFor(t, "critical after the TTL lapsed", func() bool {
		got, _ := w.svc.Table().Get("worker", "w")
		return got.Health == Critical && got.Output == "TTL expired"
	})
}

// An instance without checks is seen alive while its session is open:
// its last_seen follows (replicated by the batcher).
func TestServiceLastSeenWithoutChecks(t *testing.T) {
	w := newWorld(t)
	runService(t, w.svc)
	in, err := w.svc.Register(ctxT(t), "n1/a", reg("plain", "p", "h:1"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "last_seen moving on", func() bool {
		w.clock.advance(time.Second)
		got, _ := w.svc.Table().Get("plain", "p")
		return got.LastSeen.After(in.LastSeen) && got.ModifyIndex == in.ModifyIndex
	})
}

// An instance of this node whose session is not open here is
// deregistered after the grace.
func TestServiceOrphanSweep(t *testing.T) {
	w := newWorld(t)
	if _, err := w.raft.Apply(ctxT(t), Register{PID: "n1/gone", Now: t0, Reg: reg("web", "o", "h:1").Normalize("n1/gone")}.Marshal()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.raft.Apply(ctxT(t), Register{PID: "n2/other", Now: t0, Reg: reg("web", "x", "h:1").Normalize("n2/other")}.Marshal()); err != nil {
		t.Fatal(err)
	}
	runService(t, w.svc)
	waitFor(t, "orphan removed", func() bool {
		w.clock.advance(10 * time.Millisecond) // the grace is on the clock
		_, ok := w.svc.Table().Get("web", "o")
		return !ok
	})
	// Another node's instance is that node's business.
	if _, ok := w.svc.Table().Get("web", "x"); !ok {
		t.Fatal("the sweep removed another node's instance")
	}
}

// A node without a replica answers from its mirror of a server's table,
// and its blocking queries return when the mirror changes.
func TestServiceMirror(t *testing.T) {
	server := &fakeRaft{table: NewTable()}
	sessions := newFakeSessions("c1/a")
	svc, err := New(testConfig(), "c1", server, sessions, WithReplica(func() bool { return false }))
	if err != nil {
		t.Fatal(err)
	}
	runService(t, svc)
	_, idx := svc.Instances(Filter{})
	done := make(chan []Instance, 1)
	go func() {
		ins, _, err := svc.Wait(ctxT(t), Filter{Service: "web"}, idx)
		if err != nil {
			t.Errorf("mirror wait: %v", err)
		}
		done <- ins
	}()
	in, err := svc.Register(ctxT(t), "c1/a", reg("web", "w", "h:1"))
	if err != nil {
		t.Fatal(err)
	}
	// Read your writes: the agent's own answer has the registration at
	// once.
	if ins, _ := svc.Instances(Filter{Service: "web"}); len(ins) != 1 {
		t.Fatalf("the registering node's answer right after: %+v", ins)
	}
	if ins := <-done; len(ins) != 1 || ins[0].ID != "w" {
		t.Fatalf("mirror wait = %+v", ins)
	}
	if _, x := svc.Instances(Filter{Service: "web"}); x != in.ModifyIndex {
		t.Fatalf("mirror index %d, want %d", x, in.ModifyIndex)
	}
	if svc.Table().Len() != 0 {
		t.Fatal("a node without a replica wrote to its own table")
	}
	sums, _ := svc.Services()
	if len(sums) != 1 || sums[0].Name != "web" || sums[0].Passing != 1 {
		t.Fatalf("mirror services = %+v", sums)
	}
}

func TestServiceMetrics(t *testing.T) {
	w := newWorld(t)
	r := reg("web", "w2", "h:1")
	r.Checks = []Check{{Kind: CheckTTL, TTL: time.Minute}}
	for _, x := range []Registration{reg("web", "w1", "h:1"), r, reg("db", "d", "h:1")} {
		if _, err := w.svc.Register(ctxT(t), "n1/a", x); err != nil {
			t.Fatal(err)
		}
	}
	pr := prometheus.NewRegistry()
	for _, c := range w.svc.Collectors() {
		if err := pr.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := pr.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "conclave_service_instances" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			got[l["service"]+"/"+l["health"]] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{"db/passing": 1, "db/warning": 0, "db/critical": 0, "web/passing": 1, "web/warning": 0, "web/critical": 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("conclave_service_instances = %v, want %v", got, want)
	}
}

// An idle mirror stops polling; the next reader refreshes it first; a
// blocking query or an instance of this node's keeps it polling.
func TestServiceMirrorIdle(t *testing.T) {
	server := &fakeRaft{table: NewTable()}
	clock := newFakeClock()
	svc, err := New(testConfig(), "c1", server, newFakeSessions("c1/a"), WithReplica(func() bool { return false }), WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	if svc.mirrorWanted() {
		t.Fatal("a mirror nobody read is wanted")
	}
	if _, err := server.Apply(ctxT(t), registerCmd("c2/x", reg("web", "w", "h:1"))); err != nil {
		t.Fatal(err)
	}
	// The first read after idleness refreshes before it answers.
	if ins, _ := svc.Instances(Filter{}); len(ins) != 1 || server.queries.Load() == 0 {
		t.Fatalf("first read: %v after %d queries", ins, server.queries.Load())
	}
	if !svc.mirrorWanted() {
		t.Fatal("a mirror just read is not wanted")
	}
	clock.advance(testConfig().MirrorIdle + time.Second)
	if svc.mirrorWanted() {
		t.Fatal("a mirror idle past MirrorIdle is still wanted")
	}
	svc.mirror.waiters.Add(1)
	if !svc.mirrorWanted() {
		t.Fatal("a mirror with a blocking query waiting is not wanted")
	}
	svc.mirror.waiters.Add(-1)
	// An instance of this node's sessions: its checks need the mirror.
	if _, err := server.Apply(ctxT(t), registerCmd("c1/a", reg("own", "o", "h:1"))); err != nil {
		t.Fatal(err)
	}
	if err := svc.refreshMirror(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if !svc.mirrorWanted() {
		t.Fatal("a mirror holding this node's instance is not wanted")
	}
}

// A check that names only its kind gets the default interval and timeout
// (the docs' SDK example registers one); the TTL check is left alone, and
// a bad explicit timeout is still refused.
func TestRegisterFillsCheckDefaults(t *testing.T) {
	r := Registration{Service: "echo", Endpoint: "127.0.0.1:1", Checks: []Check{
		{Kind: CheckGRPC},
		{Kind: CheckHTTP, Interval: 2 * time.Second},
		{Kind: CheckTTL, TTL: time.Minute},
	}}.WithCheckDefaults()
	if err := r.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	want := []Check{
		{Kind: CheckGRPC, Interval: DefaultCheckInterval, Timeout: DefaultCheckTimeout},
		{Kind: CheckHTTP, Interval: 2 * time.Second, Timeout: time.Second},
		{Kind: CheckTTL, TTL: time.Minute},
	}
	for i := range want {
		if r.Checks[i] != want[i] {
			t.Errorf("checks[%d] = %+v, want %+v", i, r.Checks[i], want[i])
		}
	}
	bad := Registration{Service: "echo", Endpoint: "127.0.0.1:1", Checks: []Check{{Kind: CheckTCP, Interval: time.Second, Timeout: 3 * time.Second}}}.WithCheckDefaults()
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "checks[0].timeout") {
		t.Fatalf("timeout above the interval: %v", err)
	}
}
