package registry

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// mirror is a node's copy of a server's table when it holds no replica
// (a client node): Run reads the whole table every Config.MirrorInterval
// and installs it if its index moved. Every answer carries the table's
// last change index (coarser than a replica's per-service index, still
// monotonic, and the same number a server gives for the same state).
type mirror struct {
	// used is when a reader last asked (Unix ns on the Service's clock).
	used atomic.Int64
	// waiters counts the blocking queries waiting on the mirror.
	waiters atomic.Int64

	mu      sync.RWMutex
	st      *State
	idx     uint64
	changed chan struct{}
}

func newMirror() *mirror { return &mirror{st: NewState(), changed: make(chan struct{})} }

func (m *mirror) read(f Filter) ([]Instance, uint64, <-chan struct{}) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return clones(m.st.List(f)), max(m.idx, 1), m.changed
}

func (m *mirror) get(service, id string) (Instance, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e := m.st.services[service]; e != nil {
		if in := e.byID[id]; in != nil {
			return in.clone(), true
		}
	}
	return Instance{}, false
}

func (m *mirror) ofNode(node string) []Instance {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return clones(m.st.OfNode(node))
}

func (m *mirror) index() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.idx
}

func (m *mirror) changes() <-chan struct{} {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.changed
}

func (m *mirror) services() ([]ServiceSummary, uint64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.st.Services(), max(m.idx, 1)
}

// set installs the table read at idx; an older or equal index is ignored
// (a slower server's answer must not take the mirror back).
func (m *mirror) set(ins []Instance, idx uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if idx <= m.idx {
		return
	}
	st := NewState()
	for i := range ins {
		in := ins[i]
		e := st.services[in.Service]
		if e == nil {
			e = &serviceEntry{index: idx, byID: map[string]*Instance{}}
			st.services[in.Service] = e
		}
		e.byID[in.ID] = &in
	}
	st.lastChange, st.lastRemoved = idx, idx
	m.st, m.idx = st, idx
	close(m.changed)
	m.changed = make(chan struct{})
}

// refreshMirror reads a server's whole table into the mirror if its last
// change index moved (a poll of an unchanged table costs one small query).
func (s *Service) refreshMirror(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.p.ApplyTimeout())
	defer cancel()
	resp, err := s.p.Query(ctx, wire.ReadStale, indexQuery())
	if err != nil {
		return err
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return refusalErr(refused)
	}
	idx := d.Uvarint()
	if err := d.Done(); err != nil {
		return fmt.Errorf("registry: decode index: %w", err)
	}
	if idx <= s.mirror.index() {
		return nil
	}
	resp, err = s.p.Query(ctx, wire.ReadStale, instancesQuery(Filter{}))
	if err != nil {
		return err
	}
	d, refused = wire.ParseResult(resp)
	if refused != nil {
		return refusalErr(refused)
	}
	ins, idx, err := decodeInstances(d)
	if err != nil {
		return fmt.Errorf("registry: decode instances: %w", err)
	}
	s.mirror.set(ins, idx)
	return nil
}

// useMirror records a reader of the mirror; after Config.MirrorIdle
// without one (the poll stopped), it refreshes the mirror first, within
// one ApplyTimeout.
func (s *Service) useMirror() {
	now := s.now().UnixNano()
	if last := s.mirror.used.Swap(now); time.Duration(now-last) < s.cfg.MirrorIdle {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.p.ApplyTimeout())
	defer cancel()
	if err := s.refreshMirror(ctx); err != nil {
		s.log.Debug().Err(err).Msg("registry mirror not refreshed")
	}
}

// mirrorWanted reports whether the poll should go on: a blocking query
// waiting, a reader within Config.MirrorIdle, or instances of this node's
// sessions to check.
func (s *Service) mirrorWanted() bool {
	if s.mirror.waiters.Load() > 0 {
		return true
	}
	if time.Duration(s.now().UnixNano()-s.mirror.used.Load()) < s.cfg.MirrorIdle {
		return true
	}
	return len(s.mirror.ofNode(s.node)) > 0
}

// runMirror keeps the mirror fresh while this node holds no replica and
// the mirror is wanted.
func (s *Service) runMirror(ctx context.Context) {
	t := time.NewTicker(s.cfg.MirrorInterval)
	defer t.Stop()
	for {
		if !s.replica() && s.mirrorWanted() {
			if err := s.refreshMirror(ctx); err != nil && ctx.Err() == nil {
				s.log.Debug().Err(err).Msg("registry mirror not refreshed")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
