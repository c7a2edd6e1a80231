package internode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/yamux"
)

// Preamble: magic, version, then the dialer's advertised address so that
// the acceptor knows which node an inbound session belongs to.
const (
	preambleMagic   = "CNCL"
	protocolVersion = 1
	preambleFixed   = len(preambleMagic) + 2 // magic, version, address length
)

func makePreamble(addr string) []byte {
	b := make([]byte, 0, preambleFixed+len(addr))
	b = append(b, preambleMagic...)
	b = append(b, protocolVersion, byte(len(addr)))
	return append(b, addr...)
}

// readPreamble reads and checks a connection's preamble within DialTimeout
// and returns the dialer's advertised address. It reads exactly the
// preamble, nothing of the yamux stream after it.
func readPreamble(conn net.Conn, timeout time.Duration) (string, error) {
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	var fixed [preambleFixed]byte
	if _, err := io.ReadFull(conn, fixed[:]); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadPreamble, err)
	}
	if !bytes.Equal(fixed[:len(preambleMagic)], []byte(preambleMagic)) {
		return "", fmt.Errorf("%w: magic %q", ErrBadPreamble, fixed[:len(preambleMagic)])
	}
	if v := fixed[len(preambleMagic)]; v != protocolVersion {
		return "", fmt.Errorf("%w: version %d, want %d", ErrBadPreamble, v, protocolVersion)
	}
	addr := make([]byte, fixed[len(preambleMagic)+1])
	if _, err := io.ReadFull(conn, addr); err != nil {
		return "", fmt.Errorf("%w: address: %w", ErrBadPreamble, err)
	}
	host, port, err := net.SplitHostPort(string(addr))
	if err != nil || host == "" {
		return "", fmt.Errorf("%w: address %q", ErrBadPreamble, addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("%w: address %q", ErrBadPreamble, addr)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return string(addr), nil
}

// acceptLoop accepts TCP connections until the listener closes. Each gets
// its own goroutine at once, so a slow or silent client never holds up the
// next one.
func (m *Mesh) acceptLoop() {
	defer m.wg.Done()
	var backoff time.Duration
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			if m.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: back off instead of
			// spinning, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if m.lim.accept.allow() {
				m.log.Warn().Err(err).Dur("retry_in", backoff).Msg("accept failed")
			}
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-m.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		m.wg.Add(1)
		go m.serveConn(conn)
	}
}

// serveConn checks a new connection's preamble, then runs its yamux session
// (this goroutine becomes the session's stream-accept loop).
func (m *Mesh) serveConn(raw net.Conn) {
	defer m.wg.Done()
	// Close aborts a connection still in its preamble.
	stop := context.AfterFunc(m.ctx, func() { _ = raw.Close() })
	conn := &countingConn{Conn: raw, in: &m.st.bytesIn, out: &m.st.bytesOut}
	peer, err := readPreamble(conn, m.cfg.DialTimeout)
	if !stop() {
		return // the mesh is closing; raw is closed
	}
	if err != nil {
		n := m.st.badPreambles.Add(1)
		if m.lim.preamble.allow() {
			m.log.Warn().Str("remote", raw.RemoteAddr().String()).Err(err).
				Uint64("total", n).Msg("connection dropped")
		}
		_ = raw.Close()
		return
	}
	if err := m.checkGate(peer); err != nil {
		m.log.Debug().Str("peer", peer).Err(err).Msg("inbound session gated")
		_ = raw.Close()
		return
	}
	sess, err := yamux.Server(conn, m.ymx)
	if err != nil { // only for a bad yamux config, which yamuxConfig rules out
		m.log.Error().Err(err).Msg("yamux server")
		_ = raw.Close()
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = sess.Close()
		return
	}
	m.in[sess] = peer
	m.st.open.Add(1)
	m.st.accepted.Add(1)
	m.mu.Unlock()
	m.log.Debug().Str("peer", peer).Str("remote", raw.RemoteAddr().String()).Msg("session accepted")

	m.serveSession(sess, peer)

	m.mu.Lock()
	delete(m.in, sess)
	m.mu.Unlock()
	m.st.open.Add(-1)
	m.log.Debug().Str("peer", peer).Msg("session closed")
}

// serveSession accepts the peer's streams until the session ends, each on
// its own goroutine. Their handlers' ctx ends with the session: a peer that
// is gone cannot receive a reply.
func (m *Mesh) serveSession(sess *yamux.Session, peer string) {
	ctx, cancel := context.WithCancel(context.WithValue(m.ctx, peerKey{}, peer))
	defer cancel()
	defer sess.Close()
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			return
		}
		if err := m.checkGate(peer); err != nil {
			m.log.Debug().Str("peer", peer).Err(err).Msg("inbound session gated")
			_ = st.Close()
			return
		}
		m.wg.Add(1)
		go m.serveStream(ctx, st)
	}
}

// serveStream reads an accepted stream's class byte and dispatches it: to a
// StreamLayer (handing the stream over), to a Handler, or, for an unknown
// class, to a refusal.
func (m *Mesh) serveStream(ctx context.Context, st *yamux.Stream) {
	defer m.wg.Done()
	_ = st.SetReadDeadline(time.Now().Add(m.cfg.StreamIdleTimeout))
	var b [1]byte
	if _, err := io.ReadFull(st, b[:]); err != nil {
		if !isClosedErr(st, err) {
			m.malformed(ctx, fmt.Errorf("%w: no class byte: %w", ErrMalformed, err))
		}
		_ = st.Close()
		return
	}
	c, oneway := Class(b[0]&^oneWay), b[0]&oneWay != 0
	cc := &m.st.class[c]
	cc.streamsIn.Add(1)
	cc.in.Add(1)
	sc := &streamConn{Stream: st, cc: cc}

	h, layer := m.handler(c)
	switch {
	case layer != nil && !oneway:
		_ = st.SetReadDeadline(time.Time{})
		layer.handoff(sc)
	case h != nil:
		m.serveRequest(ctx, sc, h, oneway)
	default:
		n := m.st.unknownClass.Add(1)
		if m.lim.class.allow() {
			m.log.Warn().Str("peer", Peer(ctx)).Int("class", int(c)).Bool("one_way", oneway).
				Uint64("total", n).Msg("stream of unknown class dropped")
		}
		if !oneway {
			m.writeReply(sc, statusRefused, []byte{refuseUnknownClass})
		}
		_ = sc.Close()
	}
}

// malformed counts and logs (rate-limited) a stream dropped for bad input.
func (m *Mesh) malformed(ctx context.Context, err error) {
	n := m.st.malformed.Add(1)
	if m.lim.frame.allow() {
		m.log.Warn().Str("peer", Peer(ctx)).Err(err).Uint64("total", n).Msg("stream dropped")
	}
}
