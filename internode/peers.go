package internode

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// maxSessionsPerPeer bounds the inbound sessions one peer holds at once. An
// honest node holds one (we dial it back on our own session); a second one
// appears while it redials over a session that died on its side but not yet
// on ours. A third closes the oldest, so the live one always wins and a
// peer cannot multiply its per-session yamux buffers.
const maxSessionsPerPeer = 2

// peerLimits is what one peer's inbound sessions share: a slot per stream
// being served and a budget of bytes buffered in request frames. The peer
// is the node its certificate names under TLS, else the address its
// preamble claims.
type peerLimits struct {
	key      string
	sessions []*yamux.Session // under Mesh.mu, oldest first
	slots    chan struct{}    // one per stream being served

	mu       sync.Mutex
	buffered int64         // bytes reserved for frames being read or served
	freed    chan struct{} // closed and replaced whenever bytes are released
}

// addSession registers sess for the peer key and returns the peer's limits
// and the session it displaces (if the peer is at maxSessionsPerPeer).
// Called under m.mu.
func (m *Mesh) addSessionLocked(key string, sess *yamux.Session) (*peerLimits, *yamux.Session) {
	p := m.peers[key]
	if p == nil {
		p = &peerLimits{
			key:   key,
			slots: make(chan struct{}, m.cfg.MaxStreamsPerPeer),
			freed: make(chan struct{}),
		}
		m.peers[key] = p
	}
	var evict *yamux.Session
	if len(p.sessions) >= maxSessionsPerPeer {
		evict = p.sessions[0]
		p.sessions = p.sessions[1:]
	}
	p.sessions = append(p.sessions, sess)
	return p, evict
}

// dropSession forgets sess; the peer's limits go once it has no session
// left (streams still running keep their *peerLimits and release into it).
func (m *Mesh) dropSession(p *peerLimits, sess *yamux.Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range p.sessions {
		if s == sess {
			p.sessions = append(p.sessions[:i], p.sessions[i+1:]...)
			break
		}
	}
	if len(p.sessions) == 0 && m.peers[p.key] == p {
		delete(m.peers, p.key)
	}
}

// takeSlot waits for a free stream slot, or for sess to close. It is called
// before accepting a stream, so a peer at its cap waits in yamux's accept
// backlog (and its opens block once that is full) instead of costing us a
// goroutine and a buffer per stream.
func (p *peerLimits) takeSlot(sess *yamux.Session) bool {
	select {
	case p.slots <- struct{}{}:
		return true
	case <-sess.CloseChan():
		return false
	}
}

func (p *peerLimits) freeSlot() { <-p.slots }

// reserve takes n bytes of the peer's frame budget, waiting until they are
// free, the deadline passes or ctx ends. The budget is checked before the
// body is read, so a frame that announces n bytes costs nothing until it
// holds them, and the peer's frames together never hold more than limit.
func (m *Mesh) reserve(ctx context.Context, p *peerLimits, n int64, deadline time.Time) bool {
	if n == 0 {
		return true
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	limit := int64(m.cfg.PeerBufferBytes)
	for {
		p.mu.Lock()
		if p.buffered+n <= limit {
			p.buffered += n
			now := p.buffered
			p.mu.Unlock()
			m.st.buffered.Add(n)
			for {
				peak := m.st.peakPeerBuffered.Load()
				if now <= peak || m.st.peakPeerBuffered.CompareAndSwap(peak, now) {
					break
				}
			}
			return true
		}
		ch := p.freed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// release returns n bytes to the peer's budget and wakes its waiters.
func (m *Mesh) release(p *peerLimits, n int64) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	p.buffered -= n
	close(p.freed)
	p.freed = make(chan struct{})
	p.mu.Unlock()
	m.st.buffered.Add(-n)
}
