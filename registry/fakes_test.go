package registry

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// fakeRaft is a one-replica log for the Service's unit tests: Apply
// applies a registry command to the table at the next index, as the FSM
// would; as in Raft, index 1 is taken (by the configuration entry), so
// commands start at 2. before, if set, runs before each apply (a session ending in
// flight); down makes Apply fail as without quorum.
type fakeRaft struct {
	table  *Table
	mu     sync.Mutex
	index  uint64
	before func(cmd []byte)
	down   atomic.Bool
	// queries counts Query calls.
	queries atomic.Int64
}

func (f *fakeRaft) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	if f.down.Load() {
		return nil, fmt.Errorf("no quorum: %w", wire.ErrUnavailable)
	}
	if f.before != nil {
		f.before(cmd)
	}
	table, op, d, err := wire.ParseCommand(cmd)
	if err != nil || table != TableID {
		return nil, fmt.Errorf("fake raft: command for table %d: %v", table, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index = max(f.index, 1) + 1
	res, err := f.table.Apply(f.index, op, d)
	if err != nil {
		return wire.Refusal(err), nil
	}
	return res, nil
}

func (f *fakeRaft) Query(_ context.Context, _ wire.ReadMode, q []byte) ([]byte, error) {
	f.queries.Add(1)
	_, op, d, err := wire.ParseCommand(q)
	if err != nil {
		return nil, err
	}
	return f.table.Query(op, d)
}

func (f *fakeRaft) ApplyTimeout() time.Duration { return 2 * time.Second }
func (f *fakeRaft) OutcomeUnknown(error) bool   { return false }
func (f *fakeRaft) releaseSession(pid string) {
	f.release(func(ix uint64) { _ = f.table.ReleaseSession(ix, t0, pid) })
}
func (f *fakeRaft) release(apply func(ix uint64)) {
	f.mu.Lock()
	f.index++
	apply(f.index)
	f.mu.Unlock()
}

// fakeSessions is a session table.
type fakeSessions struct {
	mu   sync.Mutex
	open map[string]chan struct{}
}

func newFakeSessions(pids ...string) *fakeSessions {
	s := &fakeSessions{open: map[string]chan struct{}{}}
	for _, p := range pids {
		s.open[p] = make(chan struct{})
	}
	return s
}

func (s *fakeSessions) Lookup(pid string) (<-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.open[pid]
	return ch, ok
}

func (s *fakeSessions) end(pid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.open[pid]; ok {
		close(ch)
		delete(s.open, pid)
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t0.UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func testConfig() Config {
	c := DefaultLocalConfig()
	c.ReconcileInterval, c.MirrorInterval, c.LastSeenInterval, c.OrphanGrace = 20*time.Millisecond, 20*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond
	return c
}

// runService runs s until the test ends.
func runService(t *testing.T, s *Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, "Run running", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.runCtx != nil
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
