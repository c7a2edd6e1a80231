package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/conclave-dev/conclave/api"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// serveACLRegistry serves a one-node cluster with ACLs on (default deny)
// and its registry, and returns the ACL helpers' server and a Registry
// client.
func serveACLRegistry(t *testing.T) (*aclServer, pb.RegistryClient) {
	t.Helper()
	tc := testcluster.New(t, 1, testcluster.Options{Configure: func(_ int, cfg *config.Config) {
		cfg.ACL.Enabled, cfg.ACL.DefaultPolicy = true, "deny"
	}})
	n := tc.WaitLeader(30 * time.Second)
	svcs := api.ServicesOf(n.Node)
	srv, err := api.New(api.DefaultLocalConfig(), svcs)
	if err != nil {
		t.Fatal(err)
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
		<-done
	})
	s := &aclServer{node: n, base: "http://" + srv.HTTPAddr().String(), session: pb.NewSessionClient(conn), acl: pb.NewACLClient(conn)}
	return s, pb.NewRegistryClient(conn)
}

// TestRegistryACL: reads need service read on the name (listings keep
// what the token may read), writes service write, and a session acting
// as itself needs its own token to allow the write too.
func TestRegistryACL(t *testing.T) {
	s, rc := serveACLRegistry(t)
	mgmt := bootstrap(t, s).GetSecretId()
	reader, _ := grant(t, s, mgmt, "api-reader", 0, "service api read")
	writer, _ := grant(t, s, mgmt, "api-writer", 0, "service api write")

	_, mgmtPID := openSession(t, s, mgmt)
	for _, svc := range []string{"api", "db"} {
		if _, err := rc.Register(as(t, mgmt), &pb.RegistryRegisterRequest{Pid: mgmtPID, Registration: &pb.ServiceRegistration{
			Service: svc, Id: "m", Endpoint: "127.0.0.1:1"}}); err != nil {
			t.Fatalf("management registers %s: %v", svc, err)
		}
	}

	// Listings without a service keep what the token may read.
	list, err := rc.List(as(t, reader), &pb.RegistryListRequest{})
	if err != nil || len(list.GetInstances()) != 1 || list.GetInstances()[0].GetService() != "api" {
		t.Fatalf("reader lists everything = %v, %v; want api's instance only", list, err)
	}
	sums, err := rc.Services(as(t, reader), &pb.RegistryServicesRequest{})
	if err != nil || len(sums.GetServices()) != 1 || sums.GetServices()[0].GetName() != "api" {
		t.Fatalf("reader's services = %v, %v", sums, err)
	}
	stream, err := rc.Watch(as(t, reader), &pb.RegistryWatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := stream.Recv(); err != nil || len(first.GetInstances()) != 1 || first.GetInstances()[0].GetService() != "api" {
		t.Fatalf("reader's watch of everything = %v, %v", first, err)
	}

	// Naming a service needs read on it.
	denied := map[string]func(secret string) error{
		"List db": func(secret string) error {
			_, err := rc.List(as(t, secret), &pb.RegistryListRequest{Filter: &pb.ServiceFilter{Service: "db"}})
			return err
		},
		"Watch db": func(secret string) error {
			st, err := rc.Watch(as(t, secret), &pb.RegistryWatchRequest{Filter: &pb.ServiceFilter{Service: "db"}})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		},
		"Deregister api": func(secret string) error {
			_, err := rc.Deregister(as(t, secret), &pb.RegistryDeregisterRequest{Service: "api", Id: "m"})
			return err
		},
	}
	for name, call := range denied {
		if c, msg := codeAndMessage(call(reader)); c != codes.PermissionDenied {
			t.Errorf("reader %s = %v %q, want PermissionDenied", name, c, msg)
		}
		if c, _ := codeAndMessage(call("")); c != codes.Unauthenticated {
			t.Errorf("anonymous %s = %v, want Unauthenticated", name, c)
		}
	}
	if _, err := rc.List(as(t, reader), &pb.RegistryListRequest{Filter: &pb.ServiceFilter{Service: "api"}}); err != nil {
		t.Errorf("reader lists api: %v", err)
	}

	// Writes: the writer may register api from its own session, not db,
	// and not through a session whose token may only read.
	_, writerPID := openSession(t, s, writer)
	_, readerPID := openSession(t, s, reader)
	register := func(secret, pid, svc string) error {
		_, err := rc.Register(as(t, secret), &pb.RegistryRegisterRequest{Pid: pid, Registration: &pb.ServiceRegistration{
			Service: svc, Id: "w", Endpoint: "127.0.0.1:2"}})
		return err
	}
	if err := register(writer, writerPID, "api"); err != nil {
		t.Fatalf("writer registers api: %v", err)
	}
	if c, msg := codeAndMessage(register(writer, writerPID, "db")); c != codes.PermissionDenied {
		t.Errorf("writer registers db = %v %q, want PermissionDenied", c, msg)
	}
	if c, msg := codeAndMessage(register(reader, readerPID, "api")); c != codes.PermissionDenied {
		t.Errorf("reader registers api = %v %q, want PermissionDenied", c, msg)
	}
	if c, msg := codeAndMessage(register(writer, readerPID, "api")); c != codes.PermissionDenied {
		t.Errorf("writer registers api for the reader's session = %v %q, want PermissionDenied (the session's token)", c, msg)
	}
	_, err = rc.UpdateTTL(as(t, reader), &pb.RegistryUpdateTTLRequest{Pid: readerPID, Service: "api", Id: "w",
		Health: pb.Health_HEALTH_PASSING})
	if c, msg := codeAndMessage(err); c != codes.PermissionDenied {
		t.Errorf("reader's UpdateTTL = %v %q, want PermissionDenied", c, msg)
	}

	// REST: the same rules.
	var out struct {
		Services []struct{ Name string } `json:"services"`
	}
	req, _ := http.NewRequest("GET", s.base+"/v1/services", nil)
	req.Header.Set("Authorization", "Bearer "+reader)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err := json.Unmarshal(body, &out); resp.StatusCode != 200 || err != nil || len(out.Services) != 1 || out.Services[0].Name != "api" {
		t.Fatalf("GET /v1/services as reader: %d %s", resp.StatusCode, body)
	}
	for path, want := range map[string]int{
		"/v1/services/api":                200,
		"/v1/services/db":                 http.StatusForbidden,
		"/v1/sd/prometheus?service=api":   200,
		"/v1/sd/prometheus?service=db":    http.StatusForbidden,
		"/v1/services/api?passing=1":      200,
		"/v1/services/db?index=1&wait=1s": http.StatusForbidden,
	} {
		if code, c, msg := restCall(t, "GET", s.base+path, bearer(reader)); code != want {
			t.Errorf("GET %s as reader: %d %v %q, want %d", path, code, c, msg, want)
		}
	}
	if code, c, _ := restCall(t, "GET", s.base+"/v1/services", nil); code != http.StatusUnauthorized || c != codes.Unauthenticated {
		t.Errorf("GET /v1/services without a token: %d %v", code, c)
	}
}
