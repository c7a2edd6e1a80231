package internode

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

func TestGarbageOnThePortIsCountedAndDropped(t *testing.T) {
	a := newMesh(t, nil)
	b := newMesh(t, func(c *Config) { c.DialTimeout = 300 * time.Millisecond })
	b.Handle(ClassForward, echo)
	ctx := ctxTimeout(t, 10*time.Second)

	// A silent client holds a connection open; it must not wedge anything.
	silent, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	junk := make([]byte, 512)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(r.UintN(256))
	}
	inputs := map[string][]byte{
		"http":          []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"random":        junk,
		"short":         []byte("CNC"),
		"old version":   append([]byte("CNCL\x01\x0e127.0.0.1:7950"), junk...),
		"wrong version": append([]byte("CNCL\x03\x0e127.0.0.1:7950"), junk...),
		"bad address":   []byte("CNCL\x02\x05hello\x00"),
		"empty address": []byte("CNCL\x02\x00\x00"),
		"zero port":     []byte("CNCL\x02\x0b127.0.0.1:0\x00"),
		"no node":       []byte("CNCL\x02\x0e127.0.0.1:7950"),
	}
	for name, in := range inputs {
		conn, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write(in)
		if name == "short" || name == "no node" {
			_ = conn.(*net.TCPConn).CloseWrite()
		}
		// The mesh answers nothing and hangs up.
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := io.Copy(io.Discard, conn)
		if n != 0 || isTimeout(err) {
			t.Errorf("%s: server wrote %d bytes, err %v; want a silent close", name, n, err)
		}
		_ = conn.Close()
	}
	waitFor(t, 5*time.Second, "bad preambles counted", func() bool {
		s := b.Stats()
		return s.BadPreambles == uint64(len(inputs)) && s.Rejected[RejectProtocol] == uint64(len(inputs))
	})

	// While the silent client still sits in its preamble, the mesh serves.
	if got, err := a.Request(ctx, b.Addr(), ClassForward, []byte("still here")); err != nil || string(got) != "still here" {
		t.Fatalf("Request with junk around: %q %v", got, err)
	}
	// The silent client is dropped after DialTimeout.
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); isTimeout(err) {
		t.Fatal("silent connection never dropped")
	}
	waitFor(t, 5*time.Second, "silent connection counted", func() bool {
		return b.Stats().BadPreambles == uint64(len(inputs))+1
	})

	// A valid preamble followed by junk instead of yamux kills only that
	// session.
	conn, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write(append(makePreamble("10.9.9.9:7950", ""), junk...))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, conn)
	waitFor(t, 5*time.Second, "junk session closed", func() bool {
		s := b.Stats()
		return s.SessionsAccepted == 2 && s.ConnectionsOpen == 1
	})
	if got, err := a.Request(ctx, b.Addr(), ClassForward, []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("Request after junk session: %q %v", got, err)
	}
	if s := b.Stats(); s.BytesIn == 0 || s.MalformedFrames != 0 {
		t.Fatalf("stats after junk: %+v", s)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestDialFailure(t *testing.T) {
	a := newMesh(t, nil)
	// A port that was just free: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()

	ctx := ctxTimeout(t, 5*time.Second)
	_, err = a.Request(ctx, dead, ClassForward, []byte("x"))
	if !isNotSent(err) {
		t.Fatalf("Request to a dead port: %v", err)
	}
	if err := a.Send(ctx, dead, ClassForward, []byte("x")); !isNotSent(err) {
		t.Fatalf("Send to a dead port: %v", err)
	}
	if s := a.Stats(); s.DialFailures != 2 || s.SessionsDialed != 0 || s.ConnectionsOpen != 0 {
		t.Fatalf("stats after failed dials: %+v", s)
	}
	// A failed dial is not remembered: a later listener is reached.
	b := newMesh(t, nil)
	b.Handle(ClassForward, echo)
	if _, err := a.Request(context.Background(), b.Addr(), ClassForward, nil); err != nil {
		t.Fatal(err)
	}
}
