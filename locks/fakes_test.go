package locks

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// fakeClock is a Clock that moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c      *fakeClock
	ch     chan time.Time
	at     time.Time
	active bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1), at: c.now.Add(d), active: true}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.at, t.active = t.c.now.Add(d), true
}

// Advance moves the clock by d and fires the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.active && !t.at.After(c.now) {
			t.active = false
			select {
			case t.ch <- c.now:
			default:
			}
		}
	}
}

func (c *fakeClock) activeTimers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.active {
			n++
		}
	}
	return n
}

// eventually waits for cond, failing the test after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case <-time.After(time.Millisecond):
		}
	}
}

// fakeCore is a Proposer that applies every command at once to a real
// replicated table, as a one-node Raft core whose entries get increasing
// indexes; the envelope's release-session and release-node (ops 3 and 4)
// are applied as the FSM envelope does. down makes it lose quorum.
type fakeCore struct {
	table *Replicated

	mu      sync.Mutex
	index   uint64
	status  CoreStatus
	down    bool
	pingErr error
	applied [][]byte
	pings   int
}

func (c *fakeCore) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return nil, fmt.Errorf("%w: no quorum", wire.ErrUnavailable)
	}
	c.index++
	c.applied = append(c.applied, cmd)
	table, op, d, err := wire.ParseCommand(cmd)
	if err != nil || table != TableID {
		return wire.Refusal(fmt.Errorf("bad command %x", cmd)), nil
	}
	var res []byte
	switch op {
	case 3, 4:
		s, now := d.String(), commandTime(d.Uvarint())
		if op == 3 {
			err = c.table.ReleaseSession(c.index, now, s)
		} else {
			err = c.table.ReleaseNode(c.index, now, s)
		}
		res = wire.Result().Data()
	default:
		res, err = c.table.Apply(c.index, op, d)
	}
	c.table.Flush()
	if err != nil {
		return wire.Refusal(err), nil
	}
	return res, nil
}

func (c *fakeCore) Query(ctx context.Context, mode wire.ReadMode, q []byte) ([]byte, error) {
	c.mu.Lock()
	down := c.down
	c.mu.Unlock()
	if down && mode != wire.ReadStale {
		return nil, fmt.Errorf("%w: no leader", wire.ErrUnavailable)
	}
	table, op, d, err := wire.ParseCommand(q)
	if err != nil || table != TableID {
		return nil, fmt.Errorf("%w: bad query", wire.ErrInvalid)
	}
	return c.table.Query(op, d)
}

func (c *fakeCore) ApplyTimeout() time.Duration { return time.Second }

func (c *fakeCore) Status() CoreStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func (c *fakeCore) Ping(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pings++
	return c.pingErr
}

func (c *fakeCore) set(f func(c *fakeCore)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// propose applies a raw command, as another node's proposal would.
func (c *fakeCore) propose(t *testing.T, cmd []byte) []byte {
	t.Helper()
	r, err := c.Apply(context.Background(), cmd)
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	return r
}

// fakeSessions is a session table: open sessions and the notices emitted.
type fakeSessions struct {
	mu      sync.Mutex
	open    map[string]chan struct{}
	notices map[string][]Notice
}

func newFakeSessions() *fakeSessions {
	return &fakeSessions{open: map[string]chan struct{}{}, notices: map[string][]Notice{}}
}

func (s *fakeSessions) Lookup(pid string) (<-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	done, ok := s.open[pid]
	return done, ok
}

func (s *fakeSessions) Emit(pid string, n Notice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.open[pid]; ok {
		s.notices[pid] = append(s.notices[pid], n)
	}
}

func (s *fakeSessions) openSession(pid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open[pid] = make(chan struct{})
}

// end ends the session as the node's session table does: gone from the
// table first, then the service is told.
func (s *fakeSessions) end(svc *Service, pid string) {
	s.mu.Lock()
	close(s.open[pid])
	delete(s.open, pid)
	s.mu.Unlock()
	svc.SessionEnded(pid)
}

func (s *fakeSessions) kinds(pid string) []NoticeKind {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []NoticeKind
	for _, n := range s.notices[pid] {
		out = append(out, n.Kind)
	}
	return out
}

// harness is a Service of node n1 on the fakes. On a member its table is
// the core's replica and it is told of every batch; on a client node it
// hears of nothing and must ask.
type harness struct {
	svc      *Service
	core     *fakeCore
	sessions *fakeSessions
	clock    *fakeClock
}

func newHarness(t *testing.T, member bool) *harness {
	t.Helper()
	h := &harness{sessions: newFakeSessions(), clock: newFakeClock()}
	var notify func([]IndexedEvent)
	if member {
		notify = func(ev []IndexedEvent) { h.svc.Deliver(ev) }
	}
	table := NewReplicated(notify)
	h.core = &fakeCore{table: table, status: CoreStatus{Leader: member, Member: member, LeaderKnown: true}}
	svc, err := NewService(DefaultConfig("n1"), table, h.core, h.sessions, WithClock(h.clock))
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	for _, pid := range []string{"n1/a", "n1/b", "n1/c"} {
		h.sessions.openSession(pid)
	}
	return h
}

type acquireOutcome struct {
	token uint64
	err   error
}

// acquireAsync starts an acquire and returns where its outcome arrives.
func (h *harness) acquireAsync(ctx context.Context, pid, name string, opts AcquireOptions) <-chan acquireOutcome {
	out := make(chan acquireOutcome, 1)
	go func() {
		tok, err := h.svc.Acquire(ctx, pid, name, opts)
		out <- acquireOutcome{tok, err}
	}()
	return out
}

func wait(t *testing.T, ch <-chan acquireOutcome) acquireOutcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(5 * time.Second):
		t.Fatal("acquire did not return")
	}
	return acquireOutcome{}
}
