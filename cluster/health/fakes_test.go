package health

import (
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is a Clock that moves only when the test advances it. Every
// After call is announced on waiting, so a test knows Run has sampled and
// waits before it advances.
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

// awaitWaiting waits until a loop waits on the clock and returns how long.
func (c *fakeClock) awaitWaiting(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.waiting:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for Run to wait on the clock")
		return 0
	}
}

// fakeGossip is a Gossip whose answers the test sets.
type fakeGossip struct {
	mu     sync.Mutex
	score  int
	alive  int
	leader string
}

func (g *fakeGossip) HealthScore() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.score
}

func (g *fakeGossip) NumAlive() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.alive
}

func (g *fakeGossip) AdvertisedLeader() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.leader
}

// fakeRaft is a Raft whose status the test sets; CommitIndex reports the
// status's commit index.
type fakeRaft struct {
	mu sync.Mutex
	st RaftStatus
}

func (r *fakeRaft) Status() RaftStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

func (r *fakeRaft) CommitIndex() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.CommitIndex
}

func (r *fakeRaft) set(f func(*RaftStatus)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.st)
}

// fakeGroups is a Groups whose last beat the test sets.
type fakeGroups struct {
	mu   sync.Mutex
	peer string
	at   time.Time
}

func (g *fakeGroups) LastBeat() (string, time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peer, g.at
}

// fakeDisk is a Disk whose answer the test sets; it records the path asked.
type fakeDisk struct {
	mu          sync.Mutex
	free, total uint64
	err         error
	path        string
}

func (d *fakeDisk) Free(path string) (uint64, uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.path = path
	return d.free, d.total, d.err
}

// harness is a Checker of node n1 with DefaultConfig over fakes, started
// at t0 by its fake clock. By default n1 is a healthy voting follower with
// a peer, in contact with leader n2, its data dir /data on a disk with
// 10 GiB free of 100 GiB.
type harness struct {
	h      *Checker
	clock  *fakeClock
	gossip *fakeGossip
	raft   *fakeRaft
	groups *fakeGroups
	disk   *fakeDisk
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	x := &harness{
		clock:  newFakeClock(),
		gossip: &fakeGossip{alive: 2},
		raft: &fakeRaft{st: RaftStatus{
			State: "follower", Member: true, LeaderID: "n2", Term: 3, LastContact: 100 * time.Millisecond,
			Servers: []Server{{ID: "n1", Suffrage: "voter"}, {ID: "n2", Suffrage: "voter"}},
		}},
		groups: &fakeGroups{},
		disk:   &fakeDisk{free: 10 << 30, total: 100 << 30},
	}
	h, err := New(DefaultConfig("n1", "/data"), Deps{Gossip: x.gossip, Raft: x.raft, Groups: x.groups, Disk: x.disk}, WithClock(x.clock))
	if err != nil {
		t.Fatal(err)
	}
	x.h = h
	return x
}

// result runs the checks (readiness ones included) at the clock's time and
// returns the one named name.
func (x *harness) result(t *testing.T, name string) Result {
	t.Helper()
	for _, r := range x.h.Readiness() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no check %q", name)
	return Result{}
}
