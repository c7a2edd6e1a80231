package api

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

func openMsg(ttl time.Duration) *pb.SessionRequest {
	open := &pb.SessionOpen{}
	if ttl != 0 {
		open.Ttl = durationpb.New(ttl)
	}
	return &pb.SessionRequest{Kind: &pb.SessionRequest_Open{Open: open}}
}

func keepaliveMsg() *pb.SessionRequest {
	return &pb.SessionRequest{Kind: &pb.SessionRequest_Keepalive{Keepalive: &pb.SessionKeepalive{}}}
}

// connect opens a Connect stream on its own cancellable ctx and completes
// the handshake.
func connect(t *testing.T, conn *grpc.ClientConn, ttl time.Duration) (pb.Session_ConnectClient, *pb.SessionOpened, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	st, err := pb.NewSessionClient(conn).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(openMsg(ttl)); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	opened := resp.GetOpened()
	if opened == nil {
		t.Fatalf("first response = %v, want opened", resp)
	}
	return st, opened, cancel
}

// recvStatus reads until the stream fails and returns the status.
func recvStatus(t *testing.T, st pb.Session_ConnectClient) *status.Status {
	t.Helper()
	for {
		resp, err := st.Recv()
		if err != nil {
			return status.Convert(err)
		}
		if resp.GetEvent() == nil {
			t.Fatalf("unexpected response %v", resp)
		}
	}
}

func TestSessionConnect(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	st, opened, cancel := connect(t, s.conn, 3*time.Second)
	defer cancel()

	sess := node.session(0)
	if sess == nil || opened.GetPid() != sess.pid || opened.GetTtl().AsDuration() != 3*time.Second || sess.ttl != 3*time.Second {
		t.Fatalf("opened %v, node session %+v", opened, sess)
	}

	// Every client message restarts the TTL.
	for range 3 {
		if err := st.Send(keepaliveMsg()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, func() bool { return sess.keepalives.Load() == 3 })

	// Every session event reaches the client, translated.
	events := []struct {
		in   cluster.SessionEvent
		kind pb.SessionEvent_Kind
	}{
		{cluster.SessionEvent{Kind: cluster.EventLockGranted, Lock: "jobs/a", Token: 11}, pb.SessionEvent_LOCK_GRANTED},
		{cluster.SessionEvent{Kind: cluster.EventLockAtRisk, Lock: "jobs/a", Token: 11, Detail: "no contact for 5s"}, pb.SessionEvent_LOCK_AT_RISK},
		{cluster.SessionEvent{Kind: cluster.EventLockSafe, Lock: "jobs/a", Token: 11}, pb.SessionEvent_LOCK_SAFE},
		{cluster.SessionEvent{Kind: cluster.EventLockLost, Lock: "jobs/a", Token: 11, Detail: "released"}, pb.SessionEvent_LOCK_LOST},
		{cluster.SessionEvent{Kind: "from_the_future", Lock: "jobs/b"}, pb.SessionEvent_KIND_UNSPECIFIED},
	}
	for _, ev := range events {
		sess.emit(ev.in)
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		want := &pb.SessionEvent{Kind: ev.kind, Lock: ev.in.Lock, Token: ev.in.Token, Detail: ev.in.Detail}
		if !proto.Equal(resp.GetEvent(), want) {
			t.Fatalf("event %v, want %v", resp.GetEvent(), want)
		}
	}

	// The session holds a lock; closing the stream releases it.
	lk := pb.NewLockClient(s.conn)
	if _, err := lk.Acquire(testCtx(t), &pb.LockAcquireRequest{Pid: opened.GetPid(), Name: "jobs/a"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	// The server answers the half-close only after the release.
	if _, err := st.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after CloseSend: %v, want a clean end (EOF)", err)
	}
	if sess.closes.Load() != 1 || !sess.ended() {
		t.Fatalf("session closed %d times, ended %v", sess.closes.Load(), sess.ended())
	}
	if _, err := lk.Inspect(testCtx(t), &pb.LockInspectRequest{Name: "jobs/a"}); status.Code(err) != codes.NotFound {
		t.Fatalf("lock after the stream ended: %v, want NotFound", err)
	}
	// No goroutine of the stream outlives it.
	waitFor(t, 5*time.Second, func() bool { return s.srv.streams.running() == 0 })
}

func TestSessionDefaultTTL(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	_, opened, cancel := connect(t, s.conn, 0)
	defer cancel()
	if opened.GetTtl().AsDuration() != 10*time.Second {
		t.Fatalf("opened with no ttl: %v, want the node's default", opened.GetTtl().AsDuration())
	}
}

func TestSessionCancelClosesSession(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	_, _, cancel := connect(t, s.conn, 0)
	sess := node.session(0)
	cancel()
	waitFor(t, 5*time.Second, func() bool { return sess.closes.Load() == 1 && node.openSessions() == 0 })
	waitFor(t, 5*time.Second, func() bool { return s.srv.streams.running() == 0 })
}

func TestSessionExpiryIsAborted(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	const ttl = 50 * time.Millisecond
	st, opened, cancel := connect(t, s.conn, ttl)
	defer cancel()
	start := time.Now()
	sess := node.session(0)
	// The node's reaper ends a session only once the TTL has passed
	// without a keepalive; so does this test.
	waitFor(t, 5*time.Second, func() bool { return time.Since(start) > ttl })
	sess.emit(cluster.SessionEvent{Kind: cluster.EventLockLost, Lock: "jobs/a", Token: 4})
	sess.expire()

	// The event queued before the end arrives before the status.
	resp, err := st.Recv()
	if err != nil || resp.GetEvent().GetKind() != pb.SessionEvent_LOCK_LOST {
		t.Fatalf("first after expiry: %v, %v; want the lost event", resp, err)
	}
	got := recvStatus(t, st)
	want := "session " + opened.GetPid() + " expired (no keepalive for 50ms)"
	if got.Code() != codes.Aborted || got.Message() != want {
		t.Fatalf("status %v, want Aborted %q", got, want)
	}
	waitFor(t, 5*time.Second, func() bool { return s.srv.streams.running() == 0 })
}

func TestSessionEndedByNodeIsUnavailable(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	st, opened, cancel := connect(t, s.conn, time.Minute)
	defer cancel()
	node.session(0).expire() // well within its TTL: the node ended it
	got := recvStatus(t, st)
	if got.Code() != codes.Unavailable || got.Message() != "session "+opened.GetPid()+" ended by node n1" {
		t.Fatalf("status %v, want Unavailable naming the session and node", got)
	}
}

func TestSessionProtocolErrors(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	client := pb.NewSessionClient(s.conn)
	tests := map[string]struct {
		msgs  []*pb.SessionRequest
		field string
	}{
		"keepalive first":   {[]*pb.SessionRequest{keepaliveMsg()}, "open"},
		"empty first":       {[]*pb.SessionRequest{{}}, "open"},
		"negative ttl":      {[]*pb.SessionRequest{openMsg(-time.Second)}, "ttl"},
		"invalid ttl":       {[]*pb.SessionRequest{{Kind: &pb.SessionRequest_Open{Open: &pb.SessionOpen{Ttl: &durationpb.Duration{Seconds: 1, Nanos: -5}}}}}, "ttl"},
		"no message at all": {nil, "open"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st, err := client.Connect(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.msgs {
				if err := st.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.CloseSend(); err != nil {
				t.Fatal(err)
			}
			got := recvStatus(t, st)
			if got.Code() != codes.InvalidArgument || !strings.HasPrefix(got.Message(), tc.field+": ") {
				t.Fatalf("status %v, want InvalidArgument naming %q", got, tc.field)
			}
		})
	}
	if node.session(0) != nil {
		t.Fatal("a refused handshake opened a session")
	}

	// A second open on an open session ends the stream, and the session.
	st, opened, cancel := connect(t, s.conn, 0)
	defer cancel()
	if err := st.Send(openMsg(0)); err != nil {
		t.Fatal(err)
	}
	got := recvStatus(t, st)
	if got.Code() != codes.InvalidArgument || !strings.HasPrefix(got.Message(), "open: ") || !strings.Contains(got.Message(), opened.GetPid()) {
		t.Fatalf("second open: %v, want InvalidArgument naming open and the pid", got)
	}
	if sess := node.session(0); sess.closes.Load() != 1 {
		t.Fatalf("session closed %d times after the protocol error", sess.closes.Load())
	}
}

func TestSessionStreamsEndWhenServerStops(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	st, _, cancel := connect(t, s.conn, time.Minute)
	defer cancel()
	sess := node.session(0)

	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	// Without ending the streams itself, a graceful stop would wait out
	// the whole shutdown timeout for a stream that never ends.
	if took := time.Since(start); took >= DefaultLocalConfig().ShutdownTimeout {
		t.Fatalf("graceful stop took %s with a session open", took)
	}
	if got := recvStatus(t, st); got.Code() != codes.Unavailable {
		t.Fatalf("stream after stop: %v, want Unavailable", got)
	}
	if sess.closes.Load() != 1 || s.srv.streams.running() != 0 {
		t.Fatalf("after stop: session closed %d times, %d stream goroutines left", sess.closes.Load(), s.srv.streams.running())
	}
}

func TestSessionOpenError(t *testing.T) {
	node := newFakeNode("n1")
	node.setErr(cluster.ErrShutdown)
	s := startServer(t, node.services())
	st, err := pb.NewSessionClient(s.conn).Connect(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(openMsg(0)); err != nil {
		t.Fatal(err)
	}
	if got := recvStatus(t, st); got.Code() != codes.Unavailable || got.Message() != "node shut down" {
		t.Fatalf("open on a stopped node: %v", got)
	}
}
