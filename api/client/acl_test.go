package client

import (
	"context"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// aclAgent is a small ACL + KV + Session server that records the
// authorization metadata of every unary call and stream it is sent, by
// method, through interceptors (as the real agent reads it).
type aclAgent struct {
	pb.UnimplementedACLServer
	pb.UnimplementedKVServer
	pb.UnimplementedSessionServer

	mu       sync.Mutex
	auth     map[string][]string // full method -> authorization values
	lastPol  *pb.ACLPolicy
	lastTok  *pb.ACLTokenCreateRequest
	lastBoot *pb.ACLBootstrapRequest
	lastAcc  string
}

func (f *aclAgent) record(ctx context.Context, method string) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth[method] = md.Get("authorization")
}

func (f *aclAgent) seen(method string) ([]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.auth[method]
	return v, ok
}

func (f *aclAgent) Bootstrap(_ context.Context, req *pb.ACLBootstrapRequest) (*pb.ACLTokenCreated, error) {
	f.mu.Lock()
	f.lastBoot = req
	f.mu.Unlock()
	if req.GetResetIndex() == 0 {
		return nil, status.Error(codes.FailedPrecondition, "acl: already bootstrapped at index 12")
	}
	return &pb.ACLTokenCreated{Token: &pb.ACLToken{AccessorId: "acc-1", Policies: []string{"global-management"}, CreateIndex: 30}, SecretId: "sec-1"}, nil
}

func (f *aclAgent) PolicyCreate(_ context.Context, p *pb.ACLPolicy) (*pb.ACLPolicy, error) {
	f.mu.Lock()
	f.lastPol = p
	f.mu.Unlock()
	out := &pb.ACLPolicy{Name: p.GetName(), Description: p.GetDescription(), Rules: p.GetRules(), CreateIndex: 40, ModifyIndex: 40}
	return out, nil
}

func (f *aclAgent) PolicyUpdate(_ context.Context, p *pb.ACLPolicy) (*pb.ACLPolicy, error) {
	return nil, status.Errorf(codes.NotFound, "acl: policy %q not found", p.GetName())
}

func (f *aclAgent) PolicyRead(_ context.Context, req *pb.ACLPolicyRequest) (*pb.ACLPolicy, error) {
	return &pb.ACLPolicy{Name: req.GetName(), Rules: []*pb.ACLRule{{Resource: "kv", Prefix: "*", Access: "read"}}}, nil
}

func (f *aclAgent) PolicyList(context.Context, *pb.ACLListRequest) (*pb.ACLPolicies, error) {
	return &pb.ACLPolicies{Policies: []*pb.ACLPolicy{{Name: "global-management"}, {Name: "jobs"}}}, nil
}

func (f *aclAgent) PolicyDelete(_ context.Context, req *pb.ACLPolicyRequest) (*pb.ACLDeleted, error) {
	return nil, status.Errorf(codes.PermissionDenied, "permission denied: acl %q needs write access", req.GetName())
}

func (f *aclAgent) TokenCreate(_ context.Context, req *pb.ACLTokenCreateRequest) (*pb.ACLTokenCreated, error) {
	f.mu.Lock()
	f.lastTok = req
	f.mu.Unlock()
	t := &pb.ACLToken{AccessorId: "acc-2", Description: req.GetDescription(), Policies: req.GetPolicies()}
	if req.GetTtl() != nil {
		t.ExpiresAt = timestamppb.New(time.Unix(1000, 0).Add(req.GetTtl().AsDuration()))
	}
	return &pb.ACLTokenCreated{Token: t, SecretId: "sec-2"}, nil
}

func (f *aclAgent) TokenRead(_ context.Context, req *pb.ACLTokenRequest) (*pb.ACLToken, error) {
	return &pb.ACLToken{AccessorId: req.GetAccessorId(), Policies: []string{"jobs"}}, nil
}

func (f *aclAgent) TokenList(context.Context, *pb.ACLListRequest) (*pb.ACLTokens, error) {
	return &pb.ACLTokens{Tokens: []*pb.ACLToken{{AccessorId: "acc-1"}, {AccessorId: "acc-2", ExpiresAt: timestamppb.New(time.Unix(2000, 0))}}}, nil
}

func (f *aclAgent) TokenDelete(_ context.Context, req *pb.ACLTokenRequest) (*pb.ACLDeleted, error) {
	f.mu.Lock()
	f.lastAcc = req.GetAccessorId()
	f.mu.Unlock()
	return &pb.ACLDeleted{}, nil
}

func (f *aclAgent) Whoami(ctx context.Context, _ *pb.ACLWhoamiRequest) (*pb.ACLToken, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get("authorization")) == 0 {
		return nil, status.Error(codes.Unauthenticated, "acl: no token")
	}
	return &pb.ACLToken{AccessorId: "acc-1", Description: "me"}, nil
}

func (f *aclAgent) Get(_ context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	return &pb.GetResponse{Entry: &pb.KVEntry{Key: req.GetKey(), Version: 1}}, nil
}

// Connect opens a session and keeps it until the client goes away.
func (f *aclAgent) Connect(stream pb.Session_ConnectServer) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	if err := stream.Send(&pb.SessionResponse{Kind: &pb.SessionResponse_Opened{Opened: &pb.SessionOpened{Pid: "n1/0001", Ttl: durationpb.New(10 * time.Second)}}}); err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			return nil
		}
	}
}

// startACLAgent serves an aclAgent and returns a Client for it made with
// opts.
func startACLAgent(t *testing.T, opts ...Option) (*aclAgent, *Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &aclAgent{auth: map[string][]string{}}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			f.record(ctx, info.FullMethod)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			f.record(ss.Context(), info.FullMethod)
			return h(srv, ss)
		}),
	)
	pb.RegisterACLServer(srv, f)
	pb.RegisterKVServer(srv, f)
	pb.RegisterSessionServer(srv, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	c, err := New(ln.Addr().String(), opts...)
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

// TestWithTokenSendsMetadata: the secret reaches the agent as
// "authorization: Bearer <secret>" on a unary call and on a stream, over
// a plain-text connection; without the option nothing is sent.
func TestWithTokenSendsMetadata(t *testing.T) {
	f, c := startACLAgent(t, WithToken("s3cret-id"))
	if _, err := c.KV().Get(ctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	s, err := c.Session(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	for _, m := range []string{"/conclave.v1.KV/Get", "/conclave.v1.Session/Connect"} {
		if got, _ := f.seen(m); !reflect.DeepEqual(got, []string{"Bearer s3cret-id"}) {
			t.Errorf("%s: authorization = %q, want exactly [\"Bearer s3cret-id\"]", m, got)
		}
	}

	for _, opts := range [][]Option{nil, {WithToken("")}} {
		f, c := startACLAgent(t, opts...)
		if _, err := c.KV().Get(ctx(t), "k"); err != nil {
			t.Fatal(err)
		}
		s, err := c.Session(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		for _, m := range []string{"/conclave.v1.KV/Get", "/conclave.v1.Session/Connect"} {
			got, ok := f.seen(m)
			if !ok || len(got) != 0 {
				t.Errorf("no token (%d options): %s: called %v, authorization = %q, want none", len(opts), m, ok, got)
			}
		}
		if _, err := c.ACL().Whoami(ctx(t)); !IsUnauthenticated(err) || IsPermissionDenied(err) {
			t.Errorf("whoami without a token = %v, want only IsUnauthenticated", err)
		}
	}
}

func TestWithTokenRefusesUnsendableSecret(t *testing.T) {
	for _, bad := range []string{"a b", "tab\there", "new\nline", "é"} {
		if _, err := New("127.0.0.1:1", WithToken(bad)); err == nil || !strings.Contains(err.Error(), "client: token: byte") {
			t.Errorf("WithToken(%q): New = %v, want an error naming the token's bad byte", bad, err)
		}
	}
}

func TestACLCalls(t *testing.T) {
	f, c := startACLAgent(t, WithToken("mgmt"))
	a := c.ACL()

	_, err := a.Bootstrap(ctx(t), 0)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "index 12") {
		t.Fatalf("second bootstrap = %v", err)
	}
	tok, err := a.Bootstrap(ctx(t), 12)
	if err != nil || f.lastBoot.GetResetIndex() != 12 {
		t.Fatalf("bootstrap reset: %v, sent %v", err, f.lastBoot)
	}
	if tok.AccessorID != "acc-1" || tok.SecretID != "sec-1" || !reflect.DeepEqual(tok.Policies, []string{"global-management"}) ||
		tok.CreateIndex != 30 || !tok.ExpiresAt.IsZero() {
		t.Fatalf("bootstrap = %+v", tok)
	}

	in := ACLPolicy{Name: "jobs", Description: "the job runner", CreateIndex: 99,
		Rules: []ACLRule{{"lock", "jobs/", "write"}, {"name", "svc/billing", "write"}}}
	p, err := a.PolicyCreate(ctx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "jobs" || p.Description != "the job runner" || !reflect.DeepEqual(p.Rules, in.Rules) || p.CreateIndex != 40 || p.ModifyIndex != 40 {
		t.Fatalf("policy create = %+v", p)
	}
	if f.lastPol.GetCreateIndex() != 0 || len(f.lastPol.GetRules()) != 2 || f.lastPol.GetRules()[1].GetPrefix() != "svc/billing" {
		t.Fatalf("policy create sent %v", f.lastPol)
	}
	if _, err := a.PolicyUpdate(ctx(t), ACLPolicy{Name: "nope"}); !IsNotFound(err) {
		t.Fatalf("update of a missing policy = %v", err)
	}
	if p, err := a.PolicyRead(ctx(t), "dash"); err != nil || p.Name != "dash" || p.Rules[0] != (ACLRule{"kv", "*", "read"}) {
		t.Fatalf("policy read = %+v, %v", p, err)
	}
	if ps, err := a.PolicyList(ctx(t)); err != nil || len(ps) != 2 || ps[1].Name != "jobs" {
		t.Fatalf("policy list = %+v, %v", ps, err)
	}
	if err := a.PolicyDelete(ctx(t), "jobs"); !IsPermissionDenied(err) || IsUnauthenticated(err) {
		t.Fatalf("policy delete = %v, want only IsPermissionDenied", err)
	}

	tok, err = a.TokenCreate(ctx(t), "nightly", []string{"jobs"}, time.Hour)
	if err != nil || f.lastTok.GetTtl().AsDuration() != time.Hour || f.lastTok.GetDescription() != "nightly" {
		t.Fatalf("token create: %v, sent %v", err, f.lastTok)
	}
	if tok.SecretID != "sec-2" || tok.AccessorID != "acc-2" || !tok.ExpiresAt.Equal(time.Unix(1000, 0).Add(time.Hour)) {
		t.Fatalf("token create = %+v", tok)
	}
	if _, err := a.TokenCreate(ctx(t), "", []string{"jobs"}, 0); err != nil || f.lastTok.Ttl != nil {
		t.Fatalf("token create without ttl: %v, sent ttl %v", err, f.lastTok.Ttl)
	}
	if tk, err := a.TokenRead(ctx(t), "acc-9"); err != nil || tk.AccessorID != "acc-9" || tk.Policies[0] != "jobs" {
		t.Fatalf("token read = %+v, %v", tk, err)
	}
	if ts, err := a.TokenList(ctx(t)); err != nil || len(ts) != 2 || !ts[0].ExpiresAt.IsZero() || !ts[1].ExpiresAt.Equal(time.Unix(2000, 0)) {
		t.Fatalf("token list = %+v, %v", ts, err)
	}
	if err := a.TokenDelete(ctx(t), "acc-2"); err != nil || f.lastAcc != "acc-2" {
		t.Fatalf("token delete: %v, sent %q", err, f.lastAcc)
	}
	if me, err := a.Whoami(ctx(t)); err != nil || me.AccessorID != "acc-1" || me.Description != "me" {
		t.Fatalf("whoami = %+v, %v", me, err)
	}
	if got, _ := f.seen("/conclave.v1.ACL/TokenDelete"); !reflect.DeepEqual(got, []string{"Bearer mgmt"}) {
		t.Fatalf("token delete carried authorization %q", got)
	}
}
