package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/cluster"
)

// fakeLockTable gives fakeNode sessions and locks: enough of the node's
// contract (fail-fast or waiting acquire, holder-only release, release on
// session end, increasing tokens) to drive the lock verbs end to end over
// a real API server.
type fakeLockTable struct {
	mu       sync.Mutex
	node     string
	index    uint64
	nextID   int
	sessions map[string]*fakeSession
	opened   []*fakeSession
	locks    map[string]*fakeLockEntry
	changed  chan struct{} // closed and replaced whenever a lock frees
	// sessionEnded, when set, hears of every session's end (under mu),
	// as the node's other tables do: the registry drops its instances.
	sessionEnded func(pid string)
}

type fakeLockEntry struct {
	holder  string
	token   uint64
	waiters []string
}

func newFakeLockTable(node string) *fakeLockTable {
	return &fakeLockTable{node: node, index: 100, sessions: map[string]*fakeSession{},
		locks: map[string]*fakeLockEntry{}, changed: make(chan struct{})}
}

// fakeSession ends when closed or when the test expires it.
type fakeSession struct {
	t      *fakeLockTable
	pid    string
	ttl    time.Duration
	events chan *cluster.SessionEvent
	done   chan struct{}
	once   sync.Once
}

func (s *fakeSession) PID() string                          { return s.pid }
func (s *fakeSession) TTL() time.Duration                   { return s.ttl }
func (s *fakeSession) Events() <-chan *cluster.SessionEvent { return s.events }
func (s *fakeSession) Done() <-chan struct{}                { return s.done }
func (s *fakeSession) Keepalive()                           {}
func (s *fakeSession) Close(context.Context) error          { s.end(); return nil }

// end removes the session and frees its locks, once.
func (s *fakeSession) end() {
	s.once.Do(func() {
		t := s.t
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.sessions, s.pid)
		if t.sessionEnded != nil {
			t.sessionEnded(s.pid)
		}
		for name, l := range t.locks {
			if l.holder == s.pid {
				t.freeLocked(name)
			}
		}
		close(s.done)
	})
}

func (s *fakeSession) emit(ev cluster.SessionEvent) {
	select {
	case s.events <- &ev:
	default:
	}
}

func (f *fakeNode) OpenSession(_ context.Context, ttl time.Duration) (api.Session, error) {
	t := f.lk
	t.mu.Lock()
	defer t.mu.Unlock()
	if ttl == 0 {
		ttl = 10 * time.Second
	}
	t.nextID++
	s := &fakeSession{t: t, pid: fmt.Sprintf("%s/%04x", t.node, t.nextID), ttl: ttl,
		events: make(chan *cluster.SessionEvent, 64), done: make(chan struct{})}
	t.sessions[s.pid] = s
	t.opened = append(t.opened, s)
	return s, nil
}

// lastSession is the session opened most recently, or nil.
func (f *fakeNode) lastSession() *fakeSession {
	f.lk.mu.Lock()
	defer f.lk.mu.Unlock()
	if len(f.lk.opened) == 0 {
		return nil
	}
	return f.lk.opened[len(f.lk.opened)-1]
}

// openSessions is how many sessions are open.
func (f *fakeNode) openSessions() int {
	f.lk.mu.Lock()
	defer f.lk.mu.Unlock()
	return len(f.lk.sessions)
}

// holder is who holds name ("" if free).
func (f *fakeNode) holder(name string) string {
	f.lk.mu.Lock()
	defer f.lk.mu.Unlock()
	if l := f.lk.locks[name]; l != nil {
		return l.holder
	}
	return ""
}

func (t *fakeLockTable) freeLocked(name string) {
	delete(t.locks, name)
	close(t.changed)
	t.changed = make(chan struct{})
}

// fakeLockService is the fake node's lock service, as cluster.Node.Locks
// is the real one's; it works on the node's lock table.
type fakeLockService struct{ *fakeNode }

// Locks returns the fake's lock service.
func (f *fakeNode) Locks() fakeLockService { return fakeLockService{f} }

func (f fakeLockService) Acquire(ctx context.Context, pid, name string, opts cluster.AcquireOptions) (uint64, error) {
	t := f.lk
	timer := time.NewTimer(opts.Wait)
	defer timer.Stop()
	giveUp := func(err error) (uint64, error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if l := t.locks[name]; l != nil {
			for i, w := range l.waiters {
				if w == pid {
					l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
					break
				}
			}
		}
		return 0, err
	}
	for {
		t.mu.Lock()
		s, ok := t.sessions[pid]
		if !ok {
			t.mu.Unlock()
			return 0, fmt.Errorf("%w: %q is not open on node %s", cluster.ErrNoSession, pid, t.node)
		}
		l := t.locks[name]
		switch {
		case l == nil:
			t.index++
			token := t.index
			t.locks[name] = &fakeLockEntry{holder: pid, token: token}
			t.mu.Unlock()
			return token, nil
		case l.holder == pid:
			t.mu.Unlock()
			return l.token, nil
		case opts.Wait == 0:
			t.mu.Unlock()
			return 0, fmt.Errorf("acquire %q: %w: held by %s", name, cluster.ErrLockHeld, l.holder)
		}
		queued := false
		for _, w := range l.waiters {
			queued = queued || w == pid
		}
		if !queued {
			l.waiters = append(l.waiters, pid)
		}
		changed := t.changed
		t.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			return giveUp(fmt.Errorf("acquire %q: %w after %s", name, cluster.ErrWaitExpired, opts.Wait))
		case <-ctx.Done():
			return giveUp(fmt.Errorf("acquire %q: %w", name, ctx.Err()))
		case <-s.done:
			return giveUp(fmt.Errorf("acquire %q: %w: session %s ended", name, cluster.ErrNoSession, pid))
		}
	}
}

func (f fakeLockService) Release(_ context.Context, pid, name string) error {
	t := f.lk
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.sessions[pid]; !ok {
		return fmt.Errorf("%w: %q is not open on node %s", cluster.ErrNoSession, pid, t.node)
	}
	if l := t.locks[name]; l == nil || l.holder != pid {
		return fmt.Errorf("release %q: %w", name, cluster.ErrNotHolder)
	}
	t.freeLocked(name)
	return nil
}

func (t *fakeLockTable) infoLocked(name string) cluster.LockInfo {
	l := t.locks[name]
	info := cluster.LockInfo{Name: name, Holder: l.holder, Token: l.token,
		GrantedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	for _, w := range l.waiters {
		info.Waiters = append(info.Waiters, cluster.LockWaiter{PID: w, Deadline: time.Date(2025, 3, 1, 12, 0, 30, 0, time.UTC)})
	}
	return info
}

func (f fakeLockService) Inspect(_ context.Context, name string, _ cluster.ReadMode) (cluster.LockInfo, error) {
	t := f.lk
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.locks[name] == nil {
		return cluster.LockInfo{}, fmt.Errorf("inspect %q: %w", name, cluster.ErrNotFound)
	}
	return t.infoLocked(name), nil
}

func (f fakeLockService) List(_ context.Context, prefix string, _ cluster.ReadMode) ([]cluster.LockInfo, error) {
	t := f.lk
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []cluster.LockInfo
	for name := range t.locks {
		if strings.HasPrefix(name, prefix) {
			out = append(out, t.infoLocked(name))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
