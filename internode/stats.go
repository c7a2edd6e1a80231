package internode

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/yamux"
)

// Stats is a snapshot of the mesh's counters. Counters only grow, except
// ConnectionsOpen, which is a gauge.
type Stats struct {
	// ConnectionsOpen is the number of live yamux sessions, both ways.
	ConnectionsOpen int64
	// SessionsDialed and SessionsAccepted count sessions ever established.
	SessionsDialed   uint64
	SessionsAccepted uint64
	// DialFailures counts outbound connection attempts that failed.
	DialFailures uint64
	// BytesIn and BytesOut count every byte on the TCP connections,
	// preambles and yamux framing included.
	BytesIn  uint64
	BytesOut uint64
	// BadPreambles counts inbound connections dropped because they did not
	// start with the mesh's magic and version (port scanners, HTTP clients,
	// another protocol, an incompatible version).
	BadPreambles uint64
	// MalformedFrames counts streams dropped for a truncated or undecodable
	// frame, or for not delivering it within StreamIdleTimeout.
	MalformedFrames uint64
	// OversizeFrames counts frames refused for exceeding MaxFrameSize, sent
	// to us or produced by our handlers.
	OversizeFrames uint64
	// UnknownClass counts inbound streams whose class has no handler or
	// StreamLayer here.
	UnknownClass uint64
	// HandlerErrors counts handler calls that returned an error.
	HandlerErrors uint64
	// Rejected counts peers refused before being served, by reason:
	// connections that failed TLS or the preamble (on either side of the
	// dial), sessions and streams over a per-peer cap. Every reason is
	// present, zero or not.
	Rejected map[RejectReason]uint64
	// BufferedBytes is the request-frame bytes reserved now, all peers
	// together (a gauge); PeakPeerBuffered the most any one peer has had
	// reserved at once since start. Neither exceeds what PeerBufferBytes
	// allows per peer.
	BufferedBytes    int64
	PeakPeerBuffered int64
	// Classes holds per-class stream and byte counts for every class that
	// has seen traffic.
	Classes map[Class]ClassStats
}

// ClassStats counts one class's streams and payload bytes (class byte and
// frame headers included, yamux framing not).
type ClassStats struct {
	StreamsIn, StreamsOut uint64
	BytesIn, BytesOut     uint64
}

type counters struct {
	open                              atomic.Int64
	dialed, accepted, dialFailures    atomic.Uint64
	bytesIn, bytesOut                 atomic.Uint64
	badPreambles, malformed, oversize atomic.Uint64
	unknownClass, handlerErrors       atomic.Uint64
	rejected                          [len(RejectReasons)]atomic.Uint64
	buffered, peakPeerBuffered        atomic.Int64
	class                             [maxClasses]classCounters
}

type classCounters struct {
	streamsIn, streamsOut atomic.Uint64
	in, out               atomic.Uint64
}

// Stats returns a snapshot of the counters. Safe to call at any time, also
// after Close.
func (m *Mesh) Stats() Stats {
	c := &m.st
	s := Stats{
		ConnectionsOpen:  c.open.Load(),
		SessionsDialed:   c.dialed.Load(),
		SessionsAccepted: c.accepted.Load(),
		DialFailures:     c.dialFailures.Load(),
		BytesIn:          c.bytesIn.Load(),
		BytesOut:         c.bytesOut.Load(),
		BadPreambles:     c.badPreambles.Load(),
		MalformedFrames:  c.malformed.Load(),
		OversizeFrames:   c.oversize.Load(),
		UnknownClass:     c.unknownClass.Load(),
		HandlerErrors:    c.handlerErrors.Load(),
		Rejected:         make(map[RejectReason]uint64, len(RejectReasons)),
		BufferedBytes:    c.buffered.Load(),
		PeakPeerBuffered: c.peakPeerBuffered.Load(),
		Classes:          make(map[Class]ClassStats),
	}
	for i, r := range RejectReasons {
		s.Rejected[r] = c.rejected[i].Load()
	}
	for i := range c.class {
		cc := &c.class[i]
		cs := ClassStats{
			StreamsIn:  cc.streamsIn.Load(),
			StreamsOut: cc.streamsOut.Load(),
			BytesIn:    cc.in.Load(),
			BytesOut:   cc.out.Load(),
		}
		if cs != (ClassStats{}) {
			s.Classes[Class(i)] = cs
		}
	}
	return s
}

// countingConn counts the bytes of a session's TCP connection.
type countingConn struct {
	net.Conn
	in, out *atomic.Uint64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.Add(uint64(n))
	return n, err
}

// streamConn is a yamux stream that counts its bytes against its class. It
// is the net.Conn a StreamLayer hands to Raft.
type streamConn struct {
	*yamux.Stream
	cc *classCounters
	// release, if set, frees the peer's stream slot on the first Close.
	release func()
	once    sync.Once
}

// Close closes the stream and frees its slot, if it holds one.
func (s *streamConn) Close() error {
	err := s.Stream.Close()
	if s.release != nil {
		s.once.Do(s.release)
	}
	return err
}

func (s *streamConn) Read(b []byte) (int, error) {
	n, err := s.Stream.Read(b)
	s.cc.in.Add(uint64(n))
	return n, err
}

// Write writes b. A write that finds the stream or its session already
// ended sends nothing, and says so: its error wraps ErrNotSent and has a
// NotSent method (for callers that cannot import this package, such as
// Raft's transport in raftcore).
func (s *streamConn) Write(b []byte) (int, error) {
	n, err := s.Stream.Write(b)
	s.cc.out.Add(uint64(n))
	if err != nil && n == 0 && (errors.Is(err, yamux.ErrStreamClosed) || errors.Is(err, yamux.ErrSessionShutdown) ||
		errors.Is(err, yamux.ErrConnectionReset)) {
		err = &notSentError{err: err}
	}
	return n, err
}

// notSentError is a write that sent nothing because its stream had ended.
type notSentError struct{ err error }

func (e *notSentError) Error() string   { return "internode: not sent: " + e.err.Error() }
func (e *notSentError) Unwrap() []error { return []error{ErrNotSent, e.err} }

// NotSent reports that nothing was sent.
func (e *notSentError) NotSent() bool { return true }
