package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/conclave-dev/conclave/api"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// aclServer is the real API served over one node of a test cluster, with
// raw gRPC clients (the SDK is not under test here) and the registry the
// server counts its refusals on.
type aclServer struct {
	node *testcluster.Node
	reg  *prometheus.Registry
	base string // HTTP base URL

	kv      pb.KVClient
	lock    pb.LockClient
	names   pb.NamesClient
	groups  pb.GroupsClient
	cluster pb.ClusterClient
	keyring pb.KeyringClient
	ops     pb.OperatorClient
	session pb.SessionClient
	acl     pb.ACLClient
}

// newACLCluster starts n real nodes with acl.enabled as given and
// default_policy deny, waits for a leader and serves the API over every
// node until the test ends.
func newACLCluster(t *testing.T, n int, enabled bool) []*aclServer {
	t.Helper()
	tc := testcluster.New(t, n, testcluster.Options{Configure: func(_ int, cfg *config.Config) {
		cfg.ACL.Enabled = enabled
		cfg.ACL.DefaultPolicy = "deny"
	}})
	tc.WaitLeader(30 * time.Second)
	var out []*aclServer
	for _, node := range tc.Running() {
		out = append(out, serveACL(t, node))
	}
	return out
}

func serveACL(t *testing.T, n *testcluster.Node) *aclServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv, err := api.New(api.DefaultLocalConfig(), api.ServicesOf(n.Node), api.WithRegistry(reg))
	if err != nil {
		t.Fatalf("api.New for %s: %v", n.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve %s: %v", n.Name, err)
		}
	})
	return &aclServer{
		node: n, reg: reg, base: "http://" + srv.HTTPAddr().String(),
		kv: pb.NewKVClient(conn), lock: pb.NewLockClient(conn), names: pb.NewNamesClient(conn),
		groups: pb.NewGroupsClient(conn), cluster: pb.NewClusterClient(conn), keyring: pb.NewKeyringClient(conn),
		ops:     pb.NewOperatorClient(conn),
		session: pb.NewSessionClient(conn), acl: pb.NewACLClient(conn),
	}
}

// as is a context for one call made with secret ("" for none) in its
// authorization metadata.
func as(t *testing.T, secret string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	if secret == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

// bootstrap makes the management token through the ACL service, with no
// token, as an operator would.
func bootstrap(t *testing.T, s *aclServer) *pb.ACLTokenCreated {
	t.Helper()
	created, err := s.acl.Bootstrap(as(t, ""), &pb.ACLBootstrapRequest{})
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	if created.GetSecretId() == "" || created.GetToken().GetAccessorId() == "" {
		t.Fatalf("bootstrap returned %v", created)
	}
	return created
}

// rules turns "kv app/ read" lines into the proto's rules.
func rules(lines ...string) []*pb.ACLRule {
	var out []*pb.ACLRule
	for _, l := range lines {
		f := strings.Fields(l)
		out = append(out, &pb.ACLRule{Resource: f[0], Prefix: f[1], Access: f[2]})
	}
	return out
}

// grant creates the policy name with the rules given and a token that
// carries it (expiring after ttl, 0 for never), with the management
// secret mgmt; it returns the token's secret and accessor ID.
func grant(t *testing.T, s *aclServer, mgmt, name string, ttl time.Duration, lines ...string) (secret, accessor string) {
	t.Helper()
	if _, err := s.acl.PolicyCreate(as(t, mgmt), &pb.ACLPolicy{Name: name, Rules: rules(lines...)}); err != nil {
		t.Fatalf("create policy %s: %v", name, err)
	}
	req := &pb.ACLTokenCreateRequest{Description: name + " token", Policies: []string{name}}
	if ttl > 0 {
		req.Ttl = durationpb.New(ttl)
	}
	created, err := s.acl.TokenCreate(as(t, mgmt), req)
	if err != nil {
		t.Fatalf("create token for %s: %v", name, err)
	}
	return created.GetSecretId(), created.GetToken().GetAccessorId()
}

// openSession opens a session over a Session.Connect stream with secret
// and returns the stream and the session's pid. The stream lives until
// the test ends (or the caller cancels it).
func openSession(t *testing.T, s *aclServer, secret string) (pb.Session_ConnectClient, string) {
	t.Helper()
	st, err := s.session.Connect(as(t, secret))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	// A Send to a stream the server has ended fails io.EOF; Recv says why.
	if err := st.Send(&pb.SessionRequest{Kind: &pb.SessionRequest_Open{Open: &pb.SessionOpen{Ttl: durationpb.New(30 * time.Second)}}}); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("send open: %v", err)
	}
	msg, err := st.Recv()
	if err != nil {
		t.Fatalf("open session: %v", err)
	}
	pid := msg.GetOpened().GetPid()
	if pid == "" {
		t.Fatalf("first session message %v, want opened", msg)
	}
	t.Cleanup(func() { _ = st.CloseSend() })
	return st, pid
}

// streamEnd reads a session stream until it ends and returns the events
// it delivered first and the status it ended with.
func streamEnd(st pb.Session_ConnectClient) ([]*pb.SessionEvent, error) {
	var evs []*pb.SessionEvent
	for {
		msg, err := st.Recv()
		if err != nil {
			return evs, err
		}
		if ev := msg.GetEvent(); ev != nil {
			evs = append(evs, ev)
		}
	}
}

// codeNames reads the code names REST errors carry ("PermissionDenied").
var codeNames = func() map[string]codes.Code {
	m := map[string]codes.Code{}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		m[c.String()] = c
	}
	return m
}()

// restCall makes one HTTP request with the headers given and returns the
// HTTP status and, for an error, the gRPC code and message of its JSON
// body (OK and "" for a success).
func restCall(t *testing.T, method, url string, header map[string]string) (int, codes.Code, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(as(t, ""), method, url, strings.NewReader("v"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 {
		return resp.StatusCode, codes.OK, ""
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s %s: status %d, body %q: %v", method, url, resp.StatusCode, body, err)
	}
	code, ok := codeNames[e.Error.Code]
	if !ok {
		t.Fatalf("%s %s: status %d, unknown code in %q", method, url, resp.StatusCode, body)
	}
	return resp.StatusCode, code, e.Error.Message
}

// bearer is the HTTP header that carries secret ("" for none).
func bearer(secret string) map[string]string {
	if secret == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + secret}
}

// codeAndMessage splits a gRPC error.
func codeAndMessage(err error) (codes.Code, string) {
	st := status.Convert(err)
	return st.Code(), st.Message()
}

// isACLCode reports whether c is one of the codes ACLs refuse with.
func isACLCode(c codes.Code) bool { return c == codes.PermissionDenied || c == codes.Unauthenticated }

// deniedCount is conclave_acl_denied_total{resource=res} on reg.
func deniedCount(t *testing.T, reg *prometheus.Registry, res string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "conclave_acl_denied_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "resource" && l.GetValue() == res {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
