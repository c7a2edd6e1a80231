package internode

import (
	"bufio"
	"context"
	"errors"
	"testing"
	"time"
)

// A stream the peer closed for idling is not reused: the next request
// opens a new one and succeeds (reusing it would lose the request, and a
// write would look sent: "outcome unknown").
func TestPooledStreamClosedByPeerIsNotReused(t *testing.T) {
	a := newMesh(t, nil)
	b := newMesh(t, func(c *Config) { c.StreamIdleTimeout = 200 * time.Millisecond })
	b.Handle(ClassForward, echo)
	ctx := ctxTimeout(t, 10*time.Second)

	if _, err := a.Request(ctx, b.Addr(), ClassForward, []byte("one")); err != nil {
		t.Fatal(err)
	}
	key := poolKey{b.Addr(), ClassForward}
	a.pool.mu.Lock()
	pooled := a.pool.idle[key]
	a.pool.mu.Unlock()
	if len(pooled) != 1 {
		t.Fatalf("%d streams pooled after one request, want 1", len(pooled))
	}
	ps := pooled[0]
	waitFor(t, 5*time.Second, "b to close the idle stream", func() bool { return !ps.open() })
	// a's pool still holds it (its own idle bound is a's config's).
	if got, err := a.Request(ctx, b.Addr(), ClassForward, []byte("two")); err != nil || string(got) != "two" {
		t.Fatalf("request after the peer closed the pooled stream: %q, %v", got, err)
	}
	if out := a.Stats().Classes[ClassForward].StreamsOut; out != 2 {
		t.Fatalf("StreamsOut = %d, want 2 (the closed stream replaced)", out)
	}
}

// A request whose caller gave up leaves its stream unusable (the reply may
// still come): it is closed, not pooled, and the next request works.
func TestCancelledRequestStreamIsNotReused(t *testing.T) {
	a, b := newMesh(t, nil), newMesh(t, nil)
	release := make(chan struct{})
	b.Handle(ClassForward, func(ctx context.Context, req []byte) ([]byte, error) {
		if string(req) == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return req, nil
	})
	defer close(release)
	ctx := ctxTimeout(t, 10*time.Second)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := a.Request(short, b.Addr(), ClassForward, []byte("slow")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow request: %v, want DeadlineExceeded", err)
	}
	if n := len(a.pool.idle[poolKey{b.Addr(), ClassForward}]); n != 0 {
		t.Fatalf("%d streams pooled after a cancelled request, want 0", n)
	}
	for _, msg := range []string{"a", "b"} {
		if got, err := a.Request(ctx, b.Addr(), ClassForward, []byte(msg)); err != nil || string(got) != msg {
			t.Fatalf("request %q after a cancelled one: %q, %v", msg, got, err)
		}
	}
	if out := a.Stats().Classes[ClassForward].StreamsOut; out != 2 {
		t.Fatalf("StreamsOut = %d, want 2 (one dropped with the cancelled request, one reused)", out)
	}
}

// A kept-open stream whose next head byte is another class is dropped and
// counted as malformed; the mesh goes on serving.
func TestKeptOpenStreamWithAnotherHeadIsMalformed(t *testing.T) {
	a, b := newMesh(t, nil), newMesh(t, nil)
	b.Handle(ClassForward, echo)
	b.Handle(ClassHash, echo)
	ctx := ctxTimeout(t, 10*time.Second)
	sc, err := a.openStream(ctx, b.Addr(), ClassForward)
	if err != nil {
		t.Fatal(err)
	}
	ps := &pooledStream{sc: sc, br: bufio.NewReaderSize(sc, 64)}
	if got, reuse, err := a.exchange(ctx, ps, ClassForward, []byte("x")); err != nil || !reuse || string(got) != "x" {
		t.Fatalf("first exchange: %q reuse=%v %v", got, reuse, err)
	}
	if _, _, err := a.exchange(ctx, ps, ClassHash, []byte("y")); err == nil {
		t.Fatal("a request of another class on the stream was answered")
	}
	_ = sc.Close()
	waitFor(t, 5*time.Second, "the stream counted malformed", func() bool { return b.Stats().MalformedFrames == 1 })
	if got, err := a.Request(ctx, b.Addr(), ClassHash, []byte("z")); err != nil || string(got) != "z" {
		t.Fatalf("request after a malformed stream: %q, %v", got, err)
	}
}
