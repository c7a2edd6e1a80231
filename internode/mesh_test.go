package internode

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestCloseWaitsForGoroutines runs every kind of traffic, closes with work
// in flight, and checks that the goroutine count returns to where it was.
func TestCloseWaitsForGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()

	cfg := DefaultLocalConfig()
	a, err := New(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{}, 4)
	b.Handle(ClassForward, func(ctx context.Context, req []byte) ([]byte, error) {
		if string(req) == "hang" {
			entered <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return req, nil
	})
	b.Handle(ClassGroups, func(ctx context.Context, req []byte) ([]byte, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return nil, nil
	})
	ta := raft.NewNetworkTransport(a.StreamLayer(ClassRaft), 3, time.Second, io.Discard)
	tb := raft.NewNetworkTransport(b.StreamLayer(ClassRaft), 3, time.Second, io.Discard)
	stopConsumer, consumerDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(consumerDone)
		for {
			select {
			case rpc := <-tb.Consumer():
				rpc.Respond(&raft.RequestVoteResponse{Granted: true}, nil)
			case <-stopConsumer:
				return
			}
		}
	}()

	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := a.Request(ctx, b.Addr(), ClassForward, []byte("x")); err != nil {
		t.Fatal(err)
	}
	var vote raft.RequestVoteResponse
	if err := ta.RequestVote("b", raft.ServerAddress(b.Addr()), &raft.RequestVoteRequest{Term: 1}, &vote); err != nil || !vote.Granted {
		t.Fatalf("RequestVote: %v %+v", err, vote)
	}
	// In flight at Close: a request whose handler waits, a one-way handler
	// that waits, and a connection stuck in its preamble.
	hung := make(chan error, 1)
	go func() {
		_, err := a.Request(ctx, b.Addr(), ClassForward, []byte("hang"))
		hung <- err
	}()
	if err := a.Send(ctx, b.Addr(), ClassGroups, nil); err != nil {
		t.Fatal(err)
	}
	<-entered
	<-entered
	silent, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitFor(t, 5*time.Second, "silent conn accepted", func() bool { return b.Stats().BytesIn > 0 })

	_ = ta.Close()
	_ = tb.Close()
	close(stopConsumer)
	<-consumerDone
	closed := make(chan struct{})
	go func() {
		_ = b.Close()
		_ = a.Close()
		_ = a.Close() // idempotent
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := <-hung; err == nil {
		t.Fatal("in-flight Request succeeded through Close")
	}
	// After Close: calls fail cleanly.
	if _, err := a.Request(ctx, b.Addr(), ClassForward, nil); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("Request after Close: %v", err)
	}
	if _, err := a.StreamLayer(ClassRaft).Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if l := a.StreamLayer(ClassAck); l == nil {
		t.Fatal("StreamLayer after Close")
	} else if _, err := l.Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("new layer's Accept after Close: %v", err)
	}
	_ = a.Stats()

	// yamux's keepalive goroutines and raft's connection handlers exit
	// asynchronously once their sessions are closed.
	waitFor(t, 5*time.Second, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= base
	})
}
