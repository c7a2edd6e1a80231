package internode

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/yamux"
	"github.com/rs/zerolog"
)

// Handler serves one request of a request/reply or one-way class. It runs on
// its own goroutine, concurrently with other calls; req is the handler's to
// keep. ctx is cancelled when the mesh closes or the peer's session ends;
// Peer(ctx) names the sender. The returned reply is sent and not retained;
// a returned error reaches Request's caller as *RemoteError (its text only).
// For Send, the reply and error are dropped (the error is counted).
type Handler func(ctx context.Context, req []byte) ([]byte, error)

// Mesh is one node's end of the internode mesh: the listener, the yamux
// sessions to and from peers, and the per-class handlers and stream layers.
type Mesh struct {
	cfg       Config
	log       zerolog.Logger
	gate      func(addr string) error
	tls       *TLS        // nil: plain mode
	serverTLS *tls.Config // from tls.Certs, made once (it reloads per handshake)
	ln        net.Listener
	addr      string // advertised host:port
	preamble  []byte // what we write on every connection we dial
	ymx       *yamux.Config

	// ctx is cancelled by Close: it aborts dials and preambles, stops
	// hand-offs, and is the parent of every handler's ctx.
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // every goroutine the mesh starts
	closeOnce sync.Once

	regMu    sync.RWMutex
	handlers [maxClasses]Handler
	layers   [maxClasses]*StreamLayer

	mu     sync.Mutex
	closed bool
	out    map[string]*outPeer       // by the peer's address as we dial it
	in     map[*yamux.Session]string // inbound session -> peer's advertised address
	peers  map[string]*peerLimits    // by peer: verified node (TLS) or claimed address

	pool *streamPool // idle request streams, by peer and class

	pending atomic.Int64 // accepted connections still in handshake or preamble

	st  counters
	lim struct{ frame, class, accept, reject limiter }
}

// New validates cfg, binds the listener and starts accepting. The mesh
// serves streams as soon as it returns; register handlers and stream layers
// before telling peers the address.
func New(cfg Config, opts ...Option) (*Mesh, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{log: zerolog.Nop()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.tls != nil {
		if err := o.tls.validate(); err != nil {
			return nil, err
		}
	}
	host, err := advertiseHost(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := listen(cfg)
	if err != nil {
		return nil, fmt.Errorf("internode: listen on %s: %w", cfg.BindAddr, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	m := &Mesh{
		cfg:   cfg,
		gate:  o.gate,
		tls:   o.tls,
		ln:    ln,
		addr:  net.JoinHostPort(host, strconv.Itoa(port)),
		out:   make(map[string]*outPeer),
		in:    make(map[*yamux.Session]string),
		peers: make(map[string]*peerLimits),
		// Half the peer's idle timeout: a pooled stream is reused well
		// before the peer closes it for idling (peers share the config).
		pool: newStreamPool(cfg.StreamIdleTimeout / 2),
	}
	m.log = o.log.With().Str("component", "internode").Str("addr", m.addr).Logger()
	node := ""
	if m.tls != nil {
		node = m.tls.Node
		m.serverTLS = m.tls.Certs.MeshServerConfig()
	}
	m.preamble = makePreamble(m.addr, node)
	m.ymx = yamuxConfig(cfg, m.log)
	m.ctx, m.cancel = context.WithCancel(context.Background())

	m.wg.Add(1)
	go m.acceptLoop()
	m.log.Info().Str("bind", ln.Addr().String()).Bool("tls", m.tls != nil).Msg("mesh listening")
	return m, nil
}

// yamuxConfig keeps yamux's defaults (10 s connection write timeout, 75 s
// stream open timeout) except:
//   - the keepalive, which we want shorter;
//   - the stream close timeout: yamux waits 5 minutes for a peer to
//     acknowledge a close, we reset the stream after StreamIdleTimeout so
//     that a stuck peer's streams do not pile up;
//   - the accept backlog, MaxStreamsPerPeer instead of 256: streams a peer
//     opened that we have not accepted yet (it is at its stream cap) each
//     buffer up to a window, and yamux resets streams beyond the backlog.
//     yamux also makes the opener wait once that many of its opens are
//     unacknowledged, so an honest peer gets backpressure, not resets;
//   - the stream window, pinned at yamux's minimum (256 KiB), the most one
//     stream can buffer in yamux before we read it.
func yamuxConfig(cfg Config, log zerolog.Logger) *yamux.Config {
	y := yamux.DefaultConfig()
	y.KeepAliveInterval = cfg.KeepAliveInterval
	y.StreamCloseTimeout = cfg.StreamIdleTimeout
	y.AcceptBacklog = cfg.MaxStreamsPerPeer
	y.MaxStreamWindowSize = yamuxWindow
	y.LogOutput = nil
	y.Logger = yamuxLogger{log: log}
	return y
}

// Addr returns the advertised host:port peers dial (and Raft's address for
// this node).
func (m *Mesh) Addr() string { return m.addr }

// Handle registers h for class c. Call it before traffic of that class
// arrives; until then such streams are refused as unknown. Registering a
// class twice, or one that has a StreamLayer, is a programming error and
// panics.
func (m *Mesh) Handle(c Class, h Handler) {
	if !c.valid() || h == nil {
		panic(fmt.Sprintf("internode: Handle(%v): invalid class or nil handler", c))
	}
	m.regMu.Lock()
	defer m.regMu.Unlock()
	if m.handlers[c] != nil || m.layers[c] != nil {
		panic(fmt.Sprintf("internode: Handle(%v): class already registered", c))
	}
	m.handlers[c] = h
}

// handler returns what serves class c: a handler or a stream layer, or
// neither.
func (m *Mesh) handler(c Class) (Handler, *StreamLayer) {
	m.regMu.RLock()
	defer m.regMu.RUnlock()
	return m.handlers[c], m.layers[c]
}

// ClosePeer closes every session to and from addr (the peer's advertised
// address), which kills their streams, and aborts a dial to it in progress.
// The next use of addr dials afresh.
func (m *Mesh) ClosePeer(addr string) {
	var sessions []*yamux.Session
	m.mu.Lock()
	if p := m.out[addr]; p != nil {
		p.cancel()
		if p.sess != nil {
			sessions = append(sessions, p.sess)
		}
		delete(m.out, addr)
	}
	for s, peer := range m.in {
		if peer == addr {
			sessions = append(sessions, s)
		}
	}
	m.mu.Unlock()
	m.pool.drop(addr)
	for _, s := range sessions {
		_ = s.Close()
	}
	if len(sessions) > 0 {
		m.log.Debug().Str("peer", addr).Int("sessions", len(sessions)).Msg("peer sessions closed")
	}
}

// Close stops accepting, closes every session and stream layer, cancels
// handlers' contexts and waits for every goroutine the mesh started.
// Handlers must return once their ctx is cancelled. Idempotent.
func (m *Mesh) Close() error {
	m.closeOnce.Do(func() {
		var sessions []*yamux.Session
		m.mu.Lock()
		m.closed = true
		for _, p := range m.out {
			p.cancel()
			if p.sess != nil {
				sessions = append(sessions, p.sess)
			}
		}
		for s := range m.in {
			sessions = append(sessions, s)
		}
		m.mu.Unlock()

		m.cancel()
		m.pool.drop("")
		_ = m.ln.Close()
		for _, s := range sessions {
			_ = s.Close()
		}
		m.regMu.RLock()
		for _, l := range m.layers {
			if l != nil {
				_ = l.Close()
			}
		}
		m.regMu.RUnlock()
		m.wg.Wait()
		m.log.Info().Msg("mesh closed")
	})
	return nil
}

type peerKey struct{}

// Peer returns the advertised address of the node that sent the request a
// Handler is serving, or "" if ctx is not a handler's. It is what the peer
// claims in its preamble, for logs and ClosePeer; under TLS, PeerNode is the
// peer's verified identity.
func Peer(ctx context.Context) string {
	s, _ := ctx.Value(peerKey{}).(string)
	return s
}
