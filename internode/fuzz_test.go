package internode

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"testing"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
)

// Declared allocation bounds of the decoders fuzzed here (fuzzcheck adds
// its slack). readBody starts at one 64 KiB chunk and doubles only as data
// arrives, so a frame costs at most four times the bytes received plus the
// chunk; the bufio reader is 4 KiB; a preamble's address and node name
// are at most 255 bytes each.
const (
	frameAllocPerByte  = 4
	frameAllocFixed    = 64<<10 + 4<<10
	preambleAllocFixed = 4<<10 + 4*255
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

// errFuzzBudget is the refusal of the budget in FuzzReadFrameReserving.
var errFuzzBudget = errors.New("fuzz: over budget")

// FuzzReadFrameReserving: the per-peer buffer budget is asked once, for
// the announced length, only when that length is within the limit and
// before any of the body is read; its refusal is returned as is, and an
// accepted frame is exactly the reserved size.
func FuzzReadFrameReserving(f *testing.F) {
	f.Add(appendFrame(nil, []byte("small")), 16)
	f.Add(appendFrame(nil, make([]byte, 300)), 100)
	f.Add(binary.AppendUvarint(nil, 4<<20), 1<<30)
	f.Add(binary.AppendUvarint(nil, 1<<40), 1<<30)
	f.Fuzz(func(t *testing.T, data []byte, budget int) {
		var (
			calls, reserved int
			body            []byte
			err             error
		)
		reserve := func(n int) error {
			calls++
			reserved = n
			if n > budget {
				return errFuzzBudget
			}
			return nil
		}
		fuzzcheck.Bounded(t, "readFrameReserving", fuzzcheck.Linear(len(data), frameAllocPerByte, frameAllocFixed), func() {
			calls = 0
			body, err = readFrameReserving(bufio.NewReader(bytes.NewReader(data)), fuzzMaxFrame, reserve)
		})
		if calls > 1 || (calls == 1 && (reserved < 0 || reserved > fuzzMaxFrame)) {
			t.Fatalf("reserve called %d times, last for %d bytes (limit %d)", calls, reserved, fuzzMaxFrame)
		}
		switch {
		case calls == 1 && reserved > budget:
			if !errors.Is(err, errFuzzBudget) || body != nil {
				t.Fatalf("budget refused %d bytes, readFrameReserving returned %d bytes, %v", reserved, len(body), err)
			}
		case err == nil:
			if calls != 1 || len(body) != reserved {
				t.Fatalf("frame of %d bytes, reserved %d in %d calls", len(body), reserved, calls)
			}
		case errors.Is(err, errFuzzBudget):
			t.Fatalf("budget error %v without a refusal", err)
		}
	})
}

// FuzzStreamHead: the first bytes of a stream in either direction, a head
// byte (class with the one-way and keep-open bits for a request, status
// for a reply) and
// a frame. Whatever they are, the class is in range for the per-class
// tables, a refused reply maps to a known refusal or to nothing, and a
// head written as writeFrame writes it reads back.
func FuzzStreamHead(f *testing.F) {
	head := func(h byte, p []byte) []byte { return appendFrame([]byte{h}, p) }
	f.Add(head(byte(ClassForward), []byte{1, 1, 'c', 'm', 'd'}))
	f.Add(head(byte(ClassGroups)|oneWay, []byte("broadcast")))
	f.Add(head(byte(ClassForward)|keepOpen, []byte{1, 2, 'q'}))
	f.Add(head(statusOK, []byte("reply")))
	f.Add(head(statusError, []byte("handler failed")))
	for _, code := range []byte{refuseUnknownClass, refuseTooLarge, refuseReplyTooLarge, refuseOverLimit, 99} {
		f.Add(head(statusRefused, []byte{code}))
	}
	f.Add([]byte{statusRefused})
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		h, err := br.ReadByte()
		if err != nil {
			return
		}
		c, oneway, keep := splitHead(h)
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
			// A refusal says the handler never ran (ErrNotSent) or that
			// its reply was too large; a code we do not know is no
			// refusal at all (the caller counts it malformed).
			if rerr := refusal(body); rerr != nil && !errors.Is(rerr, ErrNotSent) && !errors.Is(rerr, ErrFrameTooLarge) {
				t.Fatalf("refusal %x: unexpected error %v", body, rerr)
			} else if rerr == nil && len(body) == 1 && body[0] >= refuseUnknownClass && body[0] <= refuseOverLimit {
				t.Fatalf("refusal code %d not mapped", body[0])
			}
		}
		// The bytes writeFrame sends for this head and body.
		if oneway {
			h = byte(c) | oneWay
		}
		if keep {
			h |= keepOpen
		}
		enc := appendFrame([]byte{h}, body)
		got, err := readFrame(bufio.NewReader(bytes.NewReader(enc[1:])), fuzzMaxFrame)
		if err != nil || enc[0] != h || !bytes.Equal(got, body) {
			t.Fatalf("head %#x body %x reads back as %#x %x, %v", h, body, enc[0], got, err)
		}
	})
}

// FuzzReadPreamble: any bytes at the start of an inbound connection give
// the dialer's host:port and node name or ErrBadPreamble, never a panic,
// never more than the two 255-byte fields allocated. An accepted preamble
// is exactly what makePreamble writes for that address and node.
func FuzzReadPreamble(f *testing.F) {
	for _, addr := range []string{"127.0.0.1:7950", "[::1]:1", "node-3.example.com:65535"} {
		f.Add(makePreamble(addr, ""))
		f.Add(makePreamble(addr, "node-3"))
	}
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Add(append([]byte(preambleMagic), protocolVersion+1, 0))
	f.Add(append([]byte(preambleMagic), protocolVersion, 255, 'a'))
	f.Add(makePreamble("127.0.0.1:7950", "n1")[:20])
	f.Add(makePreamble("no-port", "n1"))
	f.Add(makePreamble("host:0", "n1"))
	f.Add(makePreamble(":7950", "n1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			p   preamble
			err error
		)
		fuzzcheck.Bounded(t, "readPreamble", preambleAllocFixed, func() {
			p, err = readPreamble(bytes.NewReader(data))
		})
		if err != nil {
			if !errors.Is(err, ErrBadPreamble) {
				t.Fatalf("readPreamble: %v does not wrap ErrBadPreamble", err)
			}
			return
		}
		want := makePreamble(p.addr, p.node)
		if !bytes.HasPrefix(data, want) {
			t.Fatalf("accepted %+v from %x, which is not its preamble %x", p, data, want)
		}
		if _, _, err := net.SplitHostPort(p.addr); err != nil {
			t.Fatalf("accepted address %q: %v", p.addr, err)
		}
	})
}
