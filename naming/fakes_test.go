package naming

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Fakes for the Service's unit tests: a Raft log that applies every
// command to the real Table of every node, a gossip view, a mesh that
// calls the peers' HandleAck, a session table, a broadcaster and a clock.
// Everything is deterministic and in memory.

// errUnknown stands for raftcore's "outcome unknown".
var errUnknown = errors.New("fake: outcome unknown")

// fakeLog is a replicated log: Apply applies the command to every node's Table
// at the next index and answers with the first node's result.
type fakeLog struct {
	mu     sync.Mutex
	index  uint64
	tables []*Table
	// unknown makes the next that many Applies apply the command and then
	// fail with errUnknown (the leader lost after accepting it); lost
	// makes them fail without applying.
	unknown, lost int
	applied       [][]byte
}

func (l *fakeLog) Apply(_ context.Context, cmd []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost > 0 {
		l.lost--
		return nil, fmt.Errorf("leader lost: %w", errUnknown)
	}
	l.index++
	l.applied = append(l.applied, cmd)
	var first []byte
	for i, t := range l.tables {
		table, op, d, err := wire.ParseCommand(cmd)
		if err != nil || table != TableID {
			return nil, fmt.Errorf("fake log: header %d: %v", table, err)
		}
		r, err := t.Apply(l.index, op, d)
		if err != nil {
			r = wire.Refusal(err)
		}
		t.Flush()
		if i == 0 {
			first = r
		}
	}
	if l.unknown > 0 {
		l.unknown--
		return nil, fmt.Errorf("leader lost after accepting: %w", errUnknown)
	}
	return first, nil
}

func (l *fakeLog) Query(_ context.Context, _ wire.ReadMode, q []byte) ([]byte, error) {
	_, op, d, err := wire.ParseCommand(q)
	if err != nil {
		return nil, err
	}
	return l.tables[0].Query(op, d)
}

func (l *fakeLog) ApplyTimeout() time.Duration   { return time.Second }
func (l *fakeLog) OutcomeUnknown(err error) bool { return errors.Is(err, errUnknown) }
func (l *fakeLog) releaseSession(pid string) error {
	return l.release(func(t *Table) error { return t.ReleaseSession(0, time.Time{}, pid) })
}
func (l *fakeLog) release(f func(*Table) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range l.tables {
		if err := f(t); err != nil {
			return err
		}
		t.Flush()
	}
	return nil
}

// svcWorld is a cluster of Services on one fake log and one fake network.
type svcWorld struct {
	t     *testing.T
	log   *fakeLog
	clock *clock
	mu    sync.Mutex
	nodes map[string]*fakeNode
	order []string
	left  map[string]bool
	cut   map[string]bool // nodes whose acks fail
}

type fakeNode struct {
	w        *svcWorld
	name     string
	svc      *Service
	open     map[string]bool
	revoked  []string
	queued   [][]byte
	sentAll  chan []byte
	sessions sync.Mutex
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.StrongDeadline = 200 * time.Millisecond
	cfg.AckRetry = time.Millisecond
	cfg.AgainPace = time.Millisecond
	cfg.WatchBuffer = 8
	return cfg
}

func newSvcWorld(t *testing.T, cfg Config, names ...string) *svcWorld {
	w := &svcWorld{t: t, log: &fakeLog{}, clock: &clock{now: t0}, nodes: map[string]*fakeNode{},
		left: map[string]bool{}, cut: map[string]bool{}}
	for _, n := range names {
		fn := &fakeNode{w: w, name: n, open: map[string]bool{}, sentAll: make(chan []byte, 16)}
		svc, err := New(cfg, n, Deps{Proposer: w.log, Members: (*members)(fn), Acker: w, Sessions: fn, Gossip: fn},
			WithClock(w.clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		fn.svc = svc
		w.nodes[n] = fn
		w.order = append(w.order, n)
		w.log.tables = append(w.log.tables, svc.Table())
	}
	return w
}

func (w *svcWorld) node(n string) *fakeNode { return w.nodes[n] }

// Request is the mesh: addr is the node's name.
func (w *svcWorld) Request(ctx context.Context, addr string, req []byte) ([]byte, error) {
	w.mu.Lock()
	cut, n := w.cut[addr], w.nodes[addr]
	w.mu.Unlock()
	if cut || n == nil {
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	}
	return n.svc.HandleAck(ctx, req)
}

func (w *svcWorld) setCut(node string, cut bool) {
	w.mu.Lock()
	w.cut[node] = cut
	w.mu.Unlock()
}

func (w *svcWorld) setLeft(node string) {
	w.mu.Lock()
	w.left[node] = true
	w.mu.Unlock()
}

// members is a fakeNode's gossip view: every other node of the svcWorld that
// has not left is alive.
type members fakeNode

func (m *members) LivePeers() []Peer {
	w := m.w
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Peer
	for _, n := range w.order {
		if n != m.name && !w.left[n] {
			out = append(out, Peer{Name: n, Addr: n})
		}
	}
	return out
}

func (m *members) Alive(node string) bool {
	m.w.mu.Lock()
	defer m.w.mu.Unlock()
	return m.w.nodes[node] != nil && !m.w.left[node]
}

func (m *members) Left(node string) bool {
	m.w.mu.Lock()
	defer m.w.mu.Unlock()
	return m.w.left[node] || m.w.nodes[node] == nil
}

// Sessions.
func (n *fakeNode) Open(pid string) bool {
	n.sessions.Lock()
	defer n.sessions.Unlock()
	return n.open[pid]
}

func (n *fakeNode) Revoked(pid, name, winner string) {
	n.sessions.Lock()
	defer n.sessions.Unlock()
	n.revoked = append(n.revoked, pid+" "+name+" "+winner)
}

func (n *fakeNode) session(id string) string {
	pid := n.name + "/" + id
	n.sessions.Lock()
	n.open[pid] = true
	n.sessions.Unlock()
	return pid
}

// Broadcaster.
func (n *fakeNode) Queue(msg []byte) {
	n.sessions.Lock()
	n.queued = append(n.queued, msg)
	n.sessions.Unlock()
}

func (n *fakeNode) SendToAll(msg []byte) { n.sentAll <- msg }

// deliver hands every delta n queued to every other node, as gossip does.
func (w *svcWorld) deliver(from string) {
	n := w.nodes[from]
	n.sessions.Lock()
	q := n.queued
	n.queued = nil
	n.sessions.Unlock()
	for _, m := range q {
		for _, o := range w.order {
			if o != from {
				w.nodes[o].svc.Merge(m)
			}
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
