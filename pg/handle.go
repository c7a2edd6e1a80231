package pg

import (
	"context"
	"fmt"
	"sync"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Handle serves one class "groups" message from a peer (the mesh calls it,
// one goroutine per request; req is Handle's to keep). Malformed input is
// counted, logged (sampled) and answered with an error; it never changes
// the state. peer names the sender for logs only.
func (s *Service) Handle(ctx context.Context, peer string, req []byte) ([]byte, error) {
	reply, err := s.handle(req)
	if err != nil {
		s.malformed(peer, err)
	}
	return reply, err
}

func (s *Service) handle(req []byte) ([]byte, error) {
	typ, d, err := header(req)
	if err != nil {
		return nil, err
	}
	switch typ {
	case msgSync:
		sy, err := decodeSync(d)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		// Only a peer this node sees alive may add members: a late
		// message from a node already dropped must not bring its members
		// back. The peer's own link exchanges again once it is seen.
		if s.links[sy.Node] != nil {
			_, changes := s.state.ApplySync(sy)
			s.notifyLocked(changes)
		}
		return encodeSync(s.state.LocalSync()), nil
	case msgDelta:
		dl, err := decodeDelta(d)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.links[dl.Node] == nil {
			return []byte{replyOK}, nil
		}
		res, changes := s.state.ApplyDelta(dl)
		s.notifyLocked(changes)
		if res == DeltaGap {
			return []byte{replyNeedSync}, nil
		}
		return []byte{replyOK}, nil
	case msgDigest:
		dg, err := decodeDigest(d)
		if err != nil {
			return nil, err
		}
		return []byte{s.compare(dg)}, nil
	case msgBroadcast:
		bm, err := decodeBroadcast(d)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		pids := s.state.LocalMembers(bm.msg.Key)
		s.mu.Unlock()
		for _, pid := range pids {
			s.deliverTo(pid, bm.msg)
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: unknown message type %d", ErrMalformed, typ)
	}
}

// compare answers a peer's digest: whether this node needs the peer's full
// sync. If instead the peer is behind on this node, this node's link sends
// it one (when the peer is also behind, the exchange it asks for repairs
// both sides at once).
func (s *Service) compare(dg digest) byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.links[dg.node]
	if l == nil {
		return replyOK
	}
	mine, ok := s.state.Version(dg.node)
	if !ok || mine != dg.own {
		s.st.repairs.Add(1)
		s.log.Debug().Str("peer", dg.node).Msg("anti-entropy: behind on peer; asking for a full sync")
		return replyNeedSync
	}
	if !dg.known || dg.yours != s.state.LocalVersion() {
		s.st.repairs.Add(1)
		s.log.Debug().Str("peer", dg.node).Msg("anti-entropy: peer is behind; full sync")
		l.needSync = true
		l.kick()
	}
	return replyOK
}

// Broadcast sends payload to every member of k (localOnly: to this node's
// members only): delivered here directly, and with one internode send per
// other node that hosts members. from, when set, must be a session open on
// this node and is what members see as the sender; otherwise they see the
// node name. Delivery is best effort; the result says how far it went.
func (s *Service) Broadcast(ctx context.Context, k Key, from string, payload []byte, localOnly bool) (BroadcastResult, error) {
	k = scoped(k)
	if err := ValidateKey(k, false); err != nil {
		return BroadcastResult{}, err
	}
	if from == "" {
		from = s.node
	} else if _, err := s.session(from); err != nil {
		return BroadcastResult{}, err
	}
	if len(payload) > s.cfg.MaxPayload {
		return BroadcastResult{}, wire.Invalidf("payload", "is %d bytes, the limit is %d", len(payload), s.cfg.MaxPayload)
	}
	return s.broadcast(ctx, Message{Key: k, From: from, Payload: payload}, localOnly, true)
}

type target struct {
	addr    string
	members int
}

func (s *Service) broadcast(ctx context.Context, m Message, localOnly, deliverLocal bool) (BroadcastResult, error) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return BroadcastResult{}, ErrStopped
	}
	var local []string
	if deliverLocal {
		local = s.state.LocalMembers(m.Key)
	}
	var targets []target
	if !localOnly {
		for _, h := range s.state.RemoteHosts(m.Key) {
			if l := s.links[h.Node]; l != nil {
				targets = append(targets, target{addr: l.peer.Addr, members: h.Members})
			}
		}
	}
	s.mu.Unlock()

	var res BroadcastResult
	for _, pid := range local {
		if s.deliverTo(pid, m) {
			res.Members++
		}
	}
	if res.Members > 0 {
		res.Nodes++
	}
	if len(targets) == 0 {
		return res, nil
	}
	msg := encodeBroadcast(s.state.Local(), m)
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
			err := s.tr.Send(sctx, t.addr, msg)
			cancel()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.st.sendFailures.Add(1)
				res.Unreached++
				s.log.Debug().Err(err).Str("addr", t.addr).Str("group", m.Key.String()).Msg("broadcast send failed")
				return
			}
			s.st.sent.Add(1)
			res.Nodes++
			res.Members += t.members
		}()
	}
	wg.Wait()
	return res, nil
}

// deliverTo hands m to the local member pid; the heartbeat PID records
// the beat instead.
func (s *Service) deliverTo(pid string, m Message) bool {
	if pid == s.hbPID {
		node := wire.NodeOf(m.From)
		if node == "" || node == s.state.Local() {
			return false
		}
		now := s.opts.now()
		s.mu.Lock()
		s.lastBeat.node, s.lastBeat.at = node, now
		s.mu.Unlock()
		return true
	}
	if !s.sessions.Deliver(pid, m) {
		return false
	}
	s.st.delivered.Add(1)
	return true
}

// heartbeat broadcasts one beat to the heartbeat group's other members, in
// the background; a beat still in flight (a slow peer) skips this one.
func (s *Service) heartbeat(ctx context.Context) {
	if !s.beating.CompareAndSwap(false, true) {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.beating.Store(false)
		_, _ = s.broadcast(ctx, Message{Key: heartbeatKey, From: s.hbPID}, false, false)
	}()
}
