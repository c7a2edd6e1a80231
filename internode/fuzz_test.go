package internode

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
)

// Declared allocation bounds of the decoders fuzzed here (fuzzcheck adds
// its slack). readBody starts at one 64 KiB chunk and doubles only as data
// arrives, so a frame costs at most four times the bytes received plus the
// chunk; the bufio reader is 4 KiB; a preamble address is at most 255
// bytes.
const (
	frameAllocPerByte  = 4
	frameAllocFixed    = 64<<10 + 4<<10
	preambleAllocFixed = 4<<10 + 2*255
)

// fuzzMaxFrame is the default MaxFrameSize: the limit a real mesh applies.
var fuzzMaxFrame = DefaultConfig().MaxFrameSize

// FuzzReadFrame: any bytes read as a length-prefixed frame (a request's or
// a reply's body) give a body within the limit or ErrMalformed /
// ErrFrameTooLarge, never a panic, and cost at most the declared bound
// whatever length the prefix claims. A decoded body is exactly the bytes
// behind the prefix, and appendFrame's encoding of it reads back the same.
func FuzzReadFrame(f *testing.F) {
	for _, n := range []int{0, 1, 127, 128, 300} {
		f.Add(appendFrame(nil, bytes.Repeat([]byte{byte(n)}, n)))
	}
	// Above one 64 KiB chunk, cut short: seeds stay small, so the fuzzer
	// mutates (and minimizes) them fast.
	f.Add(appendFrame(nil, make([]byte, 64<<10+1))[:64])
	f.Add(appendFrame(nil, []byte("hello"))[:3])                           // truncated body
	f.Add(binary.AppendUvarint(nil, 4<<20))                                // announces 4 MiB, sends nothing
	f.Add(binary.AppendUvarint(nil, 1<<40))                                // far above the limit
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 2}) // overflows 64 bits
	f.Add([]byte{0x85, 0x00, 'a', 'b', 'c', 'd', 'e'})                     // non-minimal varint
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			body []byte
			err  error
		)
		fuzzcheck.Bounded(t, "readFrame", fuzzcheck.Linear(len(data), frameAllocPerByte, frameAllocFixed), func() {
			body, err = readFrame(bufio.NewReader(bytes.NewReader(data)), fuzzMaxFrame)
		})
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("readFrame: %v: neither malformed nor too large", err)
			}
			return
		}
		if len(body) > fuzzMaxFrame {
			t.Fatalf("readFrame returned %d bytes, limit %d", len(body), fuzzMaxFrame)
		}
		n, k := binary.Uvarint(data)
		if k <= 0 || n != uint64(len(body)) || !bytes.Equal(data[k:k+len(body)], body) {
			t.Fatalf("body %x is not the %d bytes behind the prefix of %x", body, n, data)
		}
		again, err := readFrame(bufio.NewReader(bytes.NewReader(appendFrame(nil, body))), fuzzMaxFrame)
		if err != nil || !bytes.Equal(again, body) {
			t.Fatalf("re-framed body reads back as %x, %v; want %x", again, err, body)
		}
	})
}

// FuzzStreamHead: the first bytes of a stream in either direction, a head
// byte (class with the one-way bit for a request, status for a reply) and
// a frame. Whatever they are, the class is in range for the per-class
// tables, a refused reply maps to a known refusal or to nothing, and a
// head written as writeFrame writes it reads back.
func FuzzStreamHead(f *testing.F) {
	head := func(h byte, p []byte) []byte { return appendFrame([]byte{h}, p) }
	f.Add(head(byte(ClassForward), []byte{1, 1, 'c', 'm', 'd'}))
	f.Add(head(byte(ClassGroups)|oneWay, []byte("broadcast")))
	f.Add(head(statusOK, []byte("reply")))
	f.Add(head(statusError, []byte("handler failed")))
	for _, code := range []byte{refuseUnknownClass, refuseTooLarge, refuseReplyTooLarge, 99} {
		f.Add(head(statusRefused, []byte{code}))
	}
	f.Add([]byte{statusRefused})
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		h, err := br.ReadByte()
		if err != nil {
			return
		}
		c, oneway := Class(h&^oneWay), h&oneWay != 0
		if int(c) >= maxClasses || c.String() == "" || (c.valid() != (c != 0)) {
			t.Fatalf("head %#x: class %d out of range or unnamed", h, c)
		}
		var body []byte
		fuzzcheck.Bounded(t, "readFrame", fuzzcheck.Linear(len(data), frameAllocPerByte, frameAllocFixed), func() {
			body, err = readFrame(bufio.NewReader(bytes.NewReader(data[1:])), fuzzMaxFrame)
		})
		if err != nil {
			return
		}
		if h == statusRefused {
			if rerr := refusal(body); rerr != nil && !errors.Is(rerr, ErrFrameTooLarge) && !errors.Is(rerr, ErrUnknownClass) {
				t.Fatalf("refusal %x: unexpected error %v", body, rerr)
			} else if rerr == nil && len(body) == 1 && body[0] >= refuseUnknownClass && body[0] <= refuseReplyTooLarge {
				t.Fatalf("refusal code %d not mapped", body[0])
			}
		}
		// The bytes writeFrame sends for this head and body.
		if oneway {
			h = byte(c) | oneWay
		}
		enc := appendFrame([]byte{h}, body)
		got, err := readFrame(bufio.NewReader(bytes.NewReader(enc[1:])), fuzzMaxFrame)
		if err != nil || enc[0] != h || !bytes.Equal(got, body) {
			t.Fatalf("head %#x body %x reads back as %#x %x, %v", h, body, enc[0], got, err)
		}
	})
}

// FuzzReadPreamble: any bytes at the start of an inbound connection give
// the dialer's host:port or ErrBadPreamble, never a panic, never more than
// the 255-byte address allocated. An accepted preamble is exactly what
// makePreamble writes for that address.
func FuzzReadPreamble(f *testing.F) {
	for _, addr := range []string{"127.0.0.1:7950", "[::1]:1", "node-3.example.com:65535"} {
		f.Add(makePreamble(addr))
	}
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Add(append([]byte(preambleMagic), protocolVersion+1, 0))
	f.Add(append([]byte(preambleMagic), protocolVersion, 255, 'a'))
	f.Add(makePreamble("no-port"))
	f.Add(makePreamble("host:0"))
	f.Add(makePreamble(":7950"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			addr string
			err  error
		)
		fuzzcheck.Bounded(t, "readPreamble", preambleAllocFixed, func() {
			addr, err = readPreamble(&bytesConn{r: bytes.NewReader(data)}, time.Second)
		})
		if err != nil {
			if !errors.Is(err, ErrBadPreamble) {
				t.Fatalf("readPreamble: %v does not wrap ErrBadPreamble", err)
			}
			return
		}
		want := makePreamble(addr)
		if !bytes.HasPrefix(data, want) {
			t.Fatalf("accepted %q from %x, which is not its preamble %x", addr, data, want)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			t.Fatalf("accepted address %q: %v", addr, err)
		}
	})
}

// bytesConn is a net.Conn whose reads come from r; readPreamble uses only
// Read and SetReadDeadline.
type bytesConn struct {
	net.Conn
	r *bytes.Reader
}

func (c *bytesConn) Read(p []byte) (int, error)      { return c.r.Read(p) }
func (c *bytesConn) SetReadDeadline(time.Time) error { return nil }
