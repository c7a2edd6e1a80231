package session

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is a Clock that moves only when the test advances it. Every
// After call is announced on waiting, so a test knows a loop is waiting
// before it advances.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	afters  []fakeAfter
	waiting chan time.Duration
}

type fakeAfter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0, waiting: make(chan time.Duration, 64)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.afters = append(c.afters, fakeAfter{at: c.now.Add(d), ch: ch})
	select {
	case c.waiting <- d:
	default:
	}
	return ch
}

// Advance moves the clock by d and fires the Afters due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.afters[:0]
	for _, a := range c.afters {
		if a.at.After(c.now) {
			kept = append(kept, a)
			continue
		}
		a.ch <- c.now
	}
	c.afters = kept
}

// awaitWaiting blocks until some loop calls After (with a deadline).
func (c *fakeClock) awaitWaiting(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.waiting:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a loop to wait on the clock")
		return 0
	}
}

// fakeCore is a Proposer that records the release commands it is given,
// decoded as the FSM envelope decodes them. down makes it lose quorum;
// refuse makes it answer with a refusal.
type fakeCore struct {
	mu      sync.Mutex
	leader  bool
	down    bool
	refuse  bool
	applied []Release
	calls   chan Release // every attempt, committed or not
}

func newFakeCore() *fakeCore { return &fakeCore{calls: make(chan Release, 256)} }

func (c *fakeCore) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	table, op, d, err := wire.ParseCommand(cmd)
	if err != nil || !IsRelease(table, op) {
		return nil, fmt.Errorf("not a release command: %x", cmd)
	}
	r, err := ParseRelease(op, d)
	if err != nil {
		return nil, err
	}
	select {
	case c.calls <- r:
	default: // a test that does not watch attempts
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.down:
		return nil, fmt.Errorf("%w: no quorum", wire.ErrUnavailable)
	case c.refuse:
		return wire.Refusal(&wire.Error{Code: wire.Invalid, Detail: "refused"}), nil
	}
	c.applied = append(c.applied, r)
	return wire.Result().Data(), nil
}

func (c *fakeCore) ApplyTimeout() time.Duration { return time.Second }

func (c *fakeCore) IsLeader() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

func (c *fakeCore) set(f func(c *fakeCore)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// committed returns the committed releases, and forgets them.
func (c *fakeCore) committed() []Release {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.applied
	c.applied = nil
	return out
}

// nextCall waits for the next proposal attempt.
func (c *fakeCore) nextCall(t *testing.T) Release {
	t.Helper()
	select {
	case r := <-c.calls:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a proposal")
		return nil
	}
}

// fakeOwners is the tables' view: the nodes owning something and the PIDs
// of each node that own something.
type fakeOwners struct {
	mu   sync.Mutex
	pids map[string][]string
	err  error
	asks int
}

func (o *fakeOwners) Nodes() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for node, pids := range o.pids {
		if len(pids) > 0 {
			out = append(out, node)
		}
	}
	sort.Strings(out)
	return out
}

func (o *fakeOwners) PIDs(ctx context.Context, node string) ([]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.asks++
	if o.err != nil {
		return nil, o.err
	}
	return append([]string(nil), o.pids[node]...), nil
}

func (o *fakeOwners) set(f func(o *fakeOwners)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(o)
}

// fakeMembers is gossip's view: the nodes alive.
type fakeMembers struct {
	mu    sync.Mutex
	alive map[string]bool
}

func (m *fakeMembers) Alive(node string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.alive[node]
}

func (m *fakeMembers) set(node string, alive bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.alive[node] = alive
}

// harness is a Service on fakes.
type harness struct {
	svc     *Service
	core    *fakeCore
	owners  *fakeOwners
	members *fakeMembers
	clock   *fakeClock
	ended   chan string // the PIDs the OnEnd hook saw
}

func newHarness(t *testing.T, fresh bool) *harness {
	t.Helper()
	h := &harness{
		core: newFakeCore(), owners: &fakeOwners{pids: map[string][]string{}},
		members: &fakeMembers{alive: map[string]bool{"n1": true}}, clock: newFakeClock(),
		ended: make(chan string, 64),
	}
	cfg := DefaultConfig("n1")
	cfg.Fresh = fresh
	svc, err := New(cfg, Deps{Proposer: h.core, Owners: h.owners, Members: h.members}, WithClock(h.clock),
		WithHeld(func(pid string) map[string]uint64 { return map[string]uint64{"lock-of-" + pid: 7} }))
	if err != nil {
		t.Fatal(err)
	}
	svc.OnEnd(func(pid string) { h.ended <- pid })
	h.svc = svc
	return h
}

// open opens a session on a service whose sessions may open.
func (h *harness) open(t *testing.T, ttl time.Duration) *Session {
	t.Helper()
	s, err := h.svc.Open(context.Background(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (h *harness) endedPIDs() []string {
	var out []string
	for {
		select {
		case pid := <-h.ended:
			out = append(out, pid)
		default:
			return out
		}
	}
}

func isDone(s *Session) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}
