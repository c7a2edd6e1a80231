package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// served is a Server running on ephemeral ports with a client connection.
type served struct {
	srv  *Server
	conn *grpc.ClientConn
	stop func() error // ends Serve gracefully and returns its result
}

func startServer(t *testing.T, svcs Services, opts ...Option) *served {
	t.Helper()
	return startServerWith(t, DefaultLocalConfig(), svcs, opts...)
}

// startServerWith is startServer with a config of the test's own; conn is
// a plain-text connection, of no use against a TLS server.
func startServerWith(t *testing.T, cfg Config, svcs Services, opts ...Option) *served {
	t.Helper()
	srv, err := New(cfg, svcs, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	var stopped bool
	var result error
	s := &served{srv: srv, conn: conn}
	s.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after its ctx ended")
			}
		}
		return result
	}
	t.Cleanup(func() {
		_ = conn.Close()
		if err := s.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func TestServeStopsGracefullyAndReleasesPorts(t *testing.T) {
	s := startServer(t, newFakeNode("n1").services())
	grpcAddr, httpAddr := s.srv.GRPCAddr().String(), s.srv.HTTPAddr().String()
	if err := s.stop(); err != nil {
		t.Fatalf("Serve returned %v after ctx ended, want nil", err)
	}
	for _, addr := range []string{grpcAddr, httpAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("port %s still bound after Serve returned: %v", addr, err)
		}
		_ = ln.Close()
	}
	if err := s.srv.Serve(context.Background()); !errors.Is(err, ErrServing) {
		t.Fatalf("second Serve = %v, want ErrServing", err)
	}
}

func TestCloseBeforeServe(t *testing.T) {
	srv, err := New(DefaultLocalConfig(), newFakeNode("n1").services())
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.GRPCAddr().String()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve after Close = %v, want ErrClosed", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("Close left %s bound: %v", addr, err)
	}
	_ = ln.Close()
}

func TestCloseEndsServe(t *testing.T) {
	srv, err := New(DefaultLocalConfig(), newFakeNode("n1").services())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	// Close may land before or after Serve started its servers; both must
	// end Serve.
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("Serve after Close = %v, want nil or ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
}

func TestNewFailsOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcAddr := free.Addr().String()
	_ = free.Close()

	cfg := DefaultLocalConfig()
	cfg.GRPCAddr = grpcAddr
	cfg.HTTPAddr = ln.Addr().String()
	_, err = New(cfg, newFakeNode("n1").services())
	if err == nil || !strings.Contains(err.Error(), "http_addr") {
		t.Fatalf("New = %v, want an error naming http_addr", err)
	}
	// The gRPC listener, bound first, must have been released.
	again, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		t.Fatalf("failed New left grpc port %s bound: %v", grpcAddr, err)
	}
	_ = again.Close()
}

// TestWithListeners: New serves listeners the caller bound instead of
// binding the configured addresses, owns them (Close releases them), and
// closes them when it fails, so a caller never leaks a bound port.
func TestWithListeners(t *testing.T) {
	bind := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		return ln
	}
	closed := func(what string, ln net.Listener) {
		t.Helper()
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("%s: Accept = %v, want net.ErrClosed (listener released)", what, err)
		}
	}

	g, h := bind(), bind()
	cfg := DefaultLocalConfig()
	cfg.GRPCAddr, cfg.HTTPAddr = g.Addr().String(), h.Addr().String()
	s := startServerWith(t, cfg, newFakeNode("n1").services(), WithListeners(g, h))
	if s.srv.GRPCAddr().String() != g.Addr().String() || s.srv.HTTPAddr().String() != h.Addr().String() {
		t.Fatalf("serving on %s and %s, want the given %s and %s", s.srv.GRPCAddr(), s.srv.HTTPAddr(), g.Addr(), h.Addr())
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + h.Addr().String() + "/v1/health/live")
	if err != nil {
		t.Fatalf("GET on the given HTTP listener: %v", err)
	}
	_ = resp.Body.Close()
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	closed("grpc after stop", g)
	closed("http after stop", h)

	g, h = bind(), bind()
	if _, err := New(cfg, Services{}, WithListeners(g, h)); !errors.Is(err, errNoCluster) {
		t.Fatalf("New without a cluster = %v, want errNoCluster", err)
	}
	closed("grpc after a failed New", g)
	closed("http after a failed New", h)

	g = bind()
	if _, err := New(cfg, newFakeNode("n1").services(), WithListeners(g, nil)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New with one listener = %v, want ErrInvalidConfig", err)
	}
	closed("grpc after WithListeners without http", g)
}

func TestNewRejectsBadConfig(t *testing.T) {
	cfg := DefaultLocalConfig()
	cfg.GRPCAddr = "nonsense"
	if _, err := New(cfg, newFakeNode("n1").services()); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New = %v, want ErrInvalidConfig", err)
	}
}

func TestTwoServersShareRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	startServer(t, newFakeNode("n1").services(), WithRegistry(reg))
	startServer(t, newFakeNode("n2").services(), WithRegistry(reg))
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		mutate func(*Config)
		field  string // "" = valid
	}{
		"default":              {mutate: func(*Config) {}},
		"empty grpc addr":      {mutate: func(c *Config) { c.GRPCAddr = "" }, field: "grpc_addr"},
		"grpc addr no port":    {mutate: func(c *Config) { c.GRPCAddr = "127.0.0.1" }, field: "grpc_addr"},
		"http addr bad port":   {mutate: func(c *Config) { c.HTTPAddr = "127.0.0.1:99999" }, field: "http_addr"},
		"zero message size":    {mutate: func(c *Config) { c.MaxRecvMsgBytes = 0 }, field: "max_recv_msg_bytes"},
		"zero shutdown":        {mutate: func(c *Config) { c.ShutdownTimeout = 0 }, field: "shutdown_timeout"},
		"zero header deadline": {mutate: func(c *Config) { c.ReadHeaderTimeout = 0 }, field: "read_header_timeout"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
}

func TestNewRequiresCluster(t *testing.T) {
	svcs := newFakeNode("n1").services()
	svcs.Cluster = nil
	if _, err := New(DefaultLocalConfig(), svcs); !errors.Is(err, errNoCluster) {
		t.Fatalf("New = %v, want errNoCluster", err)
	}
}

// TestNilServiceIsNotServed serves the Cluster service alone: every other
// service's calls fail Unimplemented and its REST endpoints NotFound,
// while the cluster's own endpoints still answer.
func TestNilServiceIsNotServed(t *testing.T) {
	s := startServer(t, Services{Cluster: newFakeNode("n1")})
	ctx := testCtx(t)
	calls := map[string]func() error{
		"KV.Get": func() error {
			_, err := pb.NewKVClient(s.conn).Get(ctx, &pb.GetRequest{Key: "a"})
			return err
		},
		"Lock.List": func() error {
			_, err := pb.NewLockClient(s.conn).List(ctx, &pb.LockListRequest{})
			return err
		},
		"Session.Connect": func() error {
			stream, err := pb.NewSessionClient(s.conn).Connect(ctx)
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		},
		"Names.Lookup": func() error {
			_, err := pb.NewNamesClient(s.conn).Lookup(ctx, &pb.NameLookupRequest{Name: "a"})
			return err
		},
		"Groups.Groups": func() error {
			_, err := pb.NewGroupsClient(s.conn).Groups(ctx, &pb.GroupsRequest{})
			return err
		},
		"Registry.List": func() error {
			_, err := pb.NewRegistryClient(s.conn).List(ctx, &pb.RegistryListRequest{})
			return err
		},
		"Keyring.List": func() error {
			_, err := pb.NewKeyringClient(s.conn).List(ctx, &pb.KeyringListRequest{})
			return err
		},
		"Cluster.Admit": func() error {
			_, err := pb.NewClusterClient(s.conn).Admit(ctx, &pb.AdmitRequest{Node: "n2"})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); status.Code(err) != codes.Unimplemented {
			t.Errorf("%s = %v, want Unimplemented", name, err)
		}
	}
	if _, err := pb.NewClusterClient(s.conn).RaftStatus(ctx, &pb.RaftStatusRequest{}); err != nil {
		t.Errorf("Cluster.RaftStatus: %v", err)
	}
	base := "http://" + s.srv.HTTPAddr().String()
	for _, p := range []string{"/v1/kv", "/v1/kv/a", "/v1/locks", "/v1/names", "/v1/groups", "/v1/services", "/v1/services/a", "/v1/sd/prometheus?service=a"} {
		if resp, body := httpGet(t, base+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %s, want 404", p, resp.StatusCode, body)
		}
	}
	for _, p := range []string{"/v1/members", "/v1/raft", "/v1/health/live"} {
		if resp, body := httpGet(t, base+p); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s, want 200", p, resp.StatusCode, body)
		}
	}
}
