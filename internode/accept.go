package internode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/yamux"
)

// Preamble: magic, version, the dialer's advertised address so that the
// acceptor knows which node an inbound session belongs to, and the dialer's
// node name (empty without TLS; under TLS it must equal the node its
// certificate names). Version 2 added the node name; version 1 peers are
// refused (there is no deployed base to stay compatible with).
const (
	preambleMagic   = "CNCL"
	protocolVersion = 2
	preambleFixed   = len(preambleMagic) + 2 // magic, version, address length
)

// preamble is what a dialer says about itself before yamux starts.
type preamble struct {
	addr string // advertised host:port
	node string // node name; "" without TLS
}

func makePreamble(addr, node string) []byte {
	b := make([]byte, 0, preambleFixed+len(addr)+1+len(node))
	b = append(b, preambleMagic...)
	b = append(b, protocolVersion, byte(len(addr)))
	b = append(b, addr...)
	b = append(b, byte(len(node)))
	return append(b, node...)
}

// readPreamble reads and checks a connection's preamble. It reads exactly
// the preamble, nothing of the yamux stream after it; the caller bounds the
// time it may take.
func readPreamble(r io.Reader) (preamble, error) {
	var fixed [preambleFixed]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return preamble{}, fmt.Errorf("%w: %w", ErrBadPreamble, err)
	}
	if !bytes.Equal(fixed[:len(preambleMagic)], []byte(preambleMagic)) {
		return preamble{}, fmt.Errorf("%w: magic %q", ErrBadPreamble, fixed[:len(preambleMagic)])
	}
	if v := fixed[len(preambleMagic)]; v != protocolVersion {
		return preamble{}, fmt.Errorf("%w: version %d, want %d", ErrBadPreamble, v, protocolVersion)
	}
	addr := make([]byte, fixed[len(preambleMagic)+1])
	if _, err := io.ReadFull(r, addr); err != nil {
		return preamble{}, fmt.Errorf("%w: address: %w", ErrBadPreamble, err)
	}
	host, port, err := net.SplitHostPort(string(addr))
	if err != nil || host == "" {
		return preamble{}, fmt.Errorf("%w: address %q", ErrBadPreamble, addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return preamble{}, fmt.Errorf("%w: address %q", ErrBadPreamble, addr)
	}
	var nl [1]byte
	if _, err := io.ReadFull(r, nl[:]); err != nil {
		return preamble{}, fmt.Errorf("%w: node: %w", ErrBadPreamble, err)
	}
	node := make([]byte, nl[0])
	if _, err := io.ReadFull(r, node); err != nil {
		return preamble{}, fmt.Errorf("%w: node: %w", ErrBadPreamble, err)
	}
	return preamble{addr: string(addr), node: string(node)}, nil
}

// maxPendingConns bounds the connections still in their TLS handshake or
// preamble (each bounded by DialTimeout): beyond it a new connection is
// closed at once and counted (RejectLimit), so a flood of silent
// connections costs neither unbounded goroutines nor handshake work.
const maxPendingConns = 256

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
		if m.pending.Add(1) > maxPendingConns {
			m.pending.Add(-1)
			m.reject(RejectLimit, conn.RemoteAddr(), "", errors.New("too many connections in handshake or preamble"))
			_ = conn.Close()
			continue
		}
		m.wg.Add(1)
		go m.serveConn(conn)
	}
}

// serveConn authenticates a new connection (TLS, when configured), checks
// its preamble, then runs its yamux session (this goroutine becomes the
// session's stream-accept loop). Nothing of the peer's is read in clear
// before the handshake, and nothing is served before the preamble.
func (m *Mesh) serveConn(raw net.Conn) {
	defer m.wg.Done()
	// Close aborts a connection still in its handshake or preamble.
	stop := context.AfterFunc(m.ctx, func() { _ = raw.Close() })
	pre, verified, conn, err := m.admit(raw)
	m.pending.Add(-1)
	if !stop() {
		return // the mesh is closing; raw is closed
	}
	if err != nil {
		reason, _ := rejectReasonOf(err)
		if errors.Is(err, ErrBadPreamble) {
			m.st.badPreambles.Add(1)
		}
		m.reject(reason, raw.RemoteAddr(), verified, err)
		_ = raw.Close()
		return
	}
	if err := m.checkGate(pre.addr); err != nil {
		m.log.Debug().Str("peer", pre.addr).Err(err).Msg("inbound session gated")
		_ = raw.Close()
		return
	}
	sess, err := yamux.Server(joinFrames(conn), m.ymx)
	if err != nil { // only for a bad yamux config, which yamuxConfig rules out
		m.log.Error().Err(err).Msg("yamux server")
		_ = raw.Close()
		return
	}
	key := pre.addr
	if m.tls != nil {
		key = verified
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = sess.Close()
		return
	}
	m.in[sess] = pre.addr
	p, evict := m.addSessionLocked(key, sess)
	m.st.open.Add(1)
	m.st.accepted.Add(1)
	m.mu.Unlock()
	if evict != nil {
		m.reject(RejectLimit, raw.RemoteAddr(), key, errors.New("a newer session of the peer displaced this one"))
		_ = evict.Close()
	}
	m.log.Debug().Str("peer", pre.addr).Str("peer_node", verified).Str("remote", raw.RemoteAddr().String()).Msg("session accepted")

	m.serveSession(sess, pre.addr, verified, p)

	m.mu.Lock()
	delete(m.in, sess)
	m.mu.Unlock()
	m.dropSession(p, sess)
	m.st.open.Add(-1)
	m.log.Debug().Str("peer", pre.addr).Msg("session closed")
}

// admit runs the TLS handshake (when configured) and reads the preamble,
// both within DialTimeout. It returns the preamble, the node the peer's
// certificate names ("" without TLS) and the conn to run yamux on. Errors
// carry their RejectReason.
func (m *Mesh) admit(raw net.Conn) (preamble, string, net.Conn, error) {
	var conn net.Conn = &countingConn{Conn: raw, in: &m.st.bytesIn, out: &m.st.bytesOut}
	_ = raw.SetDeadline(time.Now().Add(m.cfg.DialTimeout))
	var verified string
	if m.tls != nil {
		tc, node, err := m.serverHandshake(conn)
		if err != nil {
			return preamble{}, "", nil, err
		}
		conn, verified = tc, node
	}
	pre, err := readPreamble(conn)
	if err != nil {
		return pre, verified, nil, &rejectError{reason: RejectProtocol, err: err}
	}
	if m.tls != nil && pre.node != verified {
		return pre, verified, nil, &rejectError{reason: RejectWrongNode,
			err: fmt.Errorf("%w: claims node %q, its certificate names %q", ErrIdentityMismatch, pre.node, verified)}
	}
	_ = raw.SetDeadline(time.Time{})
	return pre, verified, conn, nil
}

// serveSession accepts the peer's streams until the session ends, each on
// its own goroutine, at most MaxStreamsPerPeer at once across the peer's
// sessions. Their handlers' ctx ends with the session: a peer that is gone
// cannot receive a reply.
func (m *Mesh) serveSession(sess *yamux.Session, peer, node string, p *peerLimits) {
	ctx := context.WithValue(m.ctx, peerKey{}, peer)
	if node != "" {
		ctx = context.WithValue(ctx, peerNodeKey{}, node)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer sess.Close()
	for {
		if !p.takeSlot(sess) {
			return
		}
		st, err := sess.AcceptStream()
		if err != nil {
			p.freeSlot()
			return
		}
		if err := m.checkGate(peer); err != nil {
			p.freeSlot()
			m.log.Debug().Str("peer", peer).Err(err).Msg("inbound session gated")
			_ = st.Close()
			return
		}
		m.wg.Add(1)
		go m.serveStream(ctx, st, p)
	}
}

// serveStream reads an accepted stream's class byte and dispatches it: to a
// StreamLayer (handing the stream over), to a Handler, or, for an unknown
// class, to a refusal.
//
// The stream holds one of the peer's slots until it is served (a stream
// handed to a StreamLayer keeps it until its owner closes it).
func (m *Mesh) serveStream(ctx context.Context, st *yamux.Stream, p *peerLimits) {
	defer m.wg.Done()
	deadline := time.Now().Add(m.cfg.StreamIdleTimeout)
	_ = st.SetReadDeadline(deadline)
	var b [1]byte
	if _, err := io.ReadFull(st, b[:]); err != nil {
		if !isClosedErr(st, err) {
			m.malformed(ctx, fmt.Errorf("%w: no class byte: %w", ErrMalformed, err))
		}
		_ = st.Close()
		p.freeSlot()
		return
	}
	c, oneway, keep := splitHead(b[0])
	cc := &m.st.class[c]
	cc.streamsIn.Add(1)
	cc.in.Add(1)
	sc := &streamConn{Stream: st, cc: cc}

	h, layer := m.handler(c)
	switch {
	case layer != nil && !oneway:
		_ = st.SetReadDeadline(time.Time{})
		sc.release = p.freeSlot // the slot goes with the stream
		layer.handoff(sc)
	case h != nil:
		m.serveRequests(ctx, sc, b[0], h, oneway, keep && !oneway, p, deadline)
		_ = sc.Close()
		p.freeSlot()
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
		p.freeSlot()
	}
}

// serveRequests serves the request of a stream whose head byte was head,
// and, if keep, the further ones that follow it on the stream, each with
// the same head byte, until the sender closes the stream, it stays idle
// for StreamIdleTimeout, or a request is not answered in full.
func (m *Mesh) serveRequests(ctx context.Context, sc *streamConn, head byte, h Handler, oneway, keep bool, p *peerLimits, deadline time.Time) {
	br := bufio.NewReaderSize(sc, 64)
	for m.serveRequest(ctx, sc, br, h, oneway, p, deadline) && keep {
		deadline = time.Now().Add(m.cfg.StreamIdleTimeout)
		_ = sc.SetReadDeadline(deadline)
		next, err := br.ReadByte()
		if err != nil {
			return // closed by the sender, idle, or the session ended: all normal
		}
		if next != head {
			m.malformed(ctx, fmt.Errorf("%w: head byte %#x on a stream that began with %#x", ErrMalformed, next, head))
			return
		}
	}
}

// malformed counts and logs (rate-limited) a stream dropped for bad input.
func (m *Mesh) malformed(ctx context.Context, err error) {
	n := m.st.malformed.Add(1)
	if m.lim.frame.allow() {
		m.log.Warn().Str("peer", Peer(ctx)).Err(err).Uint64("total", n).Msg("stream dropped")
	}
}
