package internode

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// StreamLayer carries one class's streams as plain net.Conns. It implements
// raft.StreamLayer, so raft.NewNetworkTransport runs over the mesh (DESIGN
// §4, as Consul's RaftLayer does over its RPC port). Accept returns the
// streams peers open with Dial; the class byte is already consumed.
type StreamLayer struct {
	m     *Mesh
	class Class
	conns chan net.Conn // unbuffered: a stream waits in handoff, not here
	done  chan struct{}
	once  sync.Once
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// StreamLayer returns the stream layer for class c, creating it on first
// call (later calls return the same one). Call it before traffic of that
// class arrives. c must be valid and have no Handler; otherwise it panics,
// as that is a programming error.
func (m *Mesh) StreamLayer(c Class) *StreamLayer {
	if !c.valid() {
		panic(fmt.Sprintf("internode: StreamLayer(%v): invalid class", c))
	}
	m.regMu.Lock()
	defer m.regMu.Unlock()
	if m.handlers[c] != nil {
		panic(fmt.Sprintf("internode: StreamLayer(%v): class has a handler", c))
	}
	if l := m.layers[c]; l != nil {
		return l
	}
	l := &StreamLayer{m: m, class: c, conns: make(chan net.Conn), done: make(chan struct{})}
	if m.ctx.Err() != nil {
		l.once.Do(func() { close(l.done) })
	}
	m.layers[c] = l
	return l
}

// Accept waits for the next stream a peer opened on this class. It returns
// ErrClosed once the layer or the mesh is closed. Called by Raft's listen
// loop; the caller owns the returned conn.
func (l *StreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("internode: accept %v: %w", l.class, ErrClosed)
	}
}

// Close stops Accept and refuses further inbound streams of this class.
// Streams already handed out stay open. Idempotent.
func (l *StreamLayer) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns the mesh's advertised address, which Raft uses as this
// server's address.
func (l *StreamLayer) Addr() net.Addr { return meshAddr(l.m.addr) }

// Dial opens a stream of this class to the mesh at address, dialing a
// session first if needed, all within timeout (DialTimeout if timeout is
// not positive). Called concurrently by Raft; the caller owns the conn.
func (l *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	select {
	case <-l.done:
		return nil, fmt.Errorf("internode: dial %v to %s: %w", l.class, address, ErrClosed)
	default:
	}
	if timeout <= 0 {
		timeout = l.m.cfg.DialTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	sc, err := l.m.openStream(ctx, string(address), l.class)
	if err != nil {
		return nil, fmt.Errorf("internode: dial %v to %s: %w", l.class, address, err)
	}
	_ = sc.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := sc.Write([]byte{byte(l.class)}); err != nil {
		_ = sc.Close()
		return nil, fmt.Errorf("internode: dial %v to %s: %w", l.class, address, err)
	}
	_ = sc.SetWriteDeadline(time.Time{})
	return sc, nil
}

// handoff gives an accepted stream to Accept, or closes it if the layer is
// closed or nobody accepts within StreamIdleTimeout (Raft not running).
func (l *StreamLayer) handoff(c net.Conn) {
	t := time.NewTimer(l.m.cfg.StreamIdleTimeout)
	defer t.Stop()
	select {
	case l.conns <- c:
		return
	case <-l.done:
	case <-l.m.ctx.Done():
	case <-t.C:
		l.m.log.Warn().Stringer("class", l.class).Msg("stream layer not accepting; stream dropped")
	}
	_ = c.Close()
}

// meshAddr is the advertised address as a net.Addr. It may be a host name,
// which net.TCPAddr cannot hold.
type meshAddr string

func (a meshAddr) Network() string { return "tcp" }
func (a meshAddr) String() string  { return string(a) }
