package pg

import (
	"context"
	"fmt"
	"time"
)

// link replicates this node's memberships to one peer, in order: one
// goroutine per peer sends a full sync exchange when needed, else the
// queued deltas as one batch, else a digest when anti-entropy asks. Every
// message is a request, so the next one leaves only after the peer has
// handled the last: deltas never overtake each other.
type link struct {
	peer   Peer
	cancel context.CancelFunc
	wake   chan struct{} // capacity 1: "there is work"

	// Guarded by Service.mu.
	pending  []Delta
	needSync bool
	digest   bool
}

func (l *link) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// work is one request a link sends.
type work struct {
	kind  byte // msgSync, msgDelta, msgDigest
	sync  Sync
	delta Delta
	dg    digest
}

// takeWorkLocked picks the link's next request, or false if there is none.
func (s *Service) takeWorkLocked(l *link) (work, bool) {
	switch {
	case l.needSync:
		// The sync covers every queued delta: they were all applied to
		// the local state before this snapshot.
		l.needSync, l.pending, l.digest = false, nil, false
		return work{kind: msgSync, sync: s.state.LocalSync()}, true
	case len(l.pending) > 0:
		d := l.pending[0]
		d.Ops = append([]Op(nil), d.Ops...)
		for _, next := range l.pending[1:] {
			d.Seq = next.Seq
			d.Ops = append(d.Ops, next.Ops...)
		}
		l.pending = nil
		return work{kind: msgDelta, delta: d}, true
	case l.digest:
		l.digest = false
		yours, known := s.state.Version(l.peer.Name)
		return work{kind: msgDigest, dg: digest{node: s.state.Local(), own: s.state.LocalVersion(), known: known, yours: yours}}, true
	}
	return work{}, false
}

func (s *Service) runLink(ctx context.Context, l *link) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
		for ctx.Err() == nil {
			s.mu.Lock()
			w, ok := s.takeWorkLocked(l)
			s.mu.Unlock()
			if !ok {
				break
			}
			if err := s.send(ctx, l, w); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Debug().Err(err).Str("peer", l.peer.Name).Msg("group link request failed; full sync on retry")
				s.mu.Lock()
				l.needSync = true
				s.mu.Unlock()
				t := time.NewTimer(s.cfg.RetryInterval)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
	}
}

// send performs one request and acts on the reply.
func (s *Service) send(ctx context.Context, l *link, w work) error {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	switch w.kind {
	case msgSync:
		s.st.syncs.Add(1)
		reply, err := s.tr.Request(rctx, l.peer.Addr, encodeSync(w.sync))
		if err != nil {
			return err
		}
		typ, d, err := header(reply)
		if err == nil && typ != msgSync {
			err = ErrMalformed
		}
		var theirs Sync
		if err == nil {
			theirs, err = decodeSync(d)
		}
		if err == nil && theirs.Node != l.peer.Name {
			err = fmt.Errorf("%w: node: sync reply from %q, want %q", ErrMalformed, theirs.Node, l.peer.Name)
		}
		if err != nil {
			s.malformed(l.peer.Name, err)
			return err
		}
		s.mu.Lock()
		if s.links[l.peer.Name] == l {
			_, changes := s.state.ApplySync(theirs)
			s.notifyLocked(changes)
		}
		s.mu.Unlock()
		return nil
	case msgDelta:
		if s.opts.dropDelta != nil && s.opts.dropDelta(l.peer.Name) {
			s.st.dropped.Add(1)
			return nil
		}
		reply, err := s.tr.Request(rctx, l.peer.Addr, encodeDelta(w.delta))
		if err != nil {
			return err
		}
		b, err := decodeReplyByte(reply)
		if err != nil {
			s.malformed(l.peer.Name, err)
			return err
		}
		if b == replyNeedSync {
			s.mu.Lock()
			l.needSync = true
			s.mu.Unlock()
		}
		return nil
	default: // msgDigest
		reply, err := s.tr.Request(rctx, l.peer.Addr, encodeDigest(w.dg))
		if err != nil {
			return err
		}
		b, err := decodeReplyByte(reply)
		if err != nil {
			s.malformed(l.peer.Name, err)
			return err
		}
		if b&replyNeedSync != 0 {
			s.st.repairs.Add(1)
			s.log.Debug().Str("peer", l.peer.Name).Msg("anti-entropy: peer is behind; full sync")
			s.mu.Lock()
			l.needSync = true
			s.mu.Unlock()
		}
		return nil
	}
}

// antiEntropy asks every link to compare versions with its peer.
func (s *Service) antiEntropy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.links {
		l.digest = true
		l.kick()
	}
}

func (s *Service) malformed(peer string, err error) {
	n := s.st.malformed.Add(1)
	s.warn.Warn().Err(err).Str("peer", peer).Uint64("total", n).Msg("malformed group message dropped")
}
