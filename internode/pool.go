package internode

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// keepOpen marks, in a request's head byte, a stream that carries further
// requests of the same class after this one's reply: Request keeps such
// streams in a small pool per peer and class instead of opening and
// closing a stream for every request (a yamux stream's open, accept and
// two closes are four frames and four wake-ups more than the request and
// its reply). Classes therefore stay below 0x40.
const keepOpen = 0x40

// maxIdlePerKey bounds the idle streams pooled per peer and class; a
// stream returned to a full pool is closed. More requests than this at once
// open further streams, which the peer's MaxStreamsPerPeer still caps.
const maxIdlePerKey = 4

// splitHead reads a request's head byte.
func splitHead(h byte) (c Class, oneway, keep bool) {
	return Class(h &^ (oneWay | keepOpen)), h&oneWay != 0, h&keepOpen != 0
}

// pooledStream is an idle request stream: its reader keeps whatever it
// buffered (nothing, between a reply and the next request).
type pooledStream struct {
	sc    *streamConn
	br    *bufio.Reader
	since time.Time // idle since
}

type poolKey struct {
	addr  string
	class Class
}

// streamPool holds idle keep-open request streams, newest last.
type streamPool struct {
	maxIdle time.Duration // a stream idle longer is closed, not reused
	mu      sync.Mutex
	idle    map[poolKey][]*pooledStream
}

func newStreamPool(maxIdle time.Duration) *streamPool {
	return &streamPool{maxIdle: maxIdle, idle: make(map[poolKey][]*pooledStream)}
}

// get returns an idle stream to addr for class c that is still open and
// was idle less than maxIdle, or nil. Streams found stale are closed.
func (p *streamPool) get(addr string, c Class) *pooledStream {
	k := poolKey{addr, c}
	now := time.Now()
	for {
		p.mu.Lock()
		l := p.idle[k]
		if len(l) == 0 {
			p.mu.Unlock()
			return nil
		}
		ps := l[len(l)-1]
		l[len(l)-1] = nil
		p.idle[k] = l[:len(l)-1]
		p.mu.Unlock()
		if now.Sub(ps.since) < p.maxIdle && ps.open() {
			return ps
		}
		_ = ps.sc.Close()
	}
}

// put returns a stream whose last request was answered in full, or closes
// it if the pool is full.
func (p *streamPool) put(addr string, c Class, ps *pooledStream) {
	k := poolKey{addr, c}
	ps.since = time.Now()
	p.mu.Lock()
	if len(p.idle[k]) < maxIdlePerKey && p.idle != nil {
		p.idle[k] = append(p.idle[k], ps)
		ps = nil
	}
	p.mu.Unlock()
	if ps != nil {
		_ = ps.sc.Close()
	}
}

// drop closes the idle streams to addr (every peer for ""), and, for "",
// the pool: later puts close their stream.
func (p *streamPool) drop(addr string) {
	var closing []*pooledStream
	p.mu.Lock()
	for k, l := range p.idle {
		if addr == "" || k.addr == addr {
			closing = append(closing, l...)
			delete(p.idle, k)
		}
	}
	if addr == "" {
		p.idle = nil
	}
	p.mu.Unlock()
	for _, ps := range closing {
		_ = ps.sc.Close()
	}
}

// open reports whether the peer has not closed the stream (it closes an
// idle one after its StreamIdleTimeout) and its session lives. It reads
// with a deadline in the past, which looks at yamux's buffer only: an idle
// stream has nothing buffered, so anything but a timeout means it is done.
func (ps *pooledStream) open() bool {
	if ps.sc.Session().IsClosed() || ps.br.Buffered() > 0 {
		return false
	}
	_ = ps.sc.SetReadDeadline(aLongTimeAgo)
	_, err := ps.br.Peek(1)
	_ = ps.sc.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
