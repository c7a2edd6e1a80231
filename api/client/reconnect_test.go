package client

import (
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// serveOn serves a fake agent on addr (a fixed port) until the returned
// stop is called; stop returns once the server is down.
func serveOn(t *testing.T, addr string) (stop func()) {
	t.Helper()
	var (
		ln  net.Listener
		err error
	)
	// The port was just released by the previous server: bind may need a
	// moment on some kernels.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterClusterServer(srv, &fakeAgent{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return func() {
		srv.Stop()
		<-done
	}
}

// TestReconnectAfterAgentRestart: an existing Client whose agent was down
// long enough for grpc-go's default backoff to reach several seconds gets
// its first successful call back within about a second of the agent
// serving again on the same port.
func TestReconnectAfterAgentRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()

	stop := serveOn(t, addr)
	c, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Members(ctx(t)); err != nil {
		t.Fatalf("members before the restart: %v", err)
	}
	stop()

	// The agent stays down for 6 s while the application keeps calling:
	// with the default backoff the channel would by then wait 3-4 s
	// between dials.
	down := time.Now()
	failed := 0
	for time.Since(down) < 6*time.Second {
		if _, err := c.Members(ctx(t)); err == nil {
			t.Fatal("members succeeded with the agent down")
		} else if !IsUnavailable(err) {
			t.Fatalf("members with the agent down = %v, want Unavailable", err)
		}
		failed++
		time.Sleep(50 * time.Millisecond) // the application's own pace, not synchronisation
	}

	stop = serveOn(t, addr)
	defer stop()
	up := time.Now()
	deadline := up.Add(10 * time.Second)
	for {
		_, err := c.Members(ctx(t))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful call 10 s after the agent came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(up)
	t.Logf("first successful call %s after the agent served again (%d failed calls while down)", took.Round(time.Millisecond), failed)
	// MaxDelay 800 ms + 20 % jitter, plus the dial; generous for -race on
	// a loaded machine.
	if took > 1500*time.Millisecond {
		t.Fatalf("reconnect took %s, want under 1.5 s", took)
	}
}
