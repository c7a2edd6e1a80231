package internode

import (
	"encoding/binary"
	"net"
)

// yamux's frame header (v0): version(1) type(1) flags(2) stream(4)
// length(4). Only a data frame carries a body, of length bytes.
const (
	yamuxHeaderSize = 12
	yamuxTypeData   = 0
)

// maxJoined bounds the bodies joinConn copies behind their header; a
// larger body is written as it comes (its own system call costs little
// beside the copy).
const maxJoined = 32 << 10

// joinConn writes a yamux data frame's header and body in one Write.
// yamux v0.1.2's send loop writes them with two, which costs two system
// calls (two records under TLS) per frame and lets the peer wake up for a
// header whose body is still on its way: measured as most of a forwarded
// request's time (docs/benchmarks.md). joinConn holds back a data header
// that announces a body and sends it with the next Write, which the send
// loop makes at once with that body.
//
// Only yamux's send loop may write to it: it is not safe for concurrent
// Writes. Reads and everything else pass through.
type joinConn struct {
	net.Conn
	held bool
	hdr  [yamuxHeaderSize]byte
	buf  []byte
}

func joinFrames(c net.Conn) *joinConn { return &joinConn{Conn: c} }

func (c *joinConn) Write(p []byte) (int, error) {
	if c.held {
		c.held = false
		if len(p) > maxJoined {
			if _, err := c.Conn.Write(c.hdr[:]); err != nil {
				return 0, err
			}
			return c.Conn.Write(p)
		}
		c.buf = append(append(c.buf[:0], c.hdr[:]...), p...)
		n, err := c.Conn.Write(c.buf)
		return max(n-yamuxHeaderSize, 0), err
	}
	if len(p) == yamuxHeaderSize && p[1] == yamuxTypeData && binary.BigEndian.Uint32(p[8:]) > 0 {
		copy(c.hdr[:], p)
		c.held = true
		return len(p), nil
	}
	return c.Conn.Write(p)
}
