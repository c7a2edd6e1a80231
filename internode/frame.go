package internode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Class says what a stream carries. It is the stream's first byte.
type Class byte

// The classes of DESIGN §1. Values are wire format: never renumber.
const (
	ClassRaft    Class = 1 // hashicorp/raft RPCs (via StreamLayer)
	ClassForward Class = 2 // proposals / reads forwarded to the leader (request/reply)
	ClassGroups  Class = 3 // process groups
	ClassAck     Class = 4 // strong-name acks
	ClassKeyring Class = 5 // cluster-wide gossip keyring operations (request/reply)
	ClassHash    Class = 6 // the state hashes a Raft member took, for the cross-check (request/reply)
	ClassGrant   Class = 7 // lock grants the leader applied, told to the waiter's node (one-way)
)

// oneWay marks a Send stream in the class byte, so the server knows not to
// reply without an extra frame type. Classes therefore stay below 0x80.
const oneWay = 0x80

// maxClasses sizes the per-class tables: every value without the one-way
// and keep-open bits.
const maxClasses = keepOpen

// String names the well-known classes for logs and errors.
func (c Class) String() string {
	switch c {
	case ClassRaft:
		return "raft"
	case ClassForward:
		return "forward"
	case ClassGroups:
		return "groups"
	case ClassAck:
		return "ack"
	case ClassKeyring:
		return "keyring"
	case ClassHash:
		return "hash"
	case ClassGrant:
		return "grant"
	default:
		return "class(" + strconv.Itoa(int(c)) + ")"
	}
}

func (c Class) valid() bool { return c != 0 && c < maxClasses }

// Reply status bytes.
const (
	statusOK      byte = 0 // payload is the handler's reply
	statusError   byte = 1 // payload is the handler's error text (RemoteError)
	statusRefused byte = 2 // payload is one refusal code; the handler never ran
)

// Refusal codes, the payload of a statusRefused reply.
const (
	refuseUnknownClass byte = 1
	refuseTooLarge     byte = 2 // the request exceeds the peer's MaxFrameSize
	// refuseReplyTooLarge: the handler ran, but its reply exceeds the
	// peer's MaxFrameSize, so it was not sent.
	refuseReplyTooLarge byte = 3
	// refuseOverLimit: the sender's streams were over this node's
	// per-peer buffer cap until the request's deadline; the handler never
	// ran.
	refuseOverLimit byte = 4
)

// maxVarintLen is the longest uvarint we accept: enough for any int64.
const maxVarintLen = 10

// appendFrame appends p with its uvarint length prefix.
func appendFrame(dst, p []byte) []byte {
	n := uint64(len(p))
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	dst = append(dst, byte(n))
	return append(dst, p...)
}

// readFrame reads one length-prefixed frame of at most max bytes. Bad input
// gives ErrMalformed or ErrFrameTooLarge; transport errors (timeouts, reset,
// session shutdown) are returned unchanged so callers can tell them apart.
func readFrame(br *bufio.Reader, max int) ([]byte, error) {
	return readFrameReserving(br, max, nil)
}

// readFrameReserving is readFrame that, once the length is known to be
// within max and before any of the body is read, asks reserve for the
// bytes; a reserve error is returned as is and nothing more is read.
func readFrameReserving(br *bufio.Reader, max int, reserve func(n int) error) ([]byte, error) {
	n, err := readUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	if reserve != nil {
		if err := reserve(int(n)); err != nil {
			return nil, err
		}
	}
	return readBody(br, int(n))
}

func readUvarint(br *bufio.Reader) (uint64, error) {
	var x uint64
	var s uint
	for i := range maxVarintLen {
		b, err := br.ReadByte()
		if err != nil {
			return 0, truncated(err, "length")
		}
		if b < 0x80 {
			if i == maxVarintLen-1 && b > 1 {
				return 0, fmt.Errorf("%w: length overflows 64 bits", ErrMalformed)
			}
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, fmt.Errorf("%w: length overflows 64 bits", ErrMalformed)
}

// readBody reads exactly n bytes. Large bodies grow as data arrives, so a
// peer that announces 4 MiB and sends nothing costs us 64 KiB, not 4 MiB.
func readBody(r io.Reader, n int) ([]byte, error) {
	const chunk = 64 << 10
	if n <= chunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, truncated(err, "body")
		}
		return b, nil
	}
	b := make([]byte, 0, chunk)
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(n-len(b), cap(b))) // double, up to n
		}
		k, err := io.ReadFull(r, b[len(b):min(n, cap(b))])
		b = b[:len(b)+k]
		if err != nil {
			return nil, truncated(err, "body")
		}
	}
	return b, nil
}

// truncated turns an early end of stream into ErrMalformed and leaves other
// read errors alone.
func truncated(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated %s", ErrMalformed, what)
	}
	return err
}
