package client

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// fakeAgent is a small conclave.v1 server: the SDK under test talks to it
// over a real gRPC connection. It records what the SDK sent.
type fakeAgent struct {
	pb.UnimplementedClusterServer
	pb.UnimplementedKVServer

	mu      sync.Mutex
	lastGet *pb.GetRequest
	lastPut *pb.PutRequest
	lastDel *pb.DeleteRequest
	lastLst *pb.ListRequest
}

func (f *fakeAgent) Members(context.Context, *pb.MembersRequest) (*pb.MembersResponse, error) {
	return &pb.MembersResponse{Members: []*pb.Member{{
		Name: "n1", Addr: "10.0.0.1:7946", State: "alive", FailureDomain: "az1", Priority: 5,
		Eligible: true, RoleHint: "auto", RaftRole: "voter", InternodeAddr: "10.0.0.1:7950",
		ApiAddr: "10.0.0.1:7940", HttpAddr: "10.0.0.1:7941", Leader: true, ClusterId: "c-1",
	}}}, nil
}

func (f *fakeAgent) RaftStatus(context.Context, *pb.RaftStatusRequest) (*pb.RaftStatusResponse, error) {
	return &pb.RaftStatusResponse{Status: &pb.RaftStatus{
		Node: "n1", State: "leader", Term: 3, LeaderId: "n1", LeaderAddr: "10.0.0.1:7950", ClusterId: "c-1",
		CommitIndex: 9, AppliedIndex: 8, LastIndex: 10, LastContact: durationpb.New(2 * time.Second),
		Servers: []*pb.RaftServer{{Id: "n1", Address: "10.0.0.1:7950", Suffrage: "voter", Leader: true}},
	}}, nil
}

func (f *fakeAgent) Leave(context.Context, *pb.LeaveRequest) (*pb.LeaveResponse, error) {
	return &pb.LeaveResponse{Node: "n1"}, nil
}

func (f *fakeAgent) Get(_ context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	f.mu.Lock()
	f.lastGet = req
	f.mu.Unlock()
	if req.GetKey() != "a" {
		return nil, status.Errorf(codes.NotFound, "cluster: not found: key %q", req.GetKey())
	}
	return &pb.GetResponse{Entry: &pb.KVEntry{Key: "a", Value: []byte("v"), Version: 7, CreateIndex: 5}}, nil
}

func (f *fakeAgent) Put(_ context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	f.mu.Lock()
	f.lastPut = req
	f.mu.Unlock()
	if req.CasVersion != nil && req.GetCasVersion() != 7 {
		return nil, status.Error(codes.Aborted, "cluster: version mismatch")
	}
	return &pb.PutResponse{Entry: &pb.KVEntry{Key: req.GetKey(), Value: req.GetValue(), Version: 8, CreateIndex: 5}}, nil
}

func (f *fakeAgent) Delete(_ context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	f.mu.Lock()
	f.lastDel = req
	f.mu.Unlock()
	return &pb.DeleteResponse{}, nil
}

func (f *fakeAgent) List(_ context.Context, req *pb.ListRequest) (*pb.ListResponse, error) {
	f.mu.Lock()
	f.lastLst = req
	f.mu.Unlock()
	if req.GetMode() > pb.ReadMode_READ_MODE_CONSISTENT {
		return nil, status.Error(codes.InvalidArgument, "mode: unknown")
	}
	return &pb.ListResponse{Entries: []*pb.KVEntry{{Key: "p/1", Version: 1}, {Key: "p/2", Version: 2}}}, nil
}

func startAgent(t *testing.T) (*fakeAgent, *Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAgent{}
	srv := grpc.NewServer()
	pb.RegisterClusterServer(srv, f)
	pb.RegisterKVServer(srv, f)
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

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestClusterCalls(t *testing.T) {
	_, c := startAgent(t)
	members, err := c.Members(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := Member{
		Name: "n1", Addr: "10.0.0.1:7946", State: "alive", FailureDomain: "az1", Priority: 5,
		Eligible: true, RoleHint: "auto", RaftRole: "voter", InternodeAddr: "10.0.0.1:7950",
		APIAddr: "10.0.0.1:7940", HTTPAddr: "10.0.0.1:7941", Leader: true, ClusterID: "c-1",
	}
	if len(members) != 1 || members[0] != want {
		t.Fatalf("members = %+v, want %+v", members, want)
	}
	rs, err := c.RaftStatus(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if rs.Node != "n1" || rs.State != "leader" || rs.Term != 3 || rs.LeaderID != "n1" || rs.LeaderAddr != "10.0.0.1:7950" ||
		rs.ClusterID != "c-1" || rs.CommitIndex != 9 || rs.AppliedIndex != 8 || rs.LastIndex != 10 ||
		rs.LastContact != 2*time.Second || len(rs.Servers) != 1 ||
		rs.Servers[0] != (RaftServer{ID: "n1", Address: "10.0.0.1:7950", Suffrage: "voter", Leader: true}) {
		t.Fatalf("raft status = %+v", rs)
	}
	node, err := c.Leave(ctx(t))
	if err != nil || node != "n1" {
		t.Fatalf("leave = %q, %v", node, err)
	}
}

func TestKV(t *testing.T) {
	f, c := startAgent(t)
	kv := c.KV()

	e, err := kv.Get(ctx(t), "a", Consistent())
	if err != nil {
		t.Fatal(err)
	}
	if e.Key != "a" || string(e.Value) != "v" || e.Version != 7 || e.CreateIndex != 5 {
		t.Fatalf("get = %+v", e)
	}
	if f.lastGet.GetMode() != pb.ReadMode_READ_MODE_CONSISTENT {
		t.Fatalf("Consistent() sent mode %v", f.lastGet.GetMode())
	}
	_, err = kv.Get(ctx(t), "missing")
	if !IsNotFound(err) || IsUnavailable(err) || IsVersionMismatch(err) {
		t.Fatalf("get missing = %v, want only IsNotFound", err)
	}
	if f.lastGet.GetMode() != pb.ReadMode_READ_MODE_DEFAULT {
		t.Fatalf("no option sent mode %v", f.lastGet.GetMode())
	}

	if _, err := kv.Put(ctx(t), "k", []byte("x")); err != nil || f.lastPut.CasVersion != nil {
		t.Fatalf("put: %v, cas_version set: %v", err, f.lastPut.CasVersion != nil)
	}
	// CAS at version 0 must put the field on the wire (create-only-if-absent).
	_, err = kv.CompareAndSet(ctx(t), "k", []byte("x"), 0)
	if !IsVersionMismatch(err) || f.lastPut.CasVersion == nil || f.lastPut.GetCasVersion() != 0 {
		t.Fatalf("cas 0: err %v, sent %v", err, f.lastPut)
	}
	if e, err := kv.CompareAndSet(ctx(t), "k", []byte("x"), 7); err != nil || e.Version != 8 {
		t.Fatalf("cas 7 = %+v, %v", e, err)
	}

	if err := kv.Delete(ctx(t), "k"); err != nil || f.lastDel.CasVersion != nil {
		t.Fatalf("delete: %v, sent %v", err, f.lastDel)
	}
	if err := kv.Delete(ctx(t), "k", IfVersion(4)); err != nil || f.lastDel.GetCasVersion() != 4 || f.lastDel.CasVersion == nil {
		t.Fatalf("delete IfVersion: %v, sent %v", err, f.lastDel)
	}

	list, err := kv.List(ctx(t), "p/", Stale(), Limit(2))
	if err != nil || len(list) != 2 || list[1].Key != "p/2" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if f.lastLst.GetPrefix() != "p/" || f.lastLst.GetLimit() != 2 || f.lastLst.GetMode() != pb.ReadMode_READ_MODE_STALE {
		t.Fatalf("list sent %v", f.lastLst)
	}
	// An unknown mode goes out as is, for the server to reject.
	if _, err := kv.List(ctx(t), "", ReadMode(9)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("list with mode 9 = %v", err)
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Members(ctx(t)); !IsUnavailable(err) {
		t.Fatalf("members on a closed port = %v, want Unavailable", err)
	}
	if _, err := New(""); err == nil {
		t.Fatal("New(\"\") succeeded")
	}
}

func TestReadModeString(t *testing.T) {
	for m, want := range map[ReadMode]string{ReadDefault: "default", ReadStale: "stale", ReadConsistent: "consistent", 5: "ReadMode(5)"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(m), got, want)
		}
	}
}

// TestDependencies keeps the SDK light: applications embed it, so it must
// not pull in the agent (Raft, memberlist, our server packages). The one
// package of ours beside the generated code is internal/pki, a leaf on the
// standard library's crypto (WithTLSFiles).
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "hashicorp/raft") || strings.Contains(dep, "hashicorp/memberlist") {
			t.Errorf("api/client depends on %s", dep)
		}
		if strings.HasPrefix(dep, "github.com/conclave-dev/conclave/") && dep != "github.com/conclave-dev/conclave/api/conclavepb" &&
			dep != "github.com/conclave-dev/conclave/api/client" && dep != "github.com/conclave-dev/conclave/internal/pki" {
			t.Errorf("api/client imports %s; only api/conclavepb and internal/pki are allowed", dep)
		}
	}
}
