package client

import (
	"context"
	"errors"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// lockAgent is a small Session + Lock server: each Connect stream is
// driven by the test through the agentStream it publishes on streams.
type lockAgent struct {
	pb.UnimplementedSessionServer
	pb.UnimplementedLockServer

	streams chan *agentStream
	// holdOpen, when set, delays the answer to open until it is closed.
	holdOpen chan struct{}

	mu          sync.Mutex
	lastAcquire *pb.LockAcquireRequest
	lastRelease *pb.LockReleaseRequest
	lastInspect *pb.LockInspectRequest
	lastList    *pb.LockListRequest
}

// agentStream is one session as the fake agent sees it.
type agentStream struct {
	ttl        *durationpb.Duration
	send       chan *pb.SessionEvent // events to push
	end        chan error            // a status to end the stream with
	keepalives atomic.Int64
	closed     chan struct{} // the client half-closed
}

func (f *lockAgent) Connect(stream pb.Session_ConnectServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	open := first.GetOpen()
	if open == nil {
		return status.Error(codes.InvalidArgument, "open: the first message must be open")
	}
	if open.GetTtl().AsDuration() < 0 {
		return status.Error(codes.InvalidArgument, "ttl: must not be negative")
	}
	if f.holdOpen != nil {
		select {
		case <-f.holdOpen:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
	ttl := open.GetTtl()
	if ttl == nil {
		ttl = durationpb.New(10 * time.Second)
	}
	as := &agentStream{ttl: open.GetTtl(), send: make(chan *pb.SessionEvent), end: make(chan error, 1), closed: make(chan struct{})}
	if err := stream.Send(&pb.SessionResponse{Kind: &pb.SessionResponse_Opened{Opened: &pb.SessionOpened{Pid: "n1/0001", Ttl: ttl}}}); err != nil {
		return err
	}
	go func() {
		defer close(as.closed)
		for {
			msg, err := stream.Recv()
			if err != nil {
				return
			}
			if msg.GetKeepalive() != nil {
				as.keepalives.Add(1)
			}
		}
	}()
	f.streams <- as
	for {
		select {
		case ev := <-as.send:
			if err := stream.Send(&pb.SessionResponse{Kind: &pb.SessionResponse_Event{Event: ev}}); err != nil {
				return err
			}
		case err := <-as.end:
			return err
		case <-as.closed:
			return nil // the client's Close: a clean end
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

func (f *lockAgent) Acquire(_ context.Context, req *pb.LockAcquireRequest) (*pb.LockAcquireResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastAcquire = req
	if req.GetName() == "held" {
		return nil, status.Error(codes.AlreadyExists, `cluster: lock held: "held" held by n2/beef`)
	}
	return &pb.LockAcquireResponse{Token: 7}, nil
}

func (f *lockAgent) Release(_ context.Context, req *pb.LockReleaseRequest) (*pb.LockReleaseResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastRelease = req
	if req.GetName() != "a" {
		return nil, status.Error(codes.FailedPrecondition, "cluster: not the holder")
	}
	return &pb.LockReleaseResponse{}, nil
}

var (
	grantedAt = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	deadline  = grantedAt.Add(30 * time.Second)
)

func (f *lockAgent) Inspect(_ context.Context, req *pb.LockInspectRequest) (*pb.LockInspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastInspect = req
	if req.GetName() != "a" {
		return nil, status.Error(codes.NotFound, "cluster: not found")
	}
	return &pb.LockInspectResponse{Lock: &pb.LockInfo{
		Name: "a", Holder: "n1/0001", Token: 7, GrantedAt: timestamppb.New(grantedAt),
		LockDelay: durationpb.New(time.Second),
		Waiters:   []*pb.LockWaiter{{Pid: "n2/beef", Deadline: timestamppb.New(deadline)}},
	}}, nil
}

func (f *lockAgent) List(_ context.Context, req *pb.LockListRequest) (*pb.LockListResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastList = req
	return &pb.LockListResponse{Locks: []*pb.LockInfo{{Name: "p/1", Token: 3}, {Name: "p/2", DelayUntil: timestamppb.New(deadline)}}}, nil
}

func startLockAgent(t *testing.T, holdOpen chan struct{}) (*lockAgent, *Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &lockAgent{streams: make(chan *agentStream, 4), holdOpen: holdOpen}
	srv := grpc.NewServer()
	pb.RegisterSessionServer(srv, f)
	pb.RegisterLockServer(srv, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	c, err := New(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		srv.Stop()
		<-done
	})
	return f, c
}

func nextStream(t *testing.T, f *lockAgent) *agentStream {
	t.Helper()
	select {
	case as := <-f.streams:
		return as
	case <-time.After(10 * time.Second):
		t.Fatal("the agent saw no session stream")
		return nil
	}
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("condition not met within %s", timeout)
		case <-tick.C:
		}
	}
}

func nextEvent(t *testing.T, s *Session) SessionEvent {
	t.Helper()
	select {
	case ev := <-s.Events():
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return SessionEvent{}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestSessionLifecycle(t *testing.T) {
	f, c := startLockAgent(t, nil)
	s, err := c.Session(ctx(t), WithTTL(150*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	as := nextStream(t, f)
	if as.ttl.AsDuration() != 150*time.Millisecond || s.PID() != "n1/0001" || s.TTL() != 150*time.Millisecond {
		t.Fatalf("agent saw ttl %v; session pid %q ttl %s", as.ttl.AsDuration(), s.PID(), s.TTL())
	}
	// Keepalives every TTL/3.
	waitFor(t, 5*time.Second, func() bool { return as.keepalives.Load() >= 3 })

	l, err := s.Lock(ctx(t), "a", Wait(2*time.Second), LockDelay(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	req := f.lastAcquire
	if l.Name() != "a" || l.Token() != 7 || req.GetPid() != "n1/0001" || req.GetName() != "a" ||
		req.GetWait().AsDuration() != 2*time.Second || req.GetLockDelay().AsDuration() != time.Second {
		t.Fatalf("lock %q token %d; agent saw %v", l.Name(), l.Token(), req)
	}
	if again, err := s.Lock(ctx(t), "a"); err != nil || again != l || f.lastAcquire.Wait != nil || f.lastAcquire.LockDelay != nil {
		t.Fatalf("re-lock = %p, %v (want the same Lock %p); sent %v", again, err, l, f.lastAcquire)
	}
	if _, err := s.Lock(ctx(t), "held"); !IsLockHeld(err) || IsNotHolder(err) {
		t.Fatalf("lock of a held lock = %v, want IsLockHeld", err)
	}

	// Events reach Events; only at-risk/lost for this grant close Lost.
	as.send <- &pb.SessionEvent{Kind: pb.SessionEvent_LOCK_LOST, Lock: "other", Token: 7}
	as.send <- &pb.SessionEvent{Kind: pb.SessionEvent_LOCK_AT_RISK, Lock: "a", Token: 6}
	as.send <- &pb.SessionEvent{Kind: pb.SessionEvent_LOCK_GRANTED, Lock: "a", Token: 7}
	for _, want := range []SessionEvent{
		{Kind: EventLockLost, Lock: "other", Token: 7},
		{Kind: EventLockAtRisk, Lock: "a", Token: 6},
		{Kind: EventLockGranted, Lock: "a", Token: 7},
	} {
		if got := nextEvent(t, s); !reflect.DeepEqual(got, want) {
			t.Fatalf("event %+v, want %+v", got, want)
		}
	}
	if isClosed(l.Lost()) {
		t.Fatal("Lost closed by events about another lock or another grant")
	}
	as.send <- &pb.SessionEvent{Kind: pb.SessionEvent_LOCK_AT_RISK, Lock: "a", Token: 7, Detail: "no contact"}
	if got := nextEvent(t, s); !reflect.DeepEqual(got, SessionEvent{Kind: EventLockAtRisk, Lock: "a", Token: 7, Detail: "no contact"}) {
		t.Fatalf("event %+v", got)
	}
	if !isClosed(l.Lost()) {
		t.Fatal("Lost still open after LOCK_AT_RISK for the grant")
	}

	if err := l.Unlock(ctx(t)); err != nil || f.lastRelease.GetPid() != "n1/0001" || f.lastRelease.GetName() != "a" {
		t.Fatalf("unlock: %v, sent %v", err, f.lastRelease)
	}

	// Close half-closes; the agent answers OK; everything stops.
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if !isClosed(as.closed) || !isClosed(s.Done()) || s.Err() != nil {
		t.Fatalf("after Close: agent saw close %v, done %v, err %v", isClosed(as.closed), isClosed(s.Done()), s.Err())
	}
	if _, ok := <-s.Events(); ok {
		t.Fatal("Events still open after Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Lock(ctx(t), "b"); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("lock on a closed session = %v, want ErrSessionEnded", err)
	}
}

func TestSessionEndsWithAgentStatus(t *testing.T) {
	f, c := startLockAgent(t, nil)
	s, err := c.Session(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	as := nextStream(t, f)
	l, err := s.Lock(ctx(t), "a")
	if err != nil {
		t.Fatal(err)
	}
	if s.Err() != nil {
		t.Fatalf("Err of an open session = %v", s.Err())
	}
	as.end <- status.Error(codes.Aborted, "session n1/0001 expired (no keepalive for 10s)")
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
	}
	if status.Code(s.Err()) != codes.Aborted || !isClosed(l.Lost()) {
		t.Fatalf("after expiry: err %v, lost %v", s.Err(), isClosed(l.Lost()))
	}
	if err := s.Close(); status.Code(err) != codes.Aborted {
		t.Fatalf("close after expiry = %v, want the reason it ended", err)
	}
}

func TestSessionOpenFailures(t *testing.T) {
	_, c := startLockAgent(t, nil)
	if _, err := c.Session(ctx(t), WithTTL(-time.Second)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("negative ttl = %v, want the agent's InvalidArgument", err)
	}

	hold := make(chan struct{})
	defer close(hold)
	_, c = startLockAgent(t, hold)
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Session(short); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("open past ctx's deadline = %v, want DeadlineExceeded", err)
	}
}

// TestLockLostBeforeRegistered covers an event that overtakes the Acquire
// response: it must still close the Lock's Lost.
func TestLockLostBeforeRegistered(t *testing.T) {
	f, c := startLockAgent(t, nil)
	s, err := c.Session(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nextStream(t, f)
	s.dispatch(SessionEvent{Kind: EventLockLost, Lock: "x", Token: 9})
	l, err := s.register("x", 9)
	if err != nil || !isClosed(l.Lost()) {
		t.Fatalf("register after its lost event: %v, lost %v", err, isClosed(l.Lost()))
	}
	// A later grant is not affected by the old event.
	l, err = s.register("x", 12)
	if err != nil || isClosed(l.Lost()) {
		t.Fatalf("a later grant: %v, lost %v", err, isClosed(l.Lost()))
	}
}

func TestEventsDropOldestWhenUnread(t *testing.T) {
	f, c := startLockAgent(t, nil)
	s, err := c.Session(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	as := nextStream(t, f)
	marker, err := s.register("marker", 1)
	if err != nil {
		t.Fatal(err)
	}
	const extra = 5
	for i := range sessionEventBuffer + extra {
		as.send <- &pb.SessionEvent{Kind: pb.SessionEvent_LOCK_SAFE, Lock: "a", Token: uint64(i)}
	}
	// The unread buffer never blocks the stream: an event sent after all
	// of them is still dispatched (events are handled in order).
	as.send <- &pb.SessionEvent{Kind: pb.SessionEvent_LOCK_LOST, Lock: "marker", Token: 1}
	waitFor(t, 5*time.Second, func() bool { return isClosed(marker.Lost()) })
	n := 0
	for len(s.Events()) > 0 {
		ev := <-s.Events()
		if ev.Lock == "a" && ev.Token < extra {
			t.Fatalf("event %d kept, want the oldest dropped", ev.Token)
		}
		n++
	}
	if n < sessionEventBuffer-1 {
		t.Fatalf("%d events buffered, want the newest %d", n, sessionEventBuffer)
	}
}

func TestLocksReadAndRelease(t *testing.T) {
	f, c := startLockAgent(t, nil)
	info, err := c.Locks().Inspect(ctx(t), "a", Consistent())
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "a" || info.Holder != "n1/0001" || info.Token != 7 || !info.GrantedAt.Equal(grantedAt) ||
		info.LockDelay != time.Second || !info.DelayUntil.IsZero() || len(info.Waiters) != 1 ||
		info.Waiters[0].PID != "n2/beef" || !info.Waiters[0].Deadline.Equal(deadline) {
		t.Fatalf("inspect = %+v", info)
	}
	if f.lastInspect.GetMode() != pb.ReadMode_READ_MODE_CONSISTENT {
		t.Fatalf("inspect sent mode %v", f.lastInspect.GetMode())
	}
	if _, err := c.Locks().Inspect(ctx(t), "free"); !IsNotFound(err) {
		t.Fatalf("inspect free = %v", err)
	}
	ls, err := c.Locks().List(ctx(t), "p/", Stale())
	if err != nil || len(ls) != 2 || ls[0].Name != "p/1" || !ls[0].GrantedAt.IsZero() || !ls[1].DelayUntil.Equal(deadline) {
		t.Fatalf("list = %+v, %v", ls, err)
	}
	if f.lastList.GetPrefix() != "p/" || f.lastList.GetMode() != pb.ReadMode_READ_MODE_STALE {
		t.Fatalf("list sent %v", f.lastList)
	}
	if err := c.Locks().Release(ctx(t), "n1/0001", "a"); err != nil || f.lastRelease.GetPid() != "n1/0001" {
		t.Fatalf("release: %v, sent %v", err, f.lastRelease)
	}
	if err := c.Locks().Release(ctx(t), "n1/0001", "b"); !IsNotHolder(err) || IsLockHeld(err) {
		t.Fatalf("release of a lock not held = %v, want only IsNotHolder", err)
	}
}
