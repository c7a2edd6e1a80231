package session

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Run runs the session duties until ctx ends, each in its own goroutine,
// and returns once they have all stopped:
//   - the start-up release: what the previous incarnation of this node
//     held (one release-node entry, after which sessions open), or on a
//     fresh data dir what an earlier node of this name left (session by
//     session, beside the new sessions);
//   - the duty loop: reaping lapsed TTLs and, on the leader, declaring
//     nodes gone;
//   - the release loop: the releases of ended sessions still pending,
//     apart from the duty loop so a long wait for quorum delays neither
//     reaping nor the leader's duty.
//
// Cluster calls it once.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.cfg.Fresh {
		wg.Go(func() { s.releaseLeftovers(ctx) })
	} else {
		wg.Go(func() { s.releasePrevious(ctx) })
	}
	wg.Go(func() {
		gone := map[string]time.Time{}
		for s.wait(ctx, s.cfg.Interval) {
			s.duty(ctx, gone)
		}
	})
	wg.Go(func() {
		for s.wait(ctx, s.cfg.Interval) {
			s.retryPending(ctx)
		}
	})
	wg.Wait()
	return nil
}

// wait waits d on the clock; false if ctx ended first.
func (s *Service) wait(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-s.clock.After(d):
		return true
	}
}

// duty is one round of the duty loop; gone is the loop's record of when
// each node owning something was first seen dead.
func (s *Service) duty(ctx context.Context, gone map[string]time.Time) {
	s.reap()
	if s.core.IsLeader() {
		s.releaseGone(ctx, gone)
	} else {
		// A new leader starts its own count: the grace is measured on one
		// leader's clock.
		clear(gone)
	}
}

// releasePrevious frees what this node's previous incarnation held (its
// sessions died with it): one release-node entry before any session opens.
func (s *Service) releasePrevious(ctx context.Context) {
	for {
		rctx, cancel := context.WithTimeout(ctx, s.core.ApplyTimeout())
		err := s.ReleaseNode(rctx, s.cfg.Node)
		cancel()
		if err == nil {
			close(s.ready)
			s.log.Debug().Msg("previous sessions released; sessions open")
			return
		}
		s.log.Debug().Err(err).Msg("release of previous sessions pending")
		if !s.wait(ctx, 4*s.cfg.Interval) {
			return
		}
	}
}

// releaseLeftovers is releasePrevious for a node on a brand-new data dir,
// whose sessions open at once: it cannot propose release-node (that would
// free the new sessions too), so once a leader answers it looks for what
// PIDs of this node's name that are not this incarnation's own (a data
// dir wiped and the node restarted under its name before peers declared
// it gone) and releases those sessions one by one. Usually there are none
// and it ends after one read.
func (s *Service) releaseLeftovers(ctx context.Context) {
	for {
		pids, err := s.leftoverPIDs(ctx)
		for _, pid := range pids {
			if err == nil {
				rctx, cancel := context.WithTimeout(ctx, s.core.ApplyTimeout())
				err = s.releaseSession(rctx, pid)
				cancel()
			}
		}
		switch {
		case err == nil:
			if len(pids) > 0 {
				s.log.Info().Strs("pids", pids).Msg("sessions left by an earlier node of this name released")
			}
			return
		case errors.Is(err, ErrCannotList):
			s.log.Warn().Err(err).Msg("cannot list the lock and name tables through the leader; sessions of an earlier node of this name are not released")
			return
		}
		s.log.Debug().Err(err).Msg("release of an earlier node's sessions pending")
		if !s.wait(ctx, 4*s.cfg.Interval) {
			return
		}
	}
}

// leftoverPIDs lists the PIDs of this node's name, not open here, that
// own something.
func (s *Service) leftoverPIDs(ctx context.Context) ([]string, error) {
	rctx, cancel := context.WithTimeout(ctx, s.core.ApplyTimeout())
	defer cancel()
	all, err := s.owners.PIDs(rctx, s.cfg.Node)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, pid := range all {
		if seen[pid] {
			continue
		}
		seen[pid] = true
		if _, open := s.Lookup(pid); !open {
			out = append(out, pid)
		}
	}
	return out, nil
}

// releaseGone is the leader's duty: it releases what the sessions of
// nodes that have been dead in gossip for the grace own, in every table,
// with one release-node entry per node.
func (s *Service) releaseGone(ctx context.Context, gone map[string]time.Time) {
	now := s.clock.Now()
	nodes := map[string]bool{}
	for _, node := range s.owners.Nodes() {
		nodes[node] = true
	}
	for node := range gone {
		if !nodes[node] {
			delete(gone, node)
		}
	}
	for node := range nodes {
		if s.members.Alive(node) {
			delete(gone, node)
			continue
		}
		since, seen := gone[node]
		if !seen {
			gone[node] = now
			continue
		}
		if now.Sub(since) < s.cfg.NodeGoneGrace {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, s.core.ApplyTimeout())
		err := s.ReleaseNode(rctx, node)
		cancel()
		if err != nil {
			s.log.Warn().Err(err).Str("peer", node).Msg("release of a gone node's sessions failed")
			continue
		}
		delete(gone, node)
		s.log.Info().Str("peer", node).Dur("gone_for", now.Sub(since)).Msg("node declared gone; its sessions' locks released")
	}
}
