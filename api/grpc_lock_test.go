package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

func TestLockRoundTrip(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	lk := pb.NewLockClient(s.conn)
	ctx := testCtx(t)
	_, a, cancelA := connect(t, s.conn, 0)
	defer cancelA()
	_, b, cancelB := connect(t, s.conn, 0)
	defer cancelB()

	got, err := lk.Acquire(ctx, &pb.LockAcquireRequest{Pid: a.GetPid(), Name: "jobs/x", LockDelay: durationpb.New(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if opts := node.lk.lastAcquire; opts != (cluster.AcquireOptions{LockDelay: 2 * time.Second}) || node.lk.lastPID != a.GetPid() {
		t.Fatalf("node saw %+v for %q", opts, node.lk.lastPID)
	}
	token := got.GetToken()
	if again, err := lk.Acquire(ctx, &pb.LockAcquireRequest{Pid: a.GetPid(), Name: "jobs/x"}); err != nil || again.GetToken() != token {
		t.Fatalf("re-acquire by the holder = %v, %v; want the same token %d", again, err, token)
	}

	// Fail-fast: held is AlreadyExists, naming the holder.
	_, err = lk.Acquire(ctx, &pb.LockAcquireRequest{Pid: b.GetPid(), Name: "jobs/x"})
	if status.Code(err) != codes.AlreadyExists || !strings.Contains(status.Convert(err).Message(), "held by "+a.GetPid()) {
		t.Fatalf("acquire of a held lock = %v, want AlreadyExists naming %s", err, a.GetPid())
	}
	if _, err := lk.Acquire(ctx, &pb.LockAcquireRequest{Pid: "n1/nosuch", Name: "jobs/y"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("acquire by an unknown session = %v, want FailedPrecondition", err)
	}

	info, err := lk.Inspect(ctx, &pb.LockInspectRequest{Name: "jobs/x", Mode: pb.ReadMode_READ_MODE_CONSISTENT})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.LockInfo{
		Name: "jobs/x", Holder: a.GetPid(), Token: token,
		GrantedAt: timestamppb.New(time.Unix(1700000000, 0)), LockDelay: durationpb.New(2 * time.Second),
		// DelayUntil: unset while no delay runs (not year 1).
	}
	if !proto.Equal(info.GetLock(), want) {
		t.Fatalf("inspect = %v, want %v", info.GetLock(), want)
	}
	if _, mode, _ := node.calls(); mode != cluster.ReadConsistent {
		t.Fatalf("inspect read in mode %v, want consistent", mode)
	}

	if _, err := lk.Acquire(ctx, &pb.LockAcquireRequest{Pid: b.GetPid(), Name: "jobs/y"}); err != nil {
		t.Fatal(err)
	}
	if _, err := lk.Acquire(ctx, &pb.LockAcquireRequest{Pid: b.GetPid(), Name: "other"}); err != nil {
		t.Fatal(err)
	}
	list, err := lk.List(ctx, &pb.LockListRequest{Prefix: "jobs/", Mode: pb.ReadMode_READ_MODE_STALE})
	if err != nil {
		t.Fatal(err)
	}
	if ls := list.GetLocks(); len(ls) != 2 || ls[0].GetName() != "jobs/x" || ls[1].GetName() != "jobs/y" || ls[1].GetHolder() != b.GetPid() {
		t.Fatalf("list jobs/ = %v", ls)
	}
	if _, mode, _ := node.calls(); mode != cluster.ReadStale {
		t.Fatalf("list read in mode %v, want stale", mode)
	}

	// Only the holder releases.
	if _, err := lk.Release(ctx, &pb.LockReleaseRequest{Pid: b.GetPid(), Name: "jobs/x"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("release by a non-holder = %v, want FailedPrecondition", err)
	}
	if _, err := lk.Release(ctx, &pb.LockReleaseRequest{Pid: a.GetPid(), Name: "jobs/x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := lk.Inspect(ctx, &pb.LockInspectRequest{Name: "jobs/x"}); status.Code(err) != codes.NotFound {
		t.Fatalf("inspect after release = %v, want NotFound", err)
	}
}

func TestLockAcquireWaits(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	lk := pb.NewLockClient(s.conn)
	_, a, cancelA := connect(t, s.conn, 0)
	defer cancelA()
	_, b, cancelB := connect(t, s.conn, 0)
	defer cancelB()
	first, err := lk.Acquire(testCtx(t), &pb.LockAcquireRequest{Pid: a.GetPid(), Name: "q"})
	if err != nil {
		t.Fatal(err)
	}

	// A queued acquire blocks until the holder lets go; only the wait and
	// the client's deadline bound it.
	type result struct {
		resp *pb.LockAcquireResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := lk.Acquire(testCtx(t), &pb.LockAcquireRequest{Pid: b.GetPid(), Name: "q", Wait: durationpb.New(time.Minute)})
		done <- result{resp, err}
	}()
	waitFor(t, 5*time.Second, func() bool { return node.waiters("q") == 1 })
	info, err := lk.Inspect(testCtx(t), &pb.LockInspectRequest{Name: "q"})
	if err != nil {
		t.Fatal(err)
	}
	wantWaiter := &pb.LockWaiter{Pid: b.GetPid(), Deadline: timestamppb.New(time.Unix(1700000100, 0))}
	if ws := info.GetLock().GetWaiters(); len(ws) != 1 || !proto.Equal(ws[0], wantWaiter) {
		t.Fatalf("waiters = %v, want %v", ws, wantWaiter)
	}
	if _, err := lk.Release(testCtx(t), &pb.LockReleaseRequest{Pid: a.GetPid(), Name: "q"}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.resp.GetToken() <= first.GetToken() {
		t.Fatalf("queued acquire = %v, %v; want a token above %d", r.resp, r.err, first.GetToken())
	}

	// A wait that runs out is DeadlineExceeded from the node, not the
	// client's deadline.
	_, err = lk.Acquire(testCtx(t), &pb.LockAcquireRequest{Pid: a.GetPid(), Name: "q", Wait: durationpb.New(20 * time.Millisecond)})
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(status.Convert(err).Message(), "wait expired") {
		t.Fatalf("expired wait = %v, want DeadlineExceeded from the node", err)
	}
}

func TestLockRequestValidation(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	lk := pb.NewLockClient(s.conn)
	tests := map[string]struct {
		call  func(context.Context) error
		field string
	}{
		"acquire empty pid": {func(ctx context.Context) error {
			_, err := lk.Acquire(ctx, &pb.LockAcquireRequest{Name: "a"})
			return err
		}, "pid"},
		"acquire negative wait": {func(ctx context.Context) error {
			_, err := lk.Acquire(ctx, &pb.LockAcquireRequest{Pid: "n1/1", Name: "a", Wait: durationpb.New(-time.Second)})
			return err
		}, "wait"},
		"acquire malformed wait": {func(ctx context.Context) error {
			_, err := lk.Acquire(ctx, &pb.LockAcquireRequest{Pid: "n1/1", Name: "a", Wait: &durationpb.Duration{Nanos: 2e9}})
			return err
		}, "wait"},
		"acquire negative lock_delay": {func(ctx context.Context) error {
			_, err := lk.Acquire(ctx, &pb.LockAcquireRequest{Pid: "n1/1", Name: "a", LockDelay: durationpb.New(-time.Millisecond)})
			return err
		}, "lock_delay"},
		"release empty pid": {func(ctx context.Context) error {
			_, err := lk.Release(ctx, &pb.LockReleaseRequest{Name: "a"})
			return err
		}, "pid"},
		"inspect unknown mode": {func(ctx context.Context) error {
			_, err := lk.Inspect(ctx, &pb.LockInspectRequest{Name: "a", Mode: pb.ReadMode(9)})
			return err
		}, "mode"},
		"list unknown mode": {func(ctx context.Context) error {
			_, err := lk.List(ctx, &pb.LockListRequest{Mode: pb.ReadMode(-2)})
			return err
		}, "mode"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.call(testCtx(t))
			st, _ := status.FromError(err)
			if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), tc.field+": ") {
				t.Fatalf("err = %v, want InvalidArgument naming %q", err, tc.field)
			}
		})
	}
	if call, _, _ := node.calls(); call != "" {
		t.Fatalf("an invalid request reached the node (%s)", call)
	}
	// The node judges names: its InvalidArgument passes through.
	_, err := lk.Acquire(testCtx(t), &pb.LockAcquireRequest{Pid: "n1/1"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "name") {
		t.Fatalf("acquire with no name = %v, want the node's InvalidArgument", err)
	}
}
