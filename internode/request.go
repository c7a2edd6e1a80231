package internode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// errOverLimit is serveRequest's internal signal that the frame found no
// room in the peer's budget.
var errOverLimit = errors.New("internode: over per-peer buffer")

// aLongTimeAgo is a deadline in the past: setting it unblocks a pending
// Read or Write at once. Request uses it to honour ctx cancellation.
var aLongTimeAgo = time.Unix(1, 0)

// Request sends req to the handler of class c on the peer at addr and waits
// for its reply, as long as ctx allows (cancellation closes the stream).
// A handler error comes back as *RemoteError. Errors wrapping ErrNotSent
// mean the handler certainly did not run; ErrUnknownClass and
// ErrFrameTooLarge say the peer refused. The reply is the caller's.
func (m *Mesh) Request(ctx context.Context, addr string, c Class, req []byte) ([]byte, error) {
	reply, err := m.request(ctx, addr, c, req)
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, fmt.Errorf("internode: request %v to %s: %w", c, addr, err)
	}
	return reply, nil
}

func (m *Mesh) request(ctx context.Context, addr string, c Class, req []byte) ([]byte, error) {
	if err := m.check(ctx, c, req); err != nil {
		return nil, err
	}
	ps := m.pool.get(addr, c)
	if ps == nil {
		sc, err := m.openStream(ctx, addr, c)
		if err != nil {
			return nil, err
		}
		ps = &pooledStream{sc: sc, br: bufio.NewReaderSize(sc, 64)}
	}
	reply, reuse, err := m.exchange(ctx, ps, c, req)
	if reuse {
		m.pool.put(addr, c, ps)
	} else {
		_ = ps.sc.Close()
	}
	return reply, err
}

// exchange sends one request on ps and reads its reply. reuse says the
// stream may carry the next request: the reply came in full, as an answer
// of the handler, and ctx never touched the stream's deadline.
func (m *Mesh) exchange(ctx context.Context, ps *pooledStream, c Class, req []byte) (reply []byte, reuse bool, err error) {
	stop := context.AfterFunc(ctx, func() { _ = ps.sc.SetDeadline(aLongTimeAgo) })
	defer func() {
		if !stop() {
			reuse = false
		}
	}()
	if err := ps.sc.writeFrame(byte(c)|keepOpen, req); err != nil {
		return nil, false, ctxErr(ctx, err)
	}
	status, err := ps.br.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = ErrNoReply
		}
		return nil, false, ctxErr(ctx, err)
	}
	body, err := readFrame(ps.br, m.cfg.MaxFrameSize)
	if err != nil {
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, ErrFrameTooLarge):
			m.st.oversize.Add(1)
		case errors.Is(err, ErrMalformed):
			m.st.malformed.Add(1)
		}
		return nil, false, ctxErr(ctx, fmt.Errorf("reply: %w", err))
	}
	switch status {
	case statusOK:
		return body, true, nil
	case statusError:
		return nil, true, &RemoteError{Msg: string(body)}
	case statusRefused:
		if err := refusal(body); err != nil {
			return nil, false, err
		}
	}
	m.st.malformed.Add(1)
	return nil, false, fmt.Errorf("%w: reply status %d", ErrMalformed, status)
}

// refusal maps a statusRefused payload to its error, or nil if unknown.
func refusal(body []byte) error {
	if len(body) != 1 {
		return nil
	}
	switch body[0] {
	case refuseUnknownClass:
		return fmt.Errorf("%w: %w: peer has no handler for it", ErrNotSent, ErrUnknownClass)
	case refuseTooLarge:
		return fmt.Errorf("%w: %w: peer refused the request", ErrNotSent, ErrFrameTooLarge)
	case refuseReplyTooLarge:
		return fmt.Errorf("%w: the handler's reply exceeds the peer's limit", ErrFrameTooLarge)
	case refuseOverLimit:
		return fmt.Errorf("%w: %w: no buffer for the request before its deadline", ErrNotSent, ErrOverLimit)
	}
	return nil
}

// Send delivers msg to the handler of class c on the peer at addr without
// waiting for it to run: it returns once msg is written. The handler's
// reply and error are dropped at the peer. Delivery is best effort: a nil
// error means written to the session, not handled.
func (m *Mesh) Send(ctx context.Context, addr string, c Class, msg []byte) error {
	if err := m.send(ctx, addr, c, msg); err != nil {
		return fmt.Errorf("internode: send %v to %s: %w", c, addr, err)
	}
	return nil
}

func (m *Mesh) send(ctx context.Context, addr string, c Class, msg []byte) error {
	if err := m.check(ctx, c, msg); err != nil {
		return err
	}
	sc, err := m.openStream(ctx, addr, c)
	if err != nil {
		return err
	}
	defer sc.Close()
	stop := context.AfterFunc(ctx, func() { _ = sc.SetDeadline(aLongTimeAgo) })
	defer stop()
	return ctxErr(ctx, sc.writeFrame(byte(c)|oneWay, msg))
}

// check checks what can be checked locally before anything is sent.
func (m *Mesh) check(ctx context.Context, c Class, p []byte) error {
	if !c.valid() {
		return fmt.Errorf("%w: %w: %d is not a class", ErrNotSent, ErrUnknownClass, byte(c))
	}
	if len(p) > m.cfg.MaxFrameSize {
		return fmt.Errorf("%w: %w: %d bytes, limit %d", ErrNotSent, ErrFrameTooLarge, len(p), m.cfg.MaxFrameSize)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	return nil
}

// writeFrame writes the class byte and a frame in one write: one yamux
// data frame for small messages, right behind the stream's SYN.
func (s *streamConn) writeFrame(head byte, p []byte) error {
	buf := make([]byte, 0, 1+maxVarintLen+len(p))
	buf = append(buf, head)
	buf = appendFrame(buf, p)
	_, err := s.Write(buf)
	return err
}

// ctxErr prefers ctx's error: once ctx is done, the stream error is just
// the deadline we set to unblock it.
func ctxErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// serveRequest reads one request frame from br (sc's reader), runs h and,
// unless one-way, writes the reply. The frame's bytes are reserved from
// the peer's budget p before its body is read and returned when h is done;
// the frame must arrive by deadline. It reports whether the stream can
// carry another request: the request was read in full and answered (by
// the handler's reply or error). The caller closes sc.
func (m *Mesh) serveRequest(ctx context.Context, sc *streamConn, br *bufio.Reader, h Handler, oneway bool, p *peerLimits, deadline time.Time) bool {
	var reserved int64
	defer func() { m.release(p, reserved) }()
	reserve := func(n int) error {
		if !m.reserve(ctx, p, int64(n), deadline) {
			return errOverLimit
		}
		reserved = int64(n)
		return nil
	}
	req, err := readFrameReserving(br, m.cfg.MaxFrameSize, reserve)
	if err != nil {
		switch {
		case errors.Is(err, ErrFrameTooLarge):
			n := m.st.oversize.Add(1)
			if m.lim.frame.allow() {
				m.log.Warn().Str("peer", Peer(ctx)).Err(err).Uint64("total", n).Msg("oversize frame refused")
			}
			if !oneway {
				m.writeReply(sc, statusRefused, []byte{refuseTooLarge})
			}
		case err == errOverLimit:
			if ctx.Err() != nil {
				return false
			}
			m.reject(RejectLimit, nil, Peer(ctx), fmt.Errorf("no frame buffer within %v: %d bytes held by the peer's streams",
				m.cfg.StreamIdleTimeout, m.cfg.PeerBufferBytes))
			if !oneway {
				m.writeReply(sc, statusRefused, []byte{refuseOverLimit})
			}
		case isClosedErr(sc.Stream, err):
		default:
			m.malformed(ctx, err)
		}
		return false
	}
	_ = sc.SetReadDeadline(time.Time{})
	if oneway {
		// Close first: the sender is not waiting, and its stream is freed
		// while the handler runs.
		_ = sc.Close()
	}
	reply, err := h(ctx, req)
	if err != nil {
		n := m.st.handlerErrors.Add(1)
		m.log.Debug().Str("peer", Peer(ctx)).Err(err).Uint64("total", n).Msg("handler failed")
		if oneway {
			return false
		}
		msg := err.Error()
		if len(msg) > m.cfg.MaxFrameSize {
			msg = msg[:m.cfg.MaxFrameSize]
		}
		return m.writeReply(sc, statusError, []byte(msg))
	}
	if oneway {
		return false
	}
	if len(reply) > m.cfg.MaxFrameSize {
		n := m.st.oversize.Add(1)
		if m.lim.frame.allow() {
			m.log.Warn().Str("peer", Peer(ctx)).Int("bytes", len(reply)).
				Int("limit", m.cfg.MaxFrameSize).Uint64("total", n).Msg("oversize reply refused")
		}
		m.writeReply(sc, statusRefused, []byte{refuseReplyTooLarge})
		return false
	}
	return m.writeReply(sc, statusOK, reply)
}

// writeReply writes a reply frame, giving up after StreamIdleTimeout: a
// peer that stopped reading must not pin this goroutine. It reports whether
// the frame was written.
func (m *Mesh) writeReply(sc *streamConn, status byte, body []byte) bool {
	_ = sc.SetWriteDeadline(time.Now().Add(m.cfg.StreamIdleTimeout))
	err := sc.writeFrame(status, body)
	if err != nil && !isClosedErr(sc.Stream, err) {
		m.log.Debug().Err(err).Msg("reply not written")
	}
	_ = sc.SetWriteDeadline(time.Time{})
	return err == nil
}
