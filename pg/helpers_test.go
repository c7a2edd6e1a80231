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

// newTestService returns a Service that is not running, alone on a memNet.
func newTestService(t *testing.T, node string) *Service {
	t.Helper()
	n := &memNet{svcs: map[string]*Service{}, alive: map[string]bool{}}
	s, err := New(DefaultLocalConfig(), node, 1, memTransport{net: n, from: node}, memView{net: n, self: node},
		func(string, Message) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	n.svcs[node] = s
	return s
}
