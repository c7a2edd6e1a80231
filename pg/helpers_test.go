package pg

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// memNet connects Services in memory: the Transport of each calls the
// others' Handle directly (unit tests only; the cluster tests use the real
// mesh).
type memNet struct {
	mu    sync.Mutex
	svcs  map[string]*Service
	alive map[string]bool
}

type memTransport struct {
	net  *memNet
	from string
}

func (t memTransport) target(addr string) (*Service, error) {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	s := t.net.svcs[addr]
	if s == nil || !t.net.alive[addr] {
		return nil, errors.New("memnet: unreachable")
	}
	return s, nil
}

func (t memTransport) Request(ctx context.Context, addr string, req []byte) ([]byte, error) {
	s, err := t.target(addr)
	if err != nil {
		return nil, err
	}
	return s.Handle(ctx, t.from, append([]byte(nil), req...))
}

func (t memTransport) Send(ctx context.Context, addr string, msg []byte) error {
	s, err := t.target(addr)
	if err != nil {
		return err
	}
	_, err = s.Handle(ctx, t.from, append([]byte(nil), msg...))
	return err
}

type memView struct {
	net  *memNet
	self string
}

func (v memView) Peers() []Peer {
	v.net.mu.Lock()
	defer v.net.mu.Unlock()
	var out []Peer
	for name := range v.net.svcs {
		if name != v.self && v.net.alive[name] {
			out = append(out, Peer{Name: name, Addr: name})
		}
	}
	return out
}

// fakeSessions is a session table: sessions opened and ended by the test,
// and an inbox of what was delivered to each.
type fakeSessions struct {
	mu   sync.Mutex
	open map[string]chan struct{}
	got  map[string][]Message
	// onLookup, if set, runs after a Lookup found its session (a session
	// ending just after the Service checked it).
	onLookup func(pid string)
}

func newFakeSessions() *fakeSessions {
	return &fakeSessions{open: map[string]chan struct{}{}, got: map[string][]Message{}}
}

func (f *fakeSessions) start(pids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, pid := range pids {
		f.open[pid] = make(chan struct{})
	}
}

// end closes pid's session; the caller then does what the node's end hook
// does (LeaveAll).
func (f *fakeSessions) end(pid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if done := f.open[pid]; done != nil {
		close(done)
		delete(f.open, pid)
	}
}

func (f *fakeSessions) Lookup(pid string) (<-chan struct{}, bool) {
	f.mu.Lock()
	done, ok := f.open[pid]
	hook := f.onLookup
	f.mu.Unlock()
	if ok && hook != nil {
		hook(pid)
	}
	return done, ok
}

func (f *fakeSessions) Deliver(pid string, m Message) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.open[pid]; !ok {
		return false
	}
	f.got[pid] = append(f.got[pid], m)
	return true
}

func (f *fakeSessions) inbox(pid string) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.got[pid]...)
}

// newTestService returns a Service that is not running, alone on a memNet,
// and its session table.
func newTestService(t *testing.T, node string) (*Service, *fakeSessions) {
	t.Helper()
	n := &memNet{svcs: map[string]*Service{}, alive: map[string]bool{}}
	sess := newFakeSessions()
	s, err := New(DefaultLocalConfig(), node, 1, memTransport{net: n, from: node}, memView{net: n, self: node}, sess)
	if err != nil {
		t.Fatal(err)
	}
	n.svcs[node] = s
	return s, sess
}
