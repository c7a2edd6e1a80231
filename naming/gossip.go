package naming

import (
	"context"
	"time"
)

// The eventual scope's replication: this node's deltas go out by gossip
// (Broadcaster), peers' deltas and push/pull states come in through
// Merge, and this node's state goes out through GossipState. cluster's
// gossip delegate calls these.

// publish sends an eventual delta: piggybacked on gossip when it fits in
// a packet, over TCP to every member otherwise.
func (s *Service) publish(delta []byte) {
	if delta == nil {
		return
	}
	if len(delta) <= s.cfg.MaxBroadcast {
		s.gossip.Queue(delta)
		return
	}
	select {
	case s.big <- delta:
	default:
		// Run is behind; push/pull repairs what is not sent.
		s.log.Warn().Int("bytes", len(delta)).Msg("large eventual-name delta not sent now; push/pull will carry it")
	}
}

// Run sends the large eventual deltas and forgets old eventual tombstones
// (Compact, asked every quarter of Config.CompactInterval) until ctx ends;
// it returns nil then.
func (s *Service) Run(ctx context.Context) error {
	compact := time.NewTicker(max(s.cfg.CompactInterval/4, time.Millisecond))
	defer compact.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d := <-s.big:
			s.gossip.SendToAll(d)
		case <-compact.C:
			s.Compact()
		}
	}
}

// Merge applies a peer's eventual delta or push/pull state (gossip's
// NotifyMsg and MergeRemoteState). A malformed one is counted and
// dropped. Called concurrently by gossip; it does not block.
func (s *Service) Merge(msg []byte) {
	res, err := s.eventual.Merge(s.now(), msg)
	if err != nil {
		if n := s.malformed.Add(1); n == 1 || n%100 == 0 {
			s.log.Warn().Err(err).Uint64("dropped", n).Msg("malformed eventual-name message dropped")
		}
		return
	}
	for _, out := range res.Outgoing {
		s.publish(out)
	}
	s.hub.publish(res.Events)
	for _, r := range res.Revocations {
		s.revocations.Add(1)
		s.log.Info().Str("name", r.Name).Str("pid", r.PID).Str("winner", r.Winner).Msg("eventual name revoked")
		s.sessions.Revoked(r.PID, r.Name, r.Winner)
	}
}

// GossipState is this node's full eventual state for a push/pull exchange
// (gossip's LocalState).
func (s *Service) GossipState() []byte { return s.eventual.State() }

// SessionEnded drops the local and eventual names of an ended session of
// this node (its consistent and strong ones go with the release-session
// entry).
func (s *Service) SessionEnded(pid string) {
	s.hub.publish(s.local.ReleaseSession(pid))
	evs, delta := s.eventual.ReleaseSession(s.now(), pid)
	s.publish(delta)
	s.hub.publish(evs)
}

// NodeGone drops the eventual names of a node gone from gossip (failed
// or left).
func (s *Service) NodeGone(node string) { s.hub.publish(s.eventual.DropNode(node)) }

// Compact forgets old eventual tombstones, at most once per
// Config.CompactInterval however often it is called.
func (s *Service) Compact() {
	now := s.now()
	last := s.lastCompact.Load()
	if now.UnixNano()-last < int64(s.cfg.CompactInterval) || !s.lastCompact.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	s.eventual.Compact(now)
}
