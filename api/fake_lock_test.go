package api

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conclave-dev/conclave/cluster"
)

// fakeLocks is the fake node's session and lock table: deterministic,
// in memory, FIFO queues, tokens from the node's index. Guarded by
// fakeNode.mu.
type fakeLocks struct {
	sessions    map[string]*fakeSession
	opened      []*fakeSession // every session ever opened, in order
	locks       map[string]*fakeLock
	lastAcquire cluster.AcquireOptions
	lastPID     string
	nextID      int
}

type fakeLock struct {
	holder    string
	token     uint64
	grantedAt time.Time
	delay     time.Duration
	waiters   []*fakeWaiter
}

type fakeWaiter struct {
	pid      string
	deadline time.Time
	grant    chan uint64 // buffered 1: the token when granted
}

func newFakeLocks() fakeLocks {
	return fakeLocks{sessions: map[string]*fakeSession{}, locks: map[string]*fakeLock{}}
}

// fakeSession is a session the test ends explicitly (expire, or the
// handler's Close); it has no clock of its own.
type fakeSession struct {
	node       *fakeNode
	pid        string
	ttl        time.Duration
	events     chan *cluster.SessionEvent
	done       chan struct{}
	once       sync.Once
	keepalives atomic.Int64
	closes     atomic.Int64
}

func (s *fakeSession) PID() string                          { return s.pid }
func (s *fakeSession) TTL() time.Duration                   { return s.ttl }
func (s *fakeSession) Events() <-chan *cluster.SessionEvent { return s.events }
func (s *fakeSession) Done() <-chan struct{}                { return s.done }
func (s *fakeSession) Keepalive()                           { s.keepalives.Add(1) }

func (s *fakeSession) Close(ctx context.Context) error {
	s.closes.Add(1)
	s.end()
	return nil
}

// expire ends the session as a lapsed TTL would: no Close call.
func (s *fakeSession) expire() { s.end() }

func (s *fakeSession) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// end removes the session and releases everything it held, once.
func (s *fakeSession) end() {
	s.once.Do(func() {
		f := s.node
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.lk.sessions, s.pid)
		for name, l := range f.lk.locks {
			if l.holder == s.pid {
				f.releaseLocked(name)
			}
		}
		close(s.done)
	})
}

// emit queues an event without blocking, like the node.
func (s *fakeSession) emit(ev cluster.SessionEvent) {
	select {
	case s.events <- &ev:
	default:
	}
}

func (f *fakeNode) OpenSession(ctx context.Context, ttl time.Duration) (Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCall = "open-session"
	if f.err != nil {
		return nil, f.err
	}
	if ttl == 0 {
		ttl = 10 * time.Second
	}
	if ttl < 0 {
		return nil, fmt.Errorf("%w: ttl: negative", cluster.ErrInvalidArgument)
	}
	f.lk.nextID++
	s := &fakeSession{
		node: f, pid: fmt.Sprintf("%s/%04x", f.name, f.lk.nextID), ttl: ttl,
		events: make(chan *cluster.SessionEvent, 64), done: make(chan struct{}),
	}
	f.lk.sessions[s.pid] = s
	f.lk.opened = append(f.lk.opened, s)
	return s, nil
}

// session returns the i-th session ever opened, or nil.
func (f *fakeNode) session(i int) *fakeSession {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i >= len(f.lk.opened) {
		return nil
	}
	return f.lk.opened[i]
}

func (f *fakeNode) openSessions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.lk.sessions)
}

// fakeLockService is the fake node's lock service, as cluster.Node.Locks
// is the real one's; it shares the node's tables and lock.
type fakeLockService struct{ *fakeNode }

// Locks returns the fake's lock service.
func (f *fakeNode) Locks() fakeLockService { return fakeLockService{f} }

func (f fakeLockService) Acquire(ctx context.Context, pid, name string, opts cluster.AcquireOptions) (uint64, error) {
	f.mu.Lock()
	f.lastCall, f.lk.lastAcquire, f.lk.lastPID = "lock-acquire", opts, pid
	if f.err != nil {
		f.mu.Unlock()
		return 0, f.err
	}
	if name == "" {
		f.mu.Unlock()
		return 0, fmt.Errorf("%w: name: empty", cluster.ErrInvalidArgument)
	}
	if _, ok := f.lk.sessions[pid]; !ok {
		f.mu.Unlock()
		return 0, fmt.Errorf("%w: %q is not open on node %s", cluster.ErrNoSession, pid, f.name)
	}
	l := f.lk.locks[name]
	switch {
	case l == nil:
		f.index++
		f.lk.locks[name] = &fakeLock{holder: pid, token: f.index, grantedAt: time.Unix(1700000000, 0).UTC(), delay: opts.LockDelay}
		token := f.index
		f.mu.Unlock()
		return token, nil
	case l.holder == pid:
		f.mu.Unlock()
		return l.token, nil
	case opts.Wait == 0:
		f.mu.Unlock()
		return 0, fmt.Errorf("acquire %q: %w: held by %s", name, cluster.ErrLockHeld, l.holder)
	}
	w := &fakeWaiter{pid: pid, deadline: time.Unix(1700000100, 0).UTC(), grant: make(chan uint64, 1)}
	l.waiters = append(l.waiters, w)
	holder := l.holder
	f.mu.Unlock()

	timer := time.NewTimer(opts.Wait)
	defer timer.Stop()
	var why error
	select {
	case token := <-w.grant:
		return token, nil
	case <-timer.C:
		why = fmt.Errorf("acquire %q: %w after %s (held by %s)", name, cluster.ErrWaitExpired, opts.Wait, holder)
	case <-ctx.Done():
		why = fmt.Errorf("acquire %q: %w", name, ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if l := f.lk.locks[name]; l != nil {
		for i, q := range l.waiters {
			if q == w {
				l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
				return 0, why
			}
		}
	}
	// Granted while giving up: the grant wins, as in the node.
	return <-w.grant, nil
}

func (f fakeLockService) Release(ctx context.Context, pid, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCall, f.lk.lastPID = "lock-release", pid
	if f.err != nil {
		return f.err
	}
	if _, ok := f.lk.sessions[pid]; !ok {
		return fmt.Errorf("%w: %q is not open on node %s", cluster.ErrNoSession, pid, f.name)
	}
	l := f.lk.locks[name]
	if l == nil || l.holder != pid {
		holder := "nobody"
		if l != nil {
			holder = l.holder
		}
		return fmt.Errorf("release %q: %w: held by %s", name, cluster.ErrNotHolder, holder)
	}
	f.releaseLocked(name)
	return nil
}

// releaseLocked hands name to its first waiter or frees it.
func (f *fakeNode) releaseLocked(name string) {
	l := f.lk.locks[name]
	if len(l.waiters) == 0 {
		delete(f.lk.locks, name)
		return
	}
	w := l.waiters[0]
	l.waiters = l.waiters[1:]
	f.index++
	l.holder, l.token = w.pid, f.index
	w.grant <- l.token
}

// waiters is how many acquirers queue for name.
func (f *fakeNode) waiters(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l := f.lk.locks[name]; l != nil {
		return len(l.waiters)
	}
	return 0
}

func (f *fakeNode) lockInfoLocked(name string) cluster.LockInfo {
	l := f.lk.locks[name]
	info := cluster.LockInfo{Name: name, Holder: l.holder, Token: l.token, GrantedAt: l.grantedAt, LockDelay: l.delay}
	for _, w := range l.waiters {
		info.Waiters = append(info.Waiters, cluster.LockWaiter{PID: w.pid, Deadline: w.deadline})
	}
	return info
}

func (f fakeLockService) Inspect(ctx context.Context, name string, mode cluster.ReadMode) (cluster.LockInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCall, f.lastMode = "lock-inspect", mode
	if f.err != nil {
		return cluster.LockInfo{}, f.err
	}
	if f.lk.locks[name] == nil {
		return cluster.LockInfo{}, fmt.Errorf("inspect %q: %w", name, cluster.ErrNotFound)
	}
	return f.lockInfoLocked(name), nil
}

func (f fakeLockService) List(ctx context.Context, prefix string, mode cluster.ReadMode) ([]cluster.LockInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCall, f.lastMode = "lock-list", mode
	if f.err != nil {
		return nil, f.err
	}
	var out []cluster.LockInfo
	for name := range f.lk.locks {
		if strings.HasPrefix(name, prefix) {
			out = append(out, f.lockInfoLocked(name))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
