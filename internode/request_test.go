package internode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

func TestRequestReply(t *testing.T) {
	a, b := newMesh(t, nil), newMesh(t, nil)
	b.Handle(ClassForward, func(ctx context.Context, req []byte) ([]byte, error) {
		if Peer(ctx) != a.Addr() {
			return nil, fmt.Errorf("peer %q, want %q", Peer(ctx), a.Addr())
		}
		return echo(ctx, req)
	})
	ctx := ctxTimeout(t, 5*time.Second)

	got, err := a.Request(ctx, b.Addr(), ClassForward, []byte("hello"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("Request = %q, %v", got, err)
	}
	// Empty request and reply are fine.
	if got, err := a.Request(ctx, b.Addr(), ClassForward, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty Request = %q, %v", got, err)
	}
	// A big one crosses several yamux windows both ways.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if got, err := a.Request(ctx, b.Addr(), ClassForward, big); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("1 MiB Request: len %d, %v", len(got), err)
	}

	_, err = a.Request(ctx, b.Addr(), ClassForward, []byte("fail:locks: not held"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "locks: not held" {
		t.Fatalf("handler error arrived as %T %v, want *RemoteError", err, err)
	}
	if errors.Is(err, ErrNotSent) {
		t.Fatal("a handler error must not claim the request was not sent")
	}

	sa, sb := a.Stats(), b.Stats()
	if sa.SessionsDialed != 1 || sb.SessionsAccepted != 1 || sa.ConnectionsOpen != 1 || sb.ConnectionsOpen != 1 {
		t.Fatalf("want one session each way: a %+v b %+v", sa, sb)
	}
	if sb.HandlerErrors != 1 {
		t.Fatalf("HandlerErrors = %d, want 1", sb.HandlerErrors)
	}
	// b counts a reply's bytes after its Write returns, which may be after
	// a has read them: wait for the two views to agree.
	waitFor(t, 5*time.Second, "class byte counts to match", func() bool {
		fa, fb := a.Stats().Classes[ClassForward], b.Stats().Classes[ClassForward]
		return fb.BytesIn == fa.BytesOut && fa.BytesIn == fb.BytesOut
	})
	sa, sb = a.Stats(), b.Stats()
	fa, fb := sa.Classes[ClassForward], sb.Classes[ClassForward]
	// The four requests, one after the other, rode one kept-open stream.
	if fa.StreamsOut != 1 || fb.StreamsIn != 1 || fa.BytesOut < uint64(len(big)) || fa.BytesIn < uint64(len(big)) {
		t.Fatalf("class counters: a %+v b %+v", fa, fb)
	}
	if sa.BytesOut < fa.BytesOut || sb.BytesIn < fb.BytesIn {
		t.Fatalf("total bytes below class bytes: a %+v b %+v", sa, sb)
	}
}

func TestConcurrentRequestsShareOneSession(t *testing.T) {
	a, b := newMesh(t, nil), newMesh(t, nil)
	b.Handle(ClassForward, echo)
	ctx := ctxTimeout(t, 10*time.Second)

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Appendf(nil, "request %d %s", i, bytes.Repeat([]byte{'x'}, i*100))
			got, err := a.Request(ctx, b.Addr(), ClassForward, want)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, want) {
				errs <- fmt.Errorf("request %d: reply mismatch", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := a.Stats(); s.SessionsDialed != 1 {
		t.Fatalf("SessionsDialed = %d, want 1 shared by all requests", s.SessionsDialed)
	}
	// Requests at once each take a stream; one that starts after another
	// ended may reuse its stream.
	if in := b.Stats().Classes[ClassForward].StreamsIn; in < 1 || in > n {
		t.Fatalf("StreamsIn = %d, want 1..%d", in, n)
	}
	if idle := len(a.pool.idle[poolKey{b.Addr(), ClassForward}]); idle > maxIdlePerKey {
		t.Fatalf("%d idle streams pooled, want at most %d", idle, maxIdlePerKey)
	}
}

func TestSendRunsHandlerWithoutReply(t *testing.T) {
	a, b := newMesh(t, nil), newMesh(t, nil)
	got := make(chan string, 2)
	b.Handle(ClassGroups, func(ctx context.Context, req []byte) ([]byte, error) {
		got <- string(req)
		return []byte("this reply must not be sent"), errors.New("and this error is dropped")
	})
	ctx := ctxTimeout(t, 5*time.Second)

	if err := a.Send(ctx, b.Addr(), ClassGroups, []byte("join g1")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	select {
	case msg := <-got:
		if msg != "join g1" {
			t.Fatalf("handler got %q", msg)
		}
	case <-ctx.Done():
		t.Fatal("handler never ran")
	}

	// The same on a raw stream: after the one-way frame the server closes
	// without writing a byte.
	sc, err := a.openStream(ctx, b.Addr(), ClassGroups)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.writeFrame(byte(ClassGroups)|oneWay, []byte("raw")); err != nil {
		t.Fatal(err)
	}
	_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, sc)
	if err != nil || n != 0 {
		t.Fatalf("one-way stream returned %d bytes, err %v; want 0 and EOF", n, err)
	}
	if msg := <-got; msg != "raw" {
		t.Fatalf("handler got %q", msg)
	}
	waitFor(t, 5*time.Second, "handler errors counted", func() bool { return b.Stats().HandlerErrors == 2 })
	if out := b.Stats().Classes[ClassGroups].BytesOut; out != 0 {
		t.Fatalf("server wrote %d bytes on one-way streams", out)
	}
}

func TestRequestHonoursContext(t *testing.T) {
	a, b := newMesh(t, nil), newMesh(t, nil)
	entered := make(chan struct{}, 1)
	b.Handle(ClassForward, func(ctx context.Context, req []byte) ([]byte, error) {
		entered <- struct{}{}
		<-ctx.Done() // until the session or the mesh ends
		return nil, ctx.Err()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := a.Request(ctx, b.Addr(), ClassForward, []byte("slow"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request past deadline: %v", err)
	}
	<-entered

	// Explicit cancellation while waiting for the reply.
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Request(ctx2, b.Addr(), ClassForward, []byte("slow"))
		done <- err
	}()
	<-entered
	cancel2()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Request: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Request ignored cancellation")
	}

	// An already-cancelled ctx fails before anything is sent.
	if _, err := a.Request(ctx2, b.Addr(), ClassForward, nil); !errors.Is(err, ErrNotSent) {
		t.Fatalf("Request with done ctx: %v", err)
	}
}

func TestUnknownClass(t *testing.T) {
	a, b := newMesh(t, nil), newMesh(t, nil)
	b.Handle(ClassForward, echo)
	ctx := ctxTimeout(t, 5*time.Second)

	_, err := a.Request(ctx, b.Addr(), ClassAck, []byte("x"))
	if !errors.Is(err, ErrUnknownClass) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("Request of unhandled class: %v", err)
	}
	if err := a.Send(ctx, b.Addr(), Class(37), []byte("x")); err != nil {
		t.Fatalf("Send of unhandled class: %v (the sender cannot know)", err)
	}
	// Raft's class with the one-way bit is no valid stream either.
	sc, err := a.openStream(ctx, b.Addr(), ClassRaft)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = sc.Write([]byte{byte(ClassRaft) | oneWay})
	_ = sc.Close()
	waitFor(t, 5*time.Second, "unknown classes counted", func() bool { return b.Stats().UnknownClass == 3 })

	// Invalid classes never leave this node.
	for _, c := range []Class{0, keepOpen, oneWay, 200} {
		if _, err := a.Request(ctx, b.Addr(), c, nil); !errors.Is(err, ErrUnknownClass) {
			t.Fatalf("Request class %d: %v", c, err)
		}
	}
	// And the mesh still serves.
	if got, err := a.Request(ctx, b.Addr(), ClassForward, []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("Request after unknown classes: %q %v", got, err)
	}
}

func TestOversizeFrames(t *testing.T) {
	a := newMesh(t, nil)
	b := newMesh(t, func(c *Config) { c.MaxFrameSize = 1024 })
	ran := make(chan struct{}, 10)
	b.Handle(ClassForward, func(ctx context.Context, req []byte) ([]byte, error) {
		ran <- struct{}{}
		if string(req) == "big reply" {
			return make([]byte, 2048), nil
		}
		return req, nil
	})
	ctx := ctxTimeout(t, 5*time.Second)

	// Within a's limit, beyond b's: b refuses before its handler runs.
	_, err := a.Request(ctx, b.Addr(), ClassForward, make([]byte, 2048))
	if !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("oversize request: %v", err)
	}
	if s := b.Stats(); s.OversizeFrames != 1 || len(ran) != 0 {
		t.Fatalf("oversize request: OversizeFrames %d, handler ran %d times", s.OversizeFrames, len(ran))
	}

	// A length prefix of 2^40 is refused without allocating it.
	sc, err := a.openStream(ctx, b.Addr(), ClassForward)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = sc.Write([]byte{byte(ClassForward), 0x80, 0x80, 0x80, 0x80, 0x80, 0x20})
	_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(sc)
	_ = sc.Close()
	if !bytes.Equal(reply, []byte{statusRefused, 1, refuseTooLarge}) {
		t.Fatalf("huge length prefix: reply %v", reply)
	}
	if s := b.Stats(); s.OversizeFrames != 2 {
		t.Fatalf("OversizeFrames = %d, want 2", s.OversizeFrames)
	}

	// A reply beyond b's own limit is refused too, but the handler ran.
	_, err = a.Request(ctx, b.Addr(), ClassForward, []byte("big reply"))
	if !errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrNotSent) {
		t.Fatalf("oversize reply: %v", err)
	}
	if s := b.Stats(); s.OversizeFrames != 3 || len(ran) != 1 {
		t.Fatalf("oversize reply: OversizeFrames %d, handler ran %d", s.OversizeFrames, len(ran))
	}

	// Beyond the sender's own limit: refused locally, nothing opened.
	before := a.Stats().Classes[ClassForward].StreamsOut
	_, err = a.Request(ctx, b.Addr(), ClassForward, make([]byte, a.cfg.MaxFrameSize+1))
	if !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("request beyond own limit: %v", err)
	}
	if after := a.Stats().Classes[ClassForward].StreamsOut; after != before {
		t.Fatalf("a stream was opened for a request beyond the local limit")
	}

	// The mesh still serves.
	if got, err := a.Request(ctx, b.Addr(), ClassForward, []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("Request after oversize frames: %q %v", got, err)
	}
}

func TestMalformedRequestFrames(t *testing.T) {
	a := newMesh(t, nil)
	b := newMesh(t, func(c *Config) { c.StreamIdleTimeout = 300 * time.Millisecond })
	b.Handle(ClassForward, echo)
	ctx := ctxTimeout(t, 5*time.Second)

	raw := func(p []byte) {
		t.Helper()
		sc, err := a.openStream(ctx, b.Addr(), ClassForward)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) > 0 {
			if _, err := sc.Write(p); err != nil {
				t.Fatal(err)
			}
		}
		_ = sc.Close()
	}
	raw([]byte{byte(ClassForward), 100, 'a', 'b', 'c'})                        // truncated body
	raw([]byte{byte(ClassForward), 0x80})                                      // truncated length
	raw(append([]byte{byte(ClassForward)}, bytes.Repeat([]byte{0xff}, 11)...)) // varint overflow
	raw(nil)                                                                   // no class byte at all
	waitFor(t, 5*time.Second, "4 malformed frames", func() bool { return b.Stats().MalformedFrames == 4 })

	// A stream that sends half a frame and then nothing is dropped after
	// StreamIdleTimeout instead of pinning a goroutine.
	sc, err := a.openStream(ctx, b.Addr(), ClassForward)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.Write([]byte{byte(ClassForward), 10, 'x'}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "stalled stream dropped", func() bool { return b.Stats().MalformedFrames == 5 })

	if got, err := a.Request(ctx, b.Addr(), ClassForward, []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("Request after malformed frames: %q %v", got, err)
	}
}

func TestRegistrationPanics(t *testing.T) {
	m := newMesh(t, nil)
	m.Handle(ClassForward, echo)
	sl := m.StreamLayer(ClassRaft)
	if m.StreamLayer(ClassRaft) != sl {
		t.Error("StreamLayer twice should return the same layer")
	}
	mustPanic(t, "Handle twice", func() { m.Handle(ClassForward, echo) })
	mustPanic(t, "Handle on a stream layer's class", func() { m.Handle(ClassRaft, echo) })
	mustPanic(t, "StreamLayer on a handler's class", func() { m.StreamLayer(ClassForward) })
	mustPanic(t, "Handle class 0", func() { m.Handle(0, echo) })
	mustPanic(t, "Handle nil", func() { m.Handle(ClassAck, nil) })
	mustPanic(t, "StreamLayer class 0x80", func() { m.StreamLayer(oneWay) })
}
