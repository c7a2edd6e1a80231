package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestErrorCodes(t *testing.T) {
	tests := map[string]struct {
		err  error
		code codes.Code
	}{
		"not found":        {fmt.Errorf("kv get: %w: key %q", cluster.ErrNotFound, "a"), codes.NotFound},
		"version mismatch": {fmt.Errorf("%w: key %q", cluster.ErrVersionMismatch, "a"), codes.Aborted},
		"invalid argument": {fmt.Errorf("%w: key: too long", cluster.ErrInvalidArgument), codes.InvalidArgument},
		"unavailable":      {fmt.Errorf("%w: no leader after 5s", cluster.ErrUnavailable), codes.Unavailable},
		"shutdown":         {cluster.ErrShutdown, codes.Unavailable},
		"deadline":         {fmt.Errorf("propose: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		"canceled":         {fmt.Errorf("propose: %w", context.Canceled), codes.Canceled},
		"other":            {errors.New("disk on fire"), codes.Internal},
		"lock held":        {fmt.Errorf("acquire %q: %w: held by n1/abcd", "jobs/x", cluster.ErrLockHeld), codes.AlreadyExists},
		"not holder":       {fmt.Errorf("release %q: %w", "jobs/x", cluster.ErrNotHolder), codes.FailedPrecondition},
		"wait expired":     {fmt.Errorf("acquire %q: %w after 1s", "jobs/x", cluster.ErrWaitExpired), codes.DeadlineExceeded},
		"no session":       {fmt.Errorf("%w: %q is not open on node n1", cluster.ErrNoSession, "n1/ff"), codes.FailedPrecondition},
	}
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	kv := pb.NewKVClient(s.conn)
	cl := pb.NewClusterClient(s.conn)
	lk := pb.NewLockClient(s.conn)
	ss := pb.NewSessionClient(s.conn)
	// Every RPC that reaches the node must translate its errors the same way.
	calls := map[string]func(context.Context) error{
		"Get": func(ctx context.Context) error {
			_, err := kv.Get(ctx, &pb.GetRequest{Key: "a"})
			return err
		},
		"List": func(ctx context.Context) error {
			_, err := kv.List(ctx, &pb.ListRequest{Prefix: "a"})
			return err
		},
		"Put": func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: "a", Value: []byte("v")})
			return err
		},
		"CompareAndSet": func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: "a", Value: []byte("v"), CasVersion: proto.Uint64(3)})
			return err
		},
		"Delete": func(ctx context.Context) error {
			_, err := kv.Delete(ctx, &pb.DeleteRequest{Key: "a"})
			return err
		},
		"Leave": func(ctx context.Context) error {
			_, err := cl.Leave(ctx, &pb.LeaveRequest{})
			return err
		},
		"Lock.Acquire": func(ctx context.Context) error {
			_, err := lk.Acquire(ctx, &pb.LockAcquireRequest{Pid: "n1/1", Name: "a"})
			return err
		},
		"Lock.Release": func(ctx context.Context) error {
			_, err := lk.Release(ctx, &pb.LockReleaseRequest{Pid: "n1/1", Name: "a"})
			return err
		},
		"Lock.Inspect": func(ctx context.Context) error {
			_, err := lk.Inspect(ctx, &pb.LockInspectRequest{Name: "a"})
			return err
		},
		"Lock.List": func(ctx context.Context) error {
			_, err := lk.List(ctx, &pb.LockListRequest{Prefix: "a"})
			return err
		},
		"Session.Connect": func(ctx context.Context) error {
			st, err := ss.Connect(ctx)
			if err != nil {
				return err
			}
			if err := st.Send(&pb.SessionRequest{Kind: &pb.SessionRequest_Open{Open: &pb.SessionOpen{}}}); err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			node.setErr(tc.err)
			for call, fn := range calls {
				err := fn(testCtx(t))
				st, ok := status.FromError(err)
				if !ok || st.Code() != tc.code {
					t.Fatalf("%s: err = %v, want code %s", call, err, tc.code)
				}
				// The error's text, cleaned: no package prefixes.
				if want := CleanMessage(tc.code, tc.err.Error()); st.Message() != want || strings.Contains(want, "cluster: ") {
					t.Fatalf("%s: message %q, want the error's clean text %q", call, st.Message(), want)
				}
			}
		})
	}
}

func TestRequestValidation(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	kv := pb.NewKVClient(s.conn)
	tests := map[string]struct {
		call  func(context.Context) error
		field string
	}{
		"get empty key": {func(ctx context.Context) error {
			_, err := kv.Get(ctx, &pb.GetRequest{})
			return err
		}, "key"},
		"get unknown mode": {func(ctx context.Context) error {
			_, err := kv.Get(ctx, &pb.GetRequest{Key: "a", Mode: pb.ReadMode(7)})
			return err
		}, "mode"},
		"list unknown mode": {func(ctx context.Context) error {
			_, err := kv.List(ctx, &pb.ListRequest{Mode: pb.ReadMode(-1)})
			return err
		}, "mode"},
		"put empty key": {func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Value: []byte("v")})
			return err
		}, "key"},
		"delete empty key": {func(ctx context.Context) error {
			_, err := kv.Delete(ctx, &pb.DeleteRequest{})
			return err
		}, "key"},
		"delete cas 0": {func(ctx context.Context) error {
			_, err := kv.Delete(ctx, &pb.DeleteRequest{Key: "a", CasVersion: proto.Uint64(0)})
			return err
		}, "cas_version"},
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
}

func TestKVRoundTrip(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	kv := pb.NewKVClient(s.conn)
	ctx := testCtx(t)

	// cas_version 0 = create only if absent: goes to CompareAndSet.
	put, err := kv.Put(ctx, &pb.PutRequest{Key: "a/1", Value: []byte("one"), CasVersion: proto.Uint64(0)})
	if err != nil {
		t.Fatalf("create-if-absent: %v", err)
	}
	if call, _, _ := node.calls(); call != "cas" {
		t.Fatalf("cas_version 0 went to %q, want cas", call)
	}
	if _, err := kv.Put(ctx, &pb.PutRequest{Key: "a/1", Value: []byte("again"), CasVersion: proto.Uint64(0)}); status.Code(err) != codes.Aborted {
		t.Fatalf("second create-if-absent = %v, want Aborted", err)
	}
	// No cas_version: unconditional put.
	put2, err := kv.Put(ctx, &pb.PutRequest{Key: "a/1", Value: []byte("uno")})
	if err != nil {
		t.Fatal(err)
	}
	if call, _, _ := node.calls(); call != "put" {
		t.Fatalf("put without cas_version went to %q", call)
	}
	e := put2.GetEntry()
	if e.GetVersion() <= put.GetEntry().GetVersion() || e.GetCreateIndex() != put.GetEntry().GetVersion() || string(e.GetValue()) != "uno" {
		t.Fatalf("put returned %v after %v", e, put.GetEntry())
	}
	if _, err := kv.Put(ctx, &pb.PutRequest{Key: "a/2", Value: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, &pb.PutRequest{Key: "b", Value: []byte{0xff}}); err != nil {
		t.Fatal(err)
	}

	got, err := kv.Get(ctx, &pb.GetRequest{Key: "a/1", Mode: pb.ReadMode_READ_MODE_CONSISTENT})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.GetEntry(), e) {
		t.Fatalf("get = %v, want %v", got.GetEntry(), e)
	}
	if _, mode, _ := node.calls(); mode != cluster.ReadConsistent {
		t.Fatalf("node saw mode %v, want consistent", mode)
	}

	list, err := kv.List(ctx, &pb.ListRequest{Prefix: "a/", Limit: 5, Mode: pb.ReadMode_READ_MODE_STALE})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list.GetEntries()); n != 2 || list.GetEntries()[0].GetKey() != "a/1" || list.GetEntries()[1].GetKey() != "a/2" {
		t.Fatalf("list a/ = %v", list.GetEntries())
	}
	if _, mode, limit := node.calls(); mode != cluster.ReadStale || limit != 5 {
		t.Fatalf("node saw mode %v limit %d, want stale 5", mode, limit)
	}

	if _, err := kv.Delete(ctx, &pb.DeleteRequest{Key: "a/1", CasVersion: proto.Uint64(e.GetVersion() + 100)}); status.Code(err) != codes.Aborted {
		t.Fatalf("conditional delete at a wrong version = %v, want Aborted", err)
	}
	if _, err := kv.Delete(ctx, &pb.DeleteRequest{Key: "a/1", CasVersion: proto.Uint64(e.GetVersion())}); err != nil {
		t.Fatalf("conditional delete: %v", err)
	}
	_, err = kv.Get(ctx, &pb.GetRequest{Key: "a/1"})
	if status.Code(err) != codes.NotFound || !strings.Contains(status.Convert(err).Message(), `"a/1"`) {
		t.Fatalf("get after delete = %v, want NotFound naming the key", err)
	}
}

func TestClusterService(t *testing.T) {
	node := newFakeNode("n1")
	node.members = []cluster.Member{{
		Name: "n1", Addr: "10.0.0.1:7946", State: "alive", FailureDomain: "az1", Priority: -3,
		Eligible: true, RoleHint: "auto", RaftRole: "voter", InternodeAddr: "10.0.0.1:7950",
		APIAddr: "10.0.0.1:7940", HTTPAddr: "10.0.0.1:7941", Leader: true, ClusterID: "c-1",
	}, {Name: "n2", State: "suspect"}}
	node.raft = cluster.RaftStatus{
		Node: "n1", State: "follower", Term: 7, LeaderID: "n2", LeaderAddr: "10.0.0.2:7950",
		ClusterID: "c-1", CommitIndex: 40, AppliedIndex: 39, LastIndex: 41, LastContact: 1500 * time.Millisecond,
		Servers: []cluster.RaftServer{{ID: "n1", Address: "10.0.0.1:7950", Suffrage: "voter"}, {ID: "n2", Address: "10.0.0.2:7950", Suffrage: "voter", Leader: true}},
	}
	s := startServer(t, node.services())
	cl := pb.NewClusterClient(s.conn)
	ctx := testCtx(t)

	members, err := cl.Members(ctx, &pb.MembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantMember := &pb.Member{
		Name: "n1", Addr: "10.0.0.1:7946", State: "alive", FailureDomain: "az1", Priority: -3,
		Eligible: true, RoleHint: "auto", RaftRole: "voter", InternodeAddr: "10.0.0.1:7950",
		ApiAddr: "10.0.0.1:7940", HttpAddr: "10.0.0.1:7941", Leader: true, ClusterId: "c-1",
	}
	if len(members.GetMembers()) != 2 || !proto.Equal(members.GetMembers()[0], wantMember) {
		t.Fatalf("members = %v, want first %v", members.GetMembers(), wantMember)
	}

	rs, err := cl.RaftStatus(ctx, &pb.RaftStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantRaft := &pb.RaftStatus{
		Node: "n1", State: "follower", Term: 7, LeaderId: "n2", LeaderAddr: "10.0.0.2:7950",
		ClusterId: "c-1", CommitIndex: 40, AppliedIndex: 39, LastIndex: 41,
		LastContact: durationpb.New(1500 * time.Millisecond),
		Servers:     []*pb.RaftServer{{Id: "n1", Address: "10.0.0.1:7950", Suffrage: "voter"}, {Id: "n2", Address: "10.0.0.2:7950", Suffrage: "voter", Leader: true}},
	}
	if !proto.Equal(rs.GetStatus(), wantRaft) {
		t.Fatalf("raft status = %v, want %v", rs.GetStatus(), wantRaft)
	}

	left, err := cl.Leave(ctx, &pb.LeaveRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if left.GetNode() != "n1" || node.left != 1 {
		t.Fatalf("leave answered %q, node left %d times", left.GetNode(), node.left)
	}
}

func TestHandlerPanicIsInternal(t *testing.T) {
	s := startServer(t, newFakeNode("n1").services())
	kv := pb.NewKVClient(s.conn)
	_, err := kv.Get(testCtx(t), &pb.GetRequest{Key: "panic"})
	if status.Code(err) != codes.Internal {
		t.Fatalf("panicking handler = %v, want Internal", err)
	}
	// The server survived.
	if _, err := kv.Get(testCtx(t), &pb.GetRequest{Key: "missing"}); status.Code(err) != codes.NotFound {
		t.Fatalf("after panic: %v, want NotFound", err)
	}
}

func TestOversizeRequestRejected(t *testing.T) {
	s := startServer(t, newFakeNode("n1").services())
	kv := pb.NewKVClient(s.conn)
	big := make([]byte, DefaultLocalConfig().MaxRecvMsgBytes+1)
	_, err := kv.Put(testCtx(t), &pb.PutRequest{Key: "big", Value: big})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversize put = %v, want ResourceExhausted", err)
	}
}
