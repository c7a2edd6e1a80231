package internode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/yamux"
)

// outPeer is the outbound session to one peer address, or the dial that is
// creating it. Callers that find it wait on ready; one dial serves them all.
type outPeer struct {
	ctx    context.Context // cancelled by ClosePeer and Close: aborts the dial
	cancel context.CancelFunc
	ready  chan struct{}  // closed once sess or err is set
	sess   *yamux.Session // set under Mesh.mu before ready is closed
	err    error
}

// maxSessionAttempts bounds how often one call redials a session that died
// under it, so that a peer that accepts and at once drops us cannot make a
// caller loop.
const maxSessionAttempts = 2

// openStream opens a stream to addr for class c, dialing a session first if
// there is none. It does not write: callers send the class byte with their
// first write, so a request costs no extra frame. Every error wraps
// ErrNotSent.
func (m *Mesh) openStream(ctx context.Context, addr string, c Class) (*streamConn, error) {
	var last error
	for range maxSessionAttempts {
		if err := m.checkGate(addr); err != nil {
			return nil, err
		}
		sess, err := m.session(ctx, addr)
		if err != nil {
			return nil, err
		}
		st, err := sess.OpenStream()
		if err == nil {
			cc := &m.st.class[c]
			cc.streamsOut.Add(1)
			return &streamConn{Stream: st, cc: cc}, nil
		}
		// The session died between lookup and open; its watcher forgets
		// it, and session() will not hand it out again.
		last = err
		m.forget(addr, sess)
	}
	return nil, fmt.Errorf("%w: open stream to %s: %w", ErrNotSent, addr, last)
}

func (m *Mesh) checkGate(addr string) error {
	if m.gate == nil {
		return nil
	}
	if err := m.gate(addr); err != nil {
		return fmt.Errorf("%w: %w: %w", ErrNotSent, ErrGated, err)
	}
	return nil
}

// session returns the live outbound session to addr, dialing it if needed.
// Concurrent callers share one dial; each waits only as long as its ctx.
func (m *Mesh) session(ctx context.Context, addr string) (*yamux.Session, error) {
	for range maxSessionAttempts {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", ErrNotSent, ErrClosed)
		}
		p := m.out[addr]
		if p == nil {
			p = &outPeer{ready: make(chan struct{})}
			p.ctx, p.cancel = context.WithCancel(m.ctx)
			m.out[addr] = p
			m.wg.Add(1)
			go m.runPeer(addr, p)
		}
		m.mu.Unlock()

		select {
		case <-p.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: dial %s: %w", ErrNotSent, addr, ctx.Err())
		}
		if p.err != nil {
			return nil, fmt.Errorf("%w: dial %s: %w", ErrNotSent, addr, p.err)
		}
		if !p.sess.IsClosed() {
			return p.sess, nil
		}
		m.forget(addr, p.sess)
	}
	return nil, fmt.Errorf("%w: dial %s: %w", ErrNotSent, addr, yamux.ErrSessionShutdown)
}

// forget drops addr's entry if it still holds sess, so the next use redials.
func (m *Mesh) forget(addr string, sess *yamux.Session) {
	m.mu.Lock()
	if p := m.out[addr]; p != nil && p.sess == sess {
		delete(m.out, addr)
	}
	m.mu.Unlock()
}

// runPeer dials addr for p, then stays with the session until it dies, to
// forget it and keep the open-connections gauge right.
func (m *Mesh) runPeer(addr string, p *outPeer) {
	defer m.wg.Done()
	defer p.cancel()
	sess, err := m.dialSession(p.ctx, addr)

	m.mu.Lock()
	if err == nil && p.ctx.Err() != nil {
		// ClosePeer or Close ran while we dialed: they could not see this
		// session, so it is ours to close.
		_ = sess.Close()
		sess, err = nil, p.ctx.Err()
		if m.closed {
			err = ErrClosed
		}
	}
	p.sess, p.err = sess, err
	if err != nil {
		m.st.dialFailures.Add(1)
		if m.out[addr] == p {
			delete(m.out, addr)
		}
	} else {
		m.st.open.Add(1)
		m.st.dialed.Add(1)
	}
	m.mu.Unlock()
	close(p.ready)

	if err != nil {
		m.log.Debug().Str("peer", addr).Err(err).Msg("dial failed")
		return
	}
	m.log.Debug().Str("peer", addr).Msg("session dialed")
	<-sess.CloseChan()
	m.st.open.Add(-1)
	m.forget(addr, sess)
	m.log.Debug().Str("peer", addr).Msg("session closed")
}

// dialSession connects to addr, runs the TLS handshake (when configured:
// the listener must prove it is the node Resolve names for addr), writes
// the preamble and starts yamux as the client. It does not wait for an
// answer: the acceptor drops a bad preamble or a certificate it refuses by
// closing, which the first stream then sees.
func (m *Mesh) dialSession(ctx context.Context, addr string) (*yamux.Session, error) {
	d := net.Dialer{Timeout: m.cfg.DialTimeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	var conn net.Conn = &countingConn{Conn: raw, in: &m.st.bytesIn, out: &m.st.bytesOut}
	if m.tls != nil {
		tc, err := m.clientHandshake(ctx, conn, addr)
		if err != nil {
			_ = raw.Close()
			if reason, ok := rejectReasonOf(err); ok {
				m.reject(reason, raw.RemoteAddr(), addr, err)
			}
			return nil, err
		}
		conn = tc
	}
	_ = conn.SetWriteDeadline(time.Now().Add(m.cfg.DialTimeout))
	if _, err := conn.Write(m.preamble); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("write preamble: %w", err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	sess, err := yamux.Client(joinFrames(conn), m.ymx)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return sess, nil
}

// isClosedErr tells a stream error caused by its session or the mesh
// closing from bad input, so that teardown is not counted as malformed.
func isClosedErr(st *yamux.Stream, err error) bool {
	return st.Session().IsClosed() || errors.Is(err, yamux.ErrSessionShutdown) ||
		errors.Is(err, yamux.ErrConnectionReset) || errors.Is(err, net.ErrClosed)
}
