package registry

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Run runs the Service's duties until ctx ends, and returns once every
// goroutine it started has stopped (cluster calls it once):
//   - the checks of the instances whose session is on this node, started
//     and stopped as the table's instances of this node come and go (on
//     every change of the table, and every Config.ReconcileInterval in
//     case a change was missed);
//   - the last_seen batcher: every Config.LastSeenInterval, one command
//     carrying the last_seen times of this node's instances seen alive
//     since the last one (by a passing or warning check, a TTL report, or
//     for an instance without checks, its session open at a reconcile);
//   - the orphan sweep: an instance of this node whose session is not
//     open here for Config.OrphanGrace is deregistered (a registration
//     that raced its session's end, or whose release was lost);
//   - on a node without a replica, the mirror of a server's table.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { s.runMirror(ctx) })
	reconcile := time.NewTicker(s.cfg.ReconcileInterval)
	defer reconcile.Stop()
	seen := time.NewTicker(s.cfg.LastSeenInterval)
	defer seen.Stop()
	for {
		changed := s.changes()
		s.reconcile(ctx)
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.stopped = true
			for k, m := range s.monitors {
				m.cancel()
				delete(s.monitors, k)
			}
			s.mu.Unlock()
			s.wg.Wait()
			wg.Wait()
			return nil
		case <-changed:
		case <-s.kick:
		case <-reconcile.C:
		case <-seen.C:
			s.flushSeen(ctx)
		}
	}
}

// localInstances are the instances of this node's sessions, as this
// node's replica (or mirror) holds them.
func (s *Service) localInstances() map[instanceKey]Instance {
	var ins []Instance
	if s.replica() {
		ins = s.table.OfNode(s.node)
	} else {
		ins = s.mirror.ofNode(s.node)
	}
	out := make(map[instanceKey]Instance, len(ins))
	for _, in := range ins {
		out[instanceKey{in.Service, in.ID}] = in
	}
	return out
}

// reconcile starts the checks of new local instances, stops those of
// instances gone or changed, syncs each monitor with the health the
// table holds, and sweeps orphans.
func (s *Service) reconcile(ctx context.Context) {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	local := s.localInstances()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || ctx.Err() != nil {
		return
	}
	for k, m := range s.monitors {
		if in, ok := local[k]; !ok || !m.same(in) {
			m.cancel()
			delete(s.monitors, k)
		}
	}
	for k := range s.seen {
		if in, ok := local[k]; !ok || in.PID != s.seen[k].pid {
			delete(s.seen, k)
		}
	}
	for k, in := range local {
		if _, open := s.sessions.Lookup(in.PID); !open {
			// Its session's release is on its way: stop checking it.
			if m := s.monitors[k]; m != nil {
				m.cancel()
				delete(s.monitors, k)
			}
			since, ok := s.orphans[k]
			switch {
			case !ok:
				s.orphans[k] = now
			case now.Sub(since) >= s.cfg.OrphanGrace:
				s.log.Info().Str("service", in.Service).Str("id", in.ID).Str("pid", in.PID).Msg("instance of a session no longer open here deregistered")
				s.wg.Go(func() { s.dropOrphan(ctx, in.Service, in.ID, in.PID) })
				delete(s.orphans, k)
			}
			continue
		}
		delete(s.orphans, k)
		if len(in.Checks) == 0 {
			// Without checks, its session being open is all the agent
			// knows of it: that is when it last saw it alive.
			st := s.seen[k]
			if st.pid != in.PID {
				st = seenTime{pid: in.PID}
			}
			if now.After(st.at) {
				st.at = now
			}
			s.seen[k] = st
			continue
		}
		if m := s.monitors[k]; m != nil {
			m.syncReported(in.Health)
			continue
		}
		mctx, cancel := context.WithCancel(ctx)
		m := newMonitor(s, in, cancel)
		s.monitors[k] = m
		m.start(mctx, &s.wg)
	}
	for k := range s.orphans {
		if _, ok := local[k]; !ok {
			delete(s.orphans, k)
		}
	}
}

// monitorFor is the monitor of in, started now if the table's change has
// not reached Run yet (a TTL update right after the registration); nil if
// the instance has no checks. It fails when Run is not running.
func (s *Service) monitorFor(in Instance) (*monitor, error) {
	k := instanceKey{in.Service, in.ID}
	s.mu.Lock()
	m, ctx, stopped := s.monitors[k], s.runCtx, s.stopped
	s.mu.Unlock()
	switch {
	case stopped:
		return nil, ErrStopped
	case ctx == nil:
		return nil, fmt.Errorf("registry: not running yet: %w", wire.ErrUnavailable)
	case m != nil && m.same(in):
		return m, nil
	}
	s.reconcile(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.monitors[k]; m != nil && m.same(in) {
		return m, nil
	}
	return nil, nil
}

// sawAlive records that a local instance was seen alive at t.
func (s *Service) sawAlive(service, id, pid string, t time.Time) {
	k := instanceKey{service, id}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.seen[k]
	if st.pid != pid {
		st = seenTime{pid: pid}
	}
	if t.After(st.at) {
		st.at = t
	}
	s.seen[k] = st
}

// lastSeen is the last time a local instance was seen alive (zero: not
// since this node started).
func (s *Service) lastSeen(k instanceKey, pid string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.seen[k]; st.pid == pid {
		return st.at
	}
	return time.Time{}
}

// flushSeen replicates the last_seen times of local instances seen alive
// since the last flush, in batches of at most MaxBatch.
func (s *Service) flushSeen(ctx context.Context) {
	s.mu.Lock()
	var items []Seen
	for k, st := range s.seen {
		if st.at.After(st.sent) {
			items = append(items, Seen{Service: k.service, ID: k.id, PID: st.pid, At: st.at})
		}
	}
	s.mu.Unlock()
	for len(items) > 0 {
		n := min(len(items), MaxBatch)
		batch := items[:n]
		items = items[n:]
		actx, cancel := context.WithTimeout(ctx, s.p.ApplyTimeout())
		_, err := s.apply(actx, LastSeen{Node: s.node, Now: s.now(), Items: batch}.Marshal())
		cancel()
		if err != nil {
			s.log.Debug().Err(err).Msg("last_seen batch not replicated; sent with the next")
			return
		}
		s.mu.Lock()
		for _, it := range batch {
			k := instanceKey{it.Service, it.ID}
			if st := s.seen[k]; st.pid == it.PID && !st.sent.After(it.At) {
				st.sent = it.At
				s.seen[k] = st
			}
		}
		s.mu.Unlock()
	}
}
