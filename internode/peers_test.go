package internode

import (
	"bufio"
	"encoding/binary"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestWithheldBytesStayWithinPeerCap reproduces the attack of issue 12 over
// real sockets: 64 streams that each announce a 4 MiB request and withhold
// its last byte. The frames this node buffers for that peer must stay
// within PeerBufferBytes, every stream must be closed after its idle
// deadline, and no handler may run.
func TestWithheldBytesStayWithinPeerCap(t *testing.T) {
	const (
		streams = 64
		size    = 4 << 20
	)
	b := newMesh(t, func(c *Config) {
		c.MaxFrameSize = size
		c.PeerBufferBytes = 2 * size
		c.MaxStreamsPerPeer = streams
		c.StreamIdleTimeout = time.Second
	})
	var h counted
	b.Handle(ClassForward, h.handle)
	sess := rawSession(t, b.Addr(), "127.0.0.1:7999")

	body := make([]byte, size-1) // one byte short
	closed := make(chan time.Duration, streams)
	start := time.Now()
	var wg sync.WaitGroup
	for range streams {
		st, err := sess.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() { // the attacker writes as far as the windows let it
			defer wg.Done()
			_, _ = st.Write(binary.AppendUvarint([]byte{byte(ClassForward)}, size))
			_, _ = st.Write(body)
		}()
		go func() { // and notices when the node hangs up
			defer wg.Done()
			_ = st.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, _ = bufio.NewReader(st).ReadByte()
			closed <- time.Since(start)
			_ = st.Close()
		}()
	}
	// While every stream is accepted and the budget is full, the live heap
	// (client and server together: one 4 MiB body on the client side,
	// 8 MiB of frames and at most 64 x 256 KiB of yamux windows on the
	// server) stays far below the 256 MiB the frames announce.
	waitFor(t, 5*time.Second, "every stream accepted and the budget full", func() bool {
		s := b.Stats()
		return s.Classes[ClassForward].StreamsIn == streams && s.BufferedBytes == 2*size
	})
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > 96<<20 {
		t.Fatalf("live heap %d MiB during the attack", ms.HeapAlloc>>20)
	}
	t.Logf("live heap during the attack: %d MiB", ms.HeapAlloc>>20)
	for range streams {
		if d := <-closed; d > 15*time.Second {
			t.Fatalf("a stream stayed open %v: the idle deadline did not drop it", d)
		}
	}
	_ = sess.Close()
	wg.Wait()

	s := b.Stats()
	if s.PeakPeerBuffered > int64(2*size) {
		t.Fatalf("peak buffered for the peer %d bytes, cap %d", s.PeakPeerBuffered, 2*size)
	}
	if s.PeakPeerBuffered < int64(size) {
		t.Fatalf("peak buffered %d: the attack never got a frame in; the test proves nothing", s.PeakPeerBuffered)
	}
	if n := h.n.Load(); n != 0 {
		t.Fatalf("handler ran %d times on incomplete frames", n)
	}
	waitFor(t, 5*time.Second, "every stream counted and its buffer released", func() bool {
		s := b.Stats()
		return s.MalformedFrames+s.Rejected[RejectLimit] == streams && s.BufferedBytes == 0
	})
	t.Logf("peak buffered %d bytes; %d streams dropped half-sent, %d refused over the cap",
		s.PeakPeerBuffered, b.Stats().MalformedFrames, b.Stats().Rejected[RejectLimit])
}

// TestStreamsPerPeerCap: a peer's streams beyond MaxStreamsPerPeer wait
// unaccepted; a slot frees only when a stalled stream is dropped.
func TestStreamsPerPeerCap(t *testing.T) {
	// Both sides share the idle timeout, as a cluster's nodes do: with a
	// longer one, a would send the fifth request on the kept-open warm-up
	// stream just as b closes it for idleness ("stream ended before
	// reply", 3 runs in 40).
	a := newMesh(t, func(c *Config) { c.StreamIdleTimeout = 500 * time.Millisecond })
	b := newMesh(t, func(c *Config) {
		c.MaxStreamsPerPeer = 4
		c.StreamIdleTimeout = 500 * time.Millisecond
	})
	b.Handle(ClassForward, echo)
	ctx := ctxTimeout(t, 10*time.Second)
	// Open the session, then stall four streams mid-frame.
	if _, err := a.Request(ctx, b.Addr(), ClassForward, []byte("warm")); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		sc, err := a.openStream(ctx, b.Addr(), ClassForward)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		if _, err := sc.Write([]byte{byte(ClassForward), 10, 'x'}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "four stalled streams served", func() bool {
		return b.Stats().Classes[ClassForward].StreamsIn == 5
	})
	got, err := a.Request(ctx, b.Addr(), ClassForward, []byte("fifth"))
	if err != nil || string(got) != "fifth" {
		t.Fatalf("fifth request: %q %v", got, err)
	}
	if n := b.Stats().MalformedFrames; n < 1 {
		t.Fatalf("the fifth stream was served while four held every slot (malformed %d)", n)
	}
}

// TestSessionsPerPeerCap: a peer's third session closes its oldest.
func TestSessionsPerPeerCap(t *testing.T) {
	b := newMesh(t, nil)
	b.Handle(ClassForward, echo)
	const self = "127.0.0.1:7998"
	first := rawSession(t, b.Addr(), self)
	waitFor(t, 5*time.Second, "first session", func() bool { return b.Stats().SessionsAccepted == 1 })
	rawSession(t, b.Addr(), self)
	waitFor(t, 5*time.Second, "second session", func() bool { return b.Stats().SessionsAccepted == 2 })
	if b.Stats().Rejected[RejectLimit] != 0 {
		t.Fatal("two sessions of one peer counted over the limit")
	}
	rawSession(t, b.Addr(), self)
	select {
	case <-first.CloseChan():
	case <-time.After(5 * time.Second):
		t.Fatal("the oldest session survived a third")
	}
	if n := b.Stats().Rejected[RejectLimit]; n != 1 {
		t.Fatalf("rejected[limit] = %d, want 1", n)
	}
	waitFor(t, 5*time.Second, "two sessions left", func() bool { return b.Stats().ConnectionsOpen == 2 })
}

// TestPendingConnectionsCap: connections that sit in their handshake or
// preamble are capped; the rest are closed at once and counted.
func TestPendingConnectionsCap(t *testing.T) {
	b := newMesh(t, func(c *Config) { c.DialTimeout = 3 * time.Second })
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range maxPendingConns + 3 {
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitFor(t, 5*time.Second, "three connections over the cap refused", func() bool {
		return b.Stats().Rejected[RejectLimit] == 3
	})
}
